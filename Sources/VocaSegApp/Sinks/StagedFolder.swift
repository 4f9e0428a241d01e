import Foundation
import VocaSegCore
import VocaSegMedia

/// Files for a folder written into a hidden staging folder inside it and moved into place together by
/// `commit()`, so that a failed run leaves nothing behind and an interrupted one a consistent set.
/// Staging folders of killed runs (`.vocaseg-staging-PID-N`) are deleted when their PID no longer runs.
final class StagedFolder {
    let directory: String
    let staging: String
    private(set) var names: [String] = []
    private var used: Set<String> = []

    static let stagingPrefix = ".vocaseg-staging-"

    init(directory: String) throws {
        self.directory = directory
        staging = (directory as NSString)
            .appendingPathComponent("\(Self.stagingPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw VocaSegError(.io, "cannot create a folder here: \(AtomicOutputFile.describe(error))", path: directory)
        }
        Self.removeAbandoned(in: directory)
    }

    /// Where to write the file `name` now; it appears in `directory` at `commit()`.
    func path(for name: String) -> String {
        if used.insert(name).inserted { names.append(name) }
        return (staging as NSString).appendingPathComponent(name)
    }

    func contains(_ name: String) -> Bool { used.contains(name) }

    /// Moves every file into place (rename(2) replaces an older file atomically; FileManager.moveItem would refuse)
    /// and removes the staging folder.
    func commit() throws {
        for name in names {
            let target = (directory as NSString).appendingPathComponent(name)
            guard rename((staging as NSString).appendingPathComponent(name), target) == 0 else {
                throw VocaSegError(.io, "cannot move a finished file into place: \(String(cString: strerror(errno)))",
                                   path: target)
            }
        }
        try? FileManager.default.removeItem(atPath: staging)
    }

    func abort() { try? FileManager.default.removeItem(atPath: staging) }

    static func removeAbandoned(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(stagingPrefix) {
            guard let pid = name.dropFirst(stagingPrefix.count).split(separator: "-").first.flatMap({ pid_t($0) }),
                  AtomicOutputFile.processIsGone(pid) else { continue }
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }
}
