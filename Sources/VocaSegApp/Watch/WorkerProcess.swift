import Foundation
import VocaSegCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One running watch worker (`vocaseg watch-job`), started with `posix_spawn` rather than `Process` because the
/// watcher needs what `Process` does not offer: its own process group (a Ctrl-C in the terminal reaches only the
/// watcher, which forwards one SIGTERM), SIGINT/SIGTERM back at their default actions (the watcher ignores them
/// in favour of dispatch sources, and ignored signals survive `exec`), and a lifeline pipe on stdin.
public final class WorkerProcess: @unchecked Sendable {
    public enum Termination: Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    public let pid: pid_t
    private let stderrFD: Int32
    /// The write end of the worker's stdin, never written: the worker exits when it closes, i.e. when the watcher
    /// dies (see `WatchWorker.exitWithWatcher`). Closed once the worker has been reaped.
    private let lifelineFD: Int32

    private init(pid: pid_t, stderrFD: Int32, lifelineFD: Int32) {
        self.pid = pid
        self.stderrFD = stderrFD
        self.lifelineFD = lifelineFD
    }

    /// The executable of this process, so that the watcher starts workers of exactly its own build.
    public static var currentExecutable: String {
        #if os(Linux)
        // The link still runs the right binary if the file was replaced (a rebuild) while the watcher runs.
        return "/proc/self/exe"
        #else
        return Bundle.main.executablePath ?? CommandLine.arguments[0]
        #endif
    }

    /// Held from creating a worker's pipes until it is spawned: with --jobs N another worker spawned in between
    /// would inherit them (close-on-exec is set a moment after `pipe`), and this worker's stderr would not reach
    /// end-of-file until that other one exits.
    private static let spawnLock = NSLock()

    public static func spawn(executable: String, arguments: [String]) throws -> WorkerProcess {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        let errPipe = try cloexecPipe(for: executable)
        let lifeline: (read: Int32, write: Int32)
        do { lifeline = try cloexecPipe(for: executable) } catch { close(errPipe.read); close(errPipe.write); throw error }
        defer {
            // The worker has its own copies (or never started); the watcher keeps only its ends.
            close(errPipe.write)
            close(lifeline.read)
        }

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, lifeline.read, 0)
        posix_spawn_file_actions_adddup2(&actions, errPipe.write, 2)
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF
                                                         | POSIX_SPAWN_SETSIGMASK))

        let argv = ([CommandLine.arguments.first ?? executable] + arguments).map { strdup($0) } + [nil]
        let envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            close(errPipe.read)
            close(lifeline.write)
            throw VocaSegError(.internal, "cannot start a watch worker: \(String(cString: strerror(rc)))",
                               path: executable)
        }
        return WorkerProcess(pid: pid, stderrFD: errPipe.read, lifelineFD: lifeline.write)
    }

    private static func cloexecPipe(for executable: String) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = pipe(&fds)
        if rc == 0 { for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) } }
        guard rc == 0 else {
            throw VocaSegError(.internal, "cannot create a pipe for a watch worker: \(String(cString: strerror(errno)))",
                               path: executable)
        }
        return (fds[0], fds[1])
    }

    public func signal(_ sig: Int32) { kill(pid, sig) }

    /// Reads the worker's stderr to its end, handing over each line, then reaps the worker.
    func readStderr(_ line: (String) -> Void) {
        var pending = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(stderrFD, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending.append(contentsOf: buffer[0..<n])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                line(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
        }
        if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
        close(stderrFD)
    }

    /// Waits for the worker to end (after `readStderr`, whose end-of-file says it is ending).
    func wait() -> Termination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        close(lifelineFD)
        // The wait-status layout shared by Linux and the BSDs (Swift does not import the W* macros).
        let low = status & 0x7f
        if low == 0 { return .exited((status >> 8) & 0xff) }
        return .signalled(low)
    }

    /// Runs one job's worker to its end: spawns it, hands it to `started` (to be signalled on a stop), relays its
    /// stderr with each line prefixed by `tag`, and waits for it; `ended` runs before the process is reaped, so
    /// that nobody signals a reused process id. Returns how it ended and its error line: the line it wrote with
    /// `WatchWorker.errorPrefix`, else its last line before any crash report.
    public static func runJob(executable: String, arguments: [String], tag: String,
                              started: (WorkerProcess) -> Void, ended: () -> Void) throws -> (Termination, String?) {
        let worker = try spawn(executable: executable, arguments: arguments)
        started(worker)
        var errorLine: String?, lastLine: String?, crashReport = false
        worker.readStderr { line in
            if line.hasPrefix(WatchWorker.errorPrefix) {
                // Logged by the caller with the job's state; not relayed twice.
                errorLine = String(line.dropFirst(WatchWorker.errorPrefix.count))
                return
            }
            // The Swift runtime's crash report ("*** Signal 6: Backtracing …", threads, registers) is relayed for
            // the log, but the line that explains a crash ("Fatal error: …", "free(): invalid pointer") comes
            // before it.
            if line.hasPrefix("*** ") { crashReport = true }
            if !crashReport && !line.trimmingCharacters(in: .whitespaces).isEmpty { lastLine = line }
            StandardError.write("\(tag): \(line)\n")
        }
        ended()
        return (worker.wait(), errorLine ?? lastLine)
    }

    /// "SIGABRT" for 6, and so on; the number alone for the rare others.
    public static func signalName(_ sig: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
            SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ", SIGSYS: "SIGSYS",
        ]
        return names[sig] ?? "signal \(sig)"
    }
}
