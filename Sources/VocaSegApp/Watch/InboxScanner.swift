import Foundation

/// A file seen in the inbox, identified as the journal identifies it: path (relative to the inbox), size, mtime.
public struct InboxFile: Sendable, Hashable {
    public var relativePath: String
    public var size: Int64
    /// Modification time in nanoseconds since 1970, as the file system reports it.
    public var mtimeNanoseconds: Int64
}

/// Finds the files in the inbox that are ready to process.
///
/// A file is taken only once its size and mtime have stayed the same for the settle time (it is not still being
/// copied or recorded). Hidden files, temporary and partial names (`.part`, `.tmp`, `.crdownload`, `~`), and the
/// watcher's own folders (`failed/`) are never taken.
public final class InboxScanner {
    public let inbox: String
    public let settleSeconds: Double
    public let recursive: Bool
    /// Folder names inside the inbox that belong to the watcher.
    public let reservedFolders: Set<String>
    private var lastSeen: [String: (size: Int64, mtime: Int64, since: Double)] = [:]

    static let temporarySuffixes = [".part", ".tmp", ".temp", ".crdownload", ".partial", ".download", "~", ".swp"]

    public init(inbox: String, settleSeconds: Double, recursive: Bool, reservedFolders: Set<String> = ["failed"]) {
        self.inbox = inbox
        self.settleSeconds = settleSeconds
        self.recursive = recursive
        self.reservedFolders = reservedFolders
    }

    public static func isIgnoredName(_ name: String) -> Bool {
        if name.hasPrefix(".") { return true }
        let lower = name.lowercased()
        return temporarySuffixes.contains { lower.hasSuffix($0) }
    }

    /// One pass: returns the files that have been stable for the settle time, and how many are still settling.
    public func scan(now: Double) -> (ready: [InboxFile], settling: Int) {
        var ready: [InboxFile] = []
        var seenNow: Set<String> = []
        var settling = 0
        for relative in listFiles() {
            var st = stat()
            let full = (inbox as NSString).appendingPathComponent(relative)
            guard stat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let size = Int64(st.st_size)
            let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            seenNow.insert(relative)
            if let previous = lastSeen[relative], previous.size == size, previous.mtime == mtime {
                if now - previous.since >= settleSeconds && size > 0 {
                    ready.append(InboxFile(relativePath: relative, size: size, mtimeNanoseconds: mtime))
                } else {
                    settling += 1
                }
            } else {
                lastSeen[relative] = (size, mtime, now)
                settling += 1
            }
        }
        for key in lastSeen.keys where !seenNow.contains(key) { lastSeen[key] = nil }
        return (ready.sorted { $0.relativePath < $1.relativePath }, settling)
    }

    private func listFiles() -> [String] {
        var result: [String] = []
        func walk(_ relativeDir: String, depth: Int) {
            let dir = relativeDir.isEmpty ? inbox : (inbox as NSString).appendingPathComponent(relativeDir)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names where !InboxScanner.isIgnoredName(name) {
                let relative = relativeDir.isEmpty ? name : (relativeDir as NSString).appendingPathComponent(name)
                var isDir: ObjCBool = false
                // Gone between the listing and now (renamed or deleted by its writer): not a candidate.
                guard FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(name),
                                                     isDirectory: &isDir) else { continue }
                if isDir.boolValue {
                    if recursive && depth < 16 && !(depth == 0 && reservedFolders.contains(name)) {
                        walk(relative, depth: depth + 1)
                    }
                } else {
                    result.append(relative)
                }
            }
        }
        walk("", depth: 0)
        return result
    }
}
