import ArgumentParser
import CCPUFeatures
import Foundation
import Logging
import VocaSegApp
import VocaSegCore

/// Exit codes: 0 ok, 1 internal error (or a CPU without AVX2/FMA), 2 usage, 3 unreadable or corrupt input,
/// 4 model or weights problem, 5 write error (disk full, I/O error), 130 interrupted.
@main
struct Vocaseg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocaseg",
        abstract: "Open-vocabulary segmentation of videos and images on the CPU.",
        discussion: """
            Exit codes: 0 ok, 1 internal error, 2 usage, 3 unreadable or corrupt input, \
            4 model or weights problem, 5 write error (disk full, I/O error), 130 interrupted.
            """,
        version: VocaSegVersion.string,
        subcommands: [Segment.self, Watch.self, Worker.self, Jobs.self, Bench.self, Inspect.self, WatchJob.self],
        defaultSubcommand: Segment.self
    )

    static func main() {
        // The tensor kernels are compiled for x86-64-v3; on an older CPU they would die of SIGILL mid-run.
        guard vs_cpu_supports_avx2_fma() != 0 else {
            StandardError.write("vocaseg: this CPU lacks AVX2 and FMA, which vocaseg's kernels need "
                                + "(x86-64-v3: Intel Haswell, AMD Excavator/Zen or newer)\n")
            Foundation.exit(1)
        }
        keepLargeBuffersInTheHeap()
        // `-o - | ffplay -`: when the reader goes away, a write fails with EPIPE (an I/O error that names standard
        // output, exit 5, other outputs cleaned up) instead of SIGPIPE killing the process mid-write.
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as VocaSegError {
            StandardError.write("vocaseg: \(error.description)\n")
            Foundation.exit(error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version
            }
            let message = fullMessage(for: error)
            if code == .validationFailure {
                // ArgumentParser's own usage errors (EX_USAGE 64) become our usage code 2.
                StandardError.write("\(message)\n")
                Foundation.exit(2)
            }
            StandardError.write("vocaseg: \(message)\n")
            Foundation.exit(code == .failure ? 1 : code.rawValue)
        }
    }
}

/// Logging to stderr; `-q` keeps errors only, `-v` adds progress details. Notices (one line each, about the
/// settings or the vocabulary: a K above the vocabulary size, a vocabulary file naming two classes alike) show by
/// default; `notices: false` leaves warnings and errors only.
func bootstrapLogging(quiet: Bool, verbose: Bool, notices: Bool = true) {
    let level: Logger.Level = quiet ? .error : (verbose ? .info : (notices ? .notice : .warning))
    // FFmpeg's own log lines are not one-line errors naming the file; we report its errors ourselves.
    Diagnostics.setFFmpegLogging(verbose: verbose)
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// Every frame allocates the same large tensors (up to ~110 MB: the decoder's 768-channel maps at stride 4) and frees
/// them. glibc serves blocks above its mmap threshold (at most 32 MB by default) with fresh mmap calls, so each frame
/// page-faults and zeroes every such tensor again (~3 % of a frame in `perf`). Serving them from the heap and not
/// trimming it lets the next frame reuse the same pages; the footprint stays that of one frame.
private func keepLargeBuffersInTheHeap() {
    #if os(Linux)
    // mallopt lives in <malloc.h>, which the Glibc module does not export; its option numbers are glibc's ABI
    // (M_TRIM_THRESHOLD −1, M_MMAP_THRESHOLD −3). Another libc simply has no such symbol.
    typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
    _ = mallopt(-3, 512 << 20)
    _ = mallopt(-1, 1 << 30)
    #endif
}
