import Foundation
import VocaSegApp
import VocaSegCore

/// The inbox and outbox a worker reads and writes, as this machine mounts the shared storage. Job rows hold
/// paths relative to them; every path from a row goes through `resolve` before it is touched, so that a
/// corrupted or malicious row (`..`, an absolute path, a symlink that leads out) makes the worker refuse the job
/// and touch nothing outside its roots.
public struct SharedRoots: Sendable {
    public let inbox: String
    public let outbox: String
    /// The roots with their own symlinks resolved: what resolved paths are compared with.
    let realInbox: String
    let realOutbox: String

    public init(inbox: String, outbox: String) throws {
        self.inbox = inbox
        self.outbox = outbox
        realInbox = try Self.realPath(inbox, what: "inbox root")
        realOutbox = try Self.realPath(outbox, what: "output root")
    }

    public static var stagingName: String { WatchService.stagingName }

    public enum Root: String, Sendable { case inbox, outbox }

    /// The absolute path of `relative` inside `root`, or an error (kind `.input`: the job fails for good) when
    /// it is not a plain relative path or when the part of it that exists leads out of the root through a
    /// symlink. A path that does not exist yet is checked up to its deepest existing folder.
    public func resolve(_ relative: String, in root: Root) throws -> String {
        let base = root == .inbox ? inbox : outbox
        let realBase = root == .inbox ? realInbox : realOutbox
        func refuse(_ why: String) -> VocaSegError {
            VocaSegError(.input, "refused: \(why); a job's paths must stay inside the \(root.rawValue) root \(base)",
                         path: relative)
        }
        guard !relative.isEmpty, !relative.contains("\0") else { throw refuse("empty path") }
        guard !relative.hasPrefix("/") else { throw refuse("absolute path") }
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.contains(where: { $0 == ".." || $0 == "." }) else { throw refuse("path with . or ..") }
        let full = (base as NSString).appendingPathComponent(parts.joined(separator: "/"))
        // The deepest part of the path that exists, with every symlink in it resolved, must lie inside the root.
        var probe = full
        while !FileManager.default.fileExists(atPath: probe), probe.count > base.count {
            var st = stat()
            if lstat(probe, &st) == 0 { break }  // a dangling symlink: judged by where it points, below
            probe = (probe as NSString).deletingLastPathComponent
        }
        guard let resolved = realpath(probe, nil) else {
            var st = stat()
            if lstat(probe, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK { throw refuse("dangling symlink") }
            throw refuse("cannot resolve the path")
        }
        defer { free(resolved) }
        let real = String(cString: resolved)
        guard real == realBase || real.hasPrefix(realBase + "/") else { throw refuse("it leads outside the root") }
        return full
    }

    /// The name of a staging folder as rows store it: one plain name, never a path.
    public func stagingFolder(_ name: String) throws -> String {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.contains("\0") else {
            throw VocaSegError(.input, "refused: staging folder name is not a plain name", path: name)
        }
        return try resolve("\(Self.stagingName)/\(name)", in: .outbox)
    }

    static func realPath(_ path: String, what: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
              let resolved = realpath(path, nil) else {
            throw VocaSegError(.usage, "\(what) is not a directory", path: path)
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
