import Foundation
import VocaSegCore

/// A file that appears under its final name only when it is complete.
///
/// Writers write to `temporaryPath` — a hidden name in the same directory (`.name.partial-<pid>.ext`, so it is on
/// the same file system and keeps the extension tools look at) — and call `commit()`, which flushes it to disk and
/// renames it over the final name in one step. `abort()`, or dropping the object without committing, deletes the
/// temporary. An interrupted run therefore leaves either the previous file or nothing, never a half-written one
/// under the final name.
public final class AtomicOutputFile: @unchecked Sendable {
    public let finalPath: String
    public let temporaryPath: String
    public private(set) var isCommitted = false
    private var isAborted = false

    /// Throws `.usage` when the destination cannot be written (missing or read-only directory, path is a folder).
    public init(finalPath: String) throws {
        guard !finalPath.isEmpty else { throw VocaSegError(.usage, "the output path is empty") }
        self.finalPath = finalPath
        let directory = (finalPath as NSString).deletingLastPathComponent
        let dirPath = directory.isEmpty ? "." : directory
        let name = (finalPath as NSString).lastPathComponent
        let ext = (name as NSString).pathExtension
        let stem = (name as NSString).deletingPathExtension
        let hidden = ".\(stem).partial-\(getpid())" + (ext.isEmpty ? "" : ".\(ext)")
        temporaryPath = directory.isEmpty ? hidden : (directory as NSString).appendingPathComponent(hidden)

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dirPath, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw VocaSegError(.usage, "cannot write here: the directory \(dirPath) does not exist", path: finalPath)
        }
        guard FileManager.default.isWritableFile(atPath: dirPath) else {
            throw VocaSegError(.usage, "cannot write here: the directory \(dirPath) is not writable", path: finalPath)
        }
        if FileManager.default.fileExists(atPath: finalPath, isDirectory: &isDirectory), isDirectory.boolValue {
            throw VocaSegError(.usage, "the output path is an existing directory", path: finalPath)
        }
        Self.removeAbandonedTemporaries(directory: dirPath, prefix: ".\(stem).partial-",
                                        suffix: ext.isEmpty ? "" : ".\(ext)")
    }

    /// Deletes `.name.partial-PID.ext` files for this output left by runs that were killed (SIGKILL, power loss)
    /// before they could clean up. Only files whose PID no longer runs: a live PID may be another vocaseg writing
    /// the same output right now. (A reused PID keeps its file until that process is gone too; harmless.)
    static func removeAbandonedTemporaries(directory: String, prefix: String, suffix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
            guard let pid = pid_t(middle), processIsGone(pid) else { continue }
            unlink((directory as NSString).appendingPathComponent(name))
        }
    }

    /// True when no process has this PID any more (and it is not ours): its leftovers can go.
    public static func processIsGone(_ pid: pid_t) -> Bool {
        pid > 0 && pid != getpid() && kill(pid, 0) == -1 && errno == ESRCH
    }

    /// The operating system's words for a Foundation write error ("No space left on device"), not Cocoa's
    /// "The operation could not be completed".
    public static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }

    deinit { if !isCommitted { abort() } }

    /// Flushes the temporary file to disk and renames it to the final name (replacing an older file atomically).
    public func commit() throws {
        guard !isCommitted else { return }
        guard !isAborted else { throw VocaSegError(.internal, "commit after abort", path: finalPath) }
        let fd = open(temporaryPath, O_RDONLY)
        guard fd >= 0 else {
            throw VocaSegError(.io, "the temporary output file vanished before it was complete", path: finalPath)
        }
        let synced = fsync(fd)
        close(fd)
        if synced != 0 {
            let reason = String(cString: strerror(errno))
            abort()
            throw VocaSegError(.io, "cannot write the output: \(reason)", path: finalPath)
        }
        guard rename(temporaryPath, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            abort()
            throw VocaSegError(.io, "cannot move the finished output into place: \(reason)", path: finalPath)
        }
        isCommitted = true
    }

    /// Deletes the temporary file; the final name is left untouched. Safe to call more than once.
    public func abort() {
        guard !isCommitted else { return }
        isAborted = true
        unlink(temporaryPath)
    }

    /// Writes `data` to the temporary file and commits it.
    public func write(_ data: Data) throws {
        do { try data.write(to: URL(fileURLWithPath: temporaryPath)) } catch {
            abort()
            throw VocaSegError(.io, "cannot write the output: \(Self.describe(error))", path: finalPath)
        }
        try commit()
    }
}
