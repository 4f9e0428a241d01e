import Foundation
import Testing
import VocaSegCore
import VocaSegTestSupport
@testable import VocaSegFarm

/// Queue addresses and root confinement: no server needed.
struct QueueAddressTests {
    @Test func urlPartsWinOverTheEnvironmentWhichFillsTheRest() throws {
        let env = ["PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "envuser", "PGDATABASE": "envdb",
                   "PGPASSWORD": "envpass", "HOME": "/nonexistent"]
        let full = try QueueAddress.parse("postgres://alice:s3cr%40t@queue.local:5433/farm?sslmode=require",
                                          environment: env)
        #expect(full.host == "queue.local" && full.port == 5433 && full.user == "alice" && full.database == "farm")
        #expect(full.password == "s3cr@t" && full.tls == .require && full.socketPath == nil)
        #expect(!full.description.contains("s3cr"), "the password must never be printed: \(full.description)")

        let bare = try QueueAddress.parse("postgres://", environment: env)
        #expect(bare.host == "db.example" && bare.port == 6543 && bare.user == "envuser" && bare.database == "envdb")
        #expect(bare.password == "envpass" && bare.tls == .prefer)

        let socket = try QueueAddress.parse("postgresql://bob@/jobs?host=/run/pg&sslmode=disable", environment: [:])
        #expect(socket.socketPath == "/run/pg/.s.PGSQL.5432" && socket.database == "jobs" && socket.tls == .disable)
    }

    @Test func badURLsAreUsageErrorsThatDoNotEchoThePassword() throws {
        for url in ["mysql://x@y/z", "postgres://u:pw@h/db?sslmode=sometimes", "postgres://u:pw@h/db?port=99999",
                    "postgres://u:pw@h/db?colour=blue"] {
            do {
                _ = try QueueAddress.parse(url, environment: [:])
                Issue.record("\(url) was accepted")
            } catch let e as VocaSegError {
                #expect(e.kind == .usage, "\(url)")
                #expect(!e.description.contains("pw"), "\(e.description)")
            }
        }
    }

    @Test func passwordFileIsReadLikeLibpqAndIgnoredWhenOthersCanReadIt() throws {
        let dir = try makeTemporaryDirectory()
        let file = dir.appendingPathComponent("pgpass").path
        try """
            # comment
            other.host:5432:farm:alice:wrong
            queue.local:*:farm:alice:pa\\:ss\\\\word
            localhost:5432:*:*:socketpass
            """.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let env = ["PGPASSFILE": file]
        #expect(try QueueAddress.parse("postgres://alice@queue.local:7777/farm", environment: env).password
                == "pa:ss\\word")
        #expect(try QueueAddress.parse("postgres://carol@/any?host=/tmp", environment: env).password == "socketpass")
        #expect(try QueueAddress.parse("postgres://alice@nowhere/farm", environment: env).password == nil)
        chmod(file, 0o644)
        #expect(try QueueAddress.parse("postgres://alice@queue.local/farm", environment: env).password == nil)
    }
}

struct SharedRootsTests {
    @Test func pathsThatLeaveTheRootsAreRefused() throws {
        let top = try makeTemporaryDirectory()
        let inbox = top.appendingPathComponent("inbox"), out = top.appendingPathComponent("out")
        let outside = top.appendingPathComponent("outside")
        for d in [inbox, out, outside, inbox.appendingPathComponent("sub")] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        try Data("secret".utf8).write(to: outside.appendingPathComponent("secret.mp4"))
        try Data("ok".utf8).write(to: inbox.appendingPathComponent("sub/clip.mp4"))
        try FileManager.default.createSymbolicLink(at: inbox.appendingPathComponent("escape"), withDestinationURL: outside)
        try FileManager.default.createSymbolicLink(at: inbox.appendingPathComponent("inner"),
                                                   withDestinationURL: inbox.appendingPathComponent("sub"))
        try FileManager.default.createSymbolicLink(at: out.appendingPathComponent("dangling"),
                                                   withDestinationURL: outside.appendingPathComponent("nothing/here"))
        let roots = try SharedRoots(inbox: inbox.path, outbox: out.path)

        #expect(try roots.resolve("sub/clip.mp4", in: .inbox) == inbox.appendingPathComponent("sub/clip.mp4").path)
        #expect(try roots.resolve("inner/clip.mp4", in: .inbox).hasSuffix("inbox/inner/clip.mp4"))
        #expect(try roots.resolve("new/folder/x.vocaseg.mp4", in: .outbox).hasPrefix(out.path))
        for (path, root) in [("../outside/secret.mp4", SharedRoots.Root.inbox), ("/etc/hostname", .inbox),
                             ("sub/../../outside/secret.mp4", .inbox), ("escape/secret.mp4", .inbox),
                             ("escape", .inbox), ("", .inbox), ("./sub/clip.mp4", .inbox),
                             ("dangling/x.mp4", .outbox), ("dangling", .outbox), ("../out2/x", .outbox)] {
            #expect(throws: VocaSegError.self, "\(path) in \(root)") { try roots.resolve(path, in: root) }
        }
        for name in ["../x", "a/b", "..", ""] {
            #expect(throws: VocaSegError.self, "staging \(name)") { try roots.stagingFolder(name) }
        }
        #expect(try roots.stagingFolder("job-3-abc").hasSuffix("out/.vocaseg-staging/job-3-abc"))
    }
}
