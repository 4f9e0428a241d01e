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
    }

    deinit { if !isCommitted { abort() } }

    /// Flushes the temporary file to disk and renames it to the final name (replacing an older file atomically).
    public func commit() throws {
        guard !isCommitted else { return }
        guard !isAborted else { throw VocaSegError(.internal, "commit after abort", path: finalPath) }
        let fd = open(temporaryPath, O_RDONLY)
        guard fd >= 0 else {
            throw VocaSegError(.usage, "the temporary output file vanished before it was complete", path: finalPath)
        }
        let synced = fsync(fd)
        close(fd)
        if synced != 0 {
            let reason = String(cString: strerror(errno))
            abort()
            throw VocaSegError(.usage, "cannot write the output: \(reason)", path: finalPath)
        }
        guard rename(temporaryPath, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            abort()
            throw VocaSegError(.usage, "cannot move the finished output into place: \(reason)", path: finalPath)
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
            throw VocaSegError(.usage, "cannot write the output: \(error.localizedDescription)", path: finalPath)
        }
        try commit()
    }
}
