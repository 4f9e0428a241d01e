import Foundation
import Testing
import VocaSegTestSupport

/// The PostgreSQL server the farm tests use: `VOCASEG_TEST_POSTGRES` (a URL; `.ci/run` starts one), else a private
/// server this test process starts with `Scripts/test-postgres.sh` and stops when it exits. When neither works the
/// tests fail: they are never skipped.
enum TestServer {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<String, TestServerError>?

    struct TestServerError: Error, CustomStringConvertible { var description: String }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The server's base URL (database `postgres`).
    static func url() throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let started { return try started.get() }
        if let given = ProcessInfo.processInfo.environment["VOCASEG_TEST_POSTGRES"], !given.isEmpty {
            started = .success(given)
            return given
        }
        let dir = "/tmp/vocaseg-pg-\(getpid())"
        let script = repository.appendingPathComponent("Scripts/test-postgres.sh").path
        // system(), not Process: the server the script leaves running inherits nothing of ours, and Foundation's
        // Process did not always see the script end once its grandchild daemon was started.
        let output = "\(dir).url", errors = "\(dir).err"
        let status = system("/bin/bash '\(script)' start '\(dir)' > '\(output)' 2> '\(errors)' < /dev/null")
        let url = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0, !url.isEmpty else {
            let why = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "exit status \(status)"
            started = .failure(TestServerError(description: "cannot start a private PostgreSQL server: \(why)"))
            return try started!.get()
        }
        started = .success(url)
        stopScript = (script, dir)
        atexit {
            if let (script, dir) = TestServer.stopScript {
                _ = system("/bin/bash '\(script)' stop '\(dir)' > /dev/null 2>&1 < /dev/null")
                for path in [dir, "\(dir).url", "\(dir).err"] { try? FileManager.default.removeItem(atPath: path) }
            }
        }
        return url
    }

    nonisolated(unsafe) static var stopScript: (String, String)?

    /// A new, empty database on the server, for one test; its URL.
    static func freshDatabase() throws -> String {
        let base = try url()
        let name = "vocaseg_test_\(UUID().uuidString.prefix(8).lowercased())"
        try psql(base, "CREATE DATABASE \(name)")
        return withDatabase(base, name)
    }

    static func withDatabase(_ url: String, _ name: String) -> String {
        var c = URLComponents(string: url)!
        c.path = "/\(name)"
        return c.string!
    }

    /// Runs SQL with the psql client (independent of the code under test); returns its unaligned output rows.
    @discardableResult
    static func psql(_ url: String, _ sql: String) throws -> [String] {
        let r = try run("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql])
        guard r.status == 0 else { throw TestServerError(description: "psql \(sql): \(r.stderr)") }
        return r.stdout.split(whereSeparator: \.isNewline).map(String.init)
    }
}
