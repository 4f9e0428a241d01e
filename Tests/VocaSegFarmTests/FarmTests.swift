import Foundation
import Testing
import VocaSegCore
import VocaSegTestSupport
@testable import VocaSegFarm

/// The shared queue with a real PostgreSQL server and real processes: the `vocaseg` CLI queues, WatchHarness
/// workers (the product's worker with a stand-in model in its job processes) work, and the tests kill, freeze and
/// cut them off.
@Suite(.serialized) struct FarmTests {
    static func binary(_ name: String) -> String {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return TestServer.repository.appendingPathComponent(".build/debug/\(name)").path
    }

    static let pipelineText = "vocabulary: [left, middle, right]\noutputs:\n  jsonl: true\n  overlay:\n    labels: false\n    legend: false\n"

    struct Farm {
        let root: URL
        let queue: String
        var inbox: URL { root.appendingPathComponent("inbox") }
        var out: URL { root.appendingPathComponent("out") }
        var pipeline: URL { root.appendingPathComponent("pipeline.yaml") }
        var staging: URL { out.appendingPathComponent(".vocaseg-staging") }

        func sql(_ text: String) throws -> [String] { try TestServer.psql(queue, text) }
    }

    func makeFarm() throws -> Farm {
        let root = try makeTemporaryDirectory()
        let farm = Farm(root: root, queue: try TestServer.freshDatabase())
        for d in [farm.inbox, farm.out] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        try Self.pipelineText.write(to: farm.pipeline, atomically: true, encoding: .utf8)
        return farm
    }

    func makeClip(_ url: URL, frames: Int, seed: Int) throws {
        let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i",
                                            "testsrc2=size=160x90:rate=25:duration=\(Double(frames) / 25)",
                                            "-vf", "hue=h=\(seed * 30)", "-c:v", "libx264", "-preset", "ultrafast",
                                            "-pix_fmt", "yuv420p", "-y", url.path])
        try #require(r.status == 0, "ffmpeg: \(r.stderr)")
    }

    /// `vocaseg watch … --queue URL --jobs 0 --once`: the real CLI scans and queues, nothing else.
    func enqueue(_ farm: Farm, attempts: Int = 9) throws {
        let r = try run(Self.binary("vocaseg"), ["watch", farm.inbox.path, "--pipeline", farm.pipeline.path,
                                                 "--out", farm.out.path, "--queue", farm.queue, "--jobs", "0", "--once",
                                                 "--settle", "0", "--attempts", "\(attempts)", "--backoff", "0.05"])
        try #require(r.status == 0, "vocaseg watch --queue: \(r.stderr)")
    }

    /// A worker process: `vocaseg worker` with the stand-in model, named `name` in the queue and on the server.
    func startWorker(_ farm: Farm, _ name: String, _ extra: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary("WatchHarness"))
        p.arguments = ["--queue", farm.queue, "--farm-worker", "--name", name, "--poll", "0.1"] + extra
        let log = farm.root.appendingPathComponent("worker-\(name)-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        return p
    }

    func logs(_ farm: Farm) -> String {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: farm.root.path)) ?? [])
            .filter { $0.hasPrefix("worker-") }.sorted()
        return names.map { name in
            (try? String(contentsOf: farm.root.appendingPathComponent(name), encoding: .utf8)) ?? ""
        }.joined(separator: "\n")
    }

    func waitFor(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("timed out waiting for \(what)")
        throw TestServer.TestServerError(description: "timed out waiting for \(what)")
    }

    func waitExit(_ p: Process, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); return false }
        return true
    }

    /// Every input: exactly one row, `done`, exactly one publication, a complete overlay and JSON lines; nothing
    /// else in the outbox, no staging leftovers.
    func expectExactlyOnce(_ farm: Farm, inputs: [String: Int]) throws {
        for (name, frames) in inputs {
            let rows = try farm.sql("SELECT state FROM vocaseg_job WHERE path = '\(name)'")
            #expect(rows == ["done"], "\(name): \(rows)")
            let published = try farm.sql("""
                SELECT count(*) FROM vocaseg_publication p JOIN vocaseg_job j ON j.id = p.job_id WHERE j.path = '\(name)'
                """)
            #expect(published == ["1"], "\(name) published \(published) times")
            let stem = (name as NSString).deletingPathExtension
            #expect(try videoFrameTimes(farm.out.appendingPathComponent("\(stem).vocaseg.mp4").path).count == frames,
                    "\(name) overlay frames")
            let lines = try String(contentsOfFile: farm.out.appendingPathComponent("\(stem).vocaseg.jsonl").path,
                                   encoding: .utf8).split(whereSeparator: \.isNewline)
            #expect(lines.count == frames + 1, "\(name) JSON lines")
        }
        let visible = try FileManager.default.contentsOfDirectory(atPath: farm.out.path).filter { !$0.hasPrefix(".") }
        #expect(visible.count == inputs.count * 2, "outputs: \(visible.sorted())")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: farm.staging.path)) ?? []).isEmpty,
                "staging leftovers")
    }

    // MARK: -

    @Test func exactlyOnceWhileWorkersAreKilledRestartedAndCutOff() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        var inputs: [String: Int] = [:]
        for i in 0..<12 {
            try makeClip(farm.inbox.appendingPathComponent("clip\(i).mp4"), frames: 20, seed: i)
            inputs["clip\(i).mp4"] = 20
        }
        try enqueue(farm)
        #expect(try farm.sql("SELECT count(*) FROM vocaseg_job WHERE state = 'queued'") == ["12"])
        let lease = ["--lease", "2", "--heartbeat", "0.4", "--frame-delay", "0.03"]

        // Killed during the commit: after the fenced commit and the first rename, before the second.
        let committer = try startWorker(farm, "committer", lease + ["--publish-pause", "30"])
        try waitFor("a commit in progress", timeout: 60) {
            try farm.sql("SELECT count(*) FROM vocaseg_job WHERE state = 'publishing' AND worker = 'committer'") == ["1"]
        }
        Thread.sleep(forTimeInterval: 0.3)
        kill(committer.processIdentifier, SIGKILL)
        committer.waitUntilExit()
        let halfPublished = try farm.sql("SELECT path FROM vocaseg_job WHERE state = 'publishing'")
        try #require(halfPublished.count == 1)

        // Three workers, SIGKILLed and restarted at random moments (mid-job, between jobs, during start-up).
        // (seconds to wait, worker to kill): a fixed irregular schedule, so that a failure can be replayed.
        let schedule: [(Double, Int)] = [(0.5, 0), (1.1, 1), (0.4, 2), (0.9, 1), (1.3, 0), (0.35, 2), (0.8, 0),
                                         (1.0, 1), (0.6, 2), (1.2, 0), (0.45, 1)]
        var workers = try (0..<3).map { try startWorker(farm, "w\($0)", lease) }
        var kills = 0, cut = false
        for (wait, i) in schedule {
            Thread.sleep(forTimeInterval: wait)
            kill(workers[i].processIdentifier, SIGKILL)
            workers[i].waitUntilExit()
            kills += 1
            workers[i] = try startWorker(farm, "w\(i)", lease)
            if !cut && kills == 4 {
                // One worker's connections cut by the server (w0 has been running since the first restart): it
                // must reconnect and carry on.
                let connections = "FROM pg_stat_activity WHERE application_name = 'vocaseg worker w0'"
                try waitFor("a connection of w0", timeout: 10) { try farm.sql("SELECT count(*) \(connections)") != ["0"] }
                let terminated = try farm.sql("SELECT count(pg_terminate_backend(pid)) \(connections)")
                cut = true
                #expect(terminated != ["0"], "no connection of w0 to cut")
            }
        }
        // Then left alone, they finish the queue and exit.
        for w in workers { kill(w.processIdentifier, SIGKILL); w.waitUntilExit() }
        let finishers = try (0..<3).map { try startWorker(farm, "f\($0)", lease + ["--once"]) }
        for f in finishers { #expect(waitExit(f, timeout: 180), "a worker did not finish") }
        try expectExactlyOnce(farm, inputs: inputs)
        // The half-published job was rolled forward from its committed outputs, not run again.
        let publisher = try farm.sql("""
            SELECT p.worker FROM vocaseg_publication p JOIN vocaseg_job j ON j.id = p.job_id WHERE j.path = '\(halfPublished[0])'
            """)
        #expect(publisher == ["committer"], "\(publisher)")
        #expect(logs(farm).contains("rolled forward"))
        #expect(kills == schedule.count && cut)
    }

    @Test func aWorkerFrozenPastItsLeaseCannotPublish() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        try makeClip(farm.inbox.appendingPathComponent("slow.mp4"), frames: 30, seed: 3)
        try enqueue(farm)
        let lease = ["--lease", "2", "--heartbeat", "0.4", "--once"]
        let frozen = try startWorker(farm, "frozen", lease + ["--frame-delay", "0.1"])
        try waitFor("the job to start", timeout: 60) {
            try farm.sql("SELECT worker FROM vocaseg_job WHERE state = 'running'") == ["frozen"]
        }
        Thread.sleep(forTimeInterval: 0.5)
        kill(frozen.processIdentifier, SIGSTOP)
        let other = try startWorker(farm, "other", lease + ["--frame-delay", "0.01"])
        #expect(waitExit(other, timeout: 120), "the second worker did not finish")
        #expect(try farm.sql("SELECT state, worker FROM vocaseg_job") == ["done|other"])
        // Woken long after its lease expired, with its job process finished: it must not publish.
        kill(frozen.processIdentifier, SIGCONT)
        #expect(waitExit(frozen, timeout: 60), "the frozen worker did not finish")
        #expect(try farm.sql("SELECT worker FROM vocaseg_publication") == ["other"])
        #expect(try farm.sql("SELECT attempts FROM vocaseg_job") == ["2"])
        let log = logs(farm)
        #expect(log.contains("lease lost"), "\(log.suffix(2000))")
        try expectExactlyOnce(farm, inputs: ["slow.mp4": 30])
    }

    @Test func rowsWithEscapingPathsAreRefusedAndNothingOutsideIsTouched() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        let outside = farm.root.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try makeClip(outside.appendingPathComponent("secret.mp4"), frames: 5, seed: 1)
        try FileManager.default.createSymbolicLink(at: farm.inbox.appendingPathComponent("escape"),
                                                   withDestinationURL: outside)
        try makeClip(farm.inbox.appendingPathComponent("good.mp4"), frames: 5, seed: 2)
        try enqueue(farm)  // queues good.mp4 only (the symlinked folder is not followed without --recursive)
        func snapshot() throws -> [String] {
            try FileManager.default.subpathsOfDirectory(atPath: outside.path).sorted().map { name in
                let a = try FileManager.default.attributesOfItem(atPath: outside.appendingPathComponent(name).path)
                return "\(name) \(a[.size] ?? 0) \(a[.modificationDate] ?? "")"
            }
        }
        let before = try snapshot()
        // Rows a corrupted or malicious writer put in the queue.
        for path in ["../outside/secret.mp4", outside.appendingPathComponent("secret.mp4").path, "escape/secret.mp4"] {
            try farm.sql("""
                INSERT INTO vocaseg_job (config_id, path, size, mtime_ns, state)
                SELECT max(id), '\(path)', 1, 1, 'queued' FROM vocaseg_config
                """)
        }
        try farm.sql("""
            INSERT INTO vocaseg_job (config_id, path, size, mtime_ns, state, attempts, staging, outputs, lease_token,
                                     lease_expires_at, worker)
            SELECT max(id), 'forged.mp4', 1, 1, 'publishing', 1, '../../outside',
                   ARRAY['../outside/secret.mp4', '../outside/pwned.vocaseg.mp4'], gen_random_uuid(),
                   now() - interval '1 minute', 'forger' FROM vocaseg_config
            """)
        let worker = try startWorker(farm, "careful", ["--once", "--lease", "2", "--heartbeat", "0.4"])
        #expect(waitExit(worker, timeout: 120))
        #expect(worker.terminationStatus == 0)
        #expect(try snapshot() == before, "something outside the roots changed")
        let states = try farm.sql("SELECT path || ' ' || state FROM vocaseg_job ORDER BY id")
        #expect(states.filter { $0.hasSuffix(" failed") }.count == 4, "\(states)")
        #expect(states.contains("good.mp4 done"), "\(states)")
        let errors = try farm.sql("SELECT error FROM vocaseg_job WHERE state = 'failed'")
        #expect(errors.allSatisfy { $0.contains("refused") }, "\(errors)")
        #expect(!FileManager.default.fileExists(atPath: farm.inbox.appendingPathComponent("failed").path),
                "a refused row must not move anything")
    }

    @Test func aWatcherWithJobsQueuesAndWorksAndAReplacedFileIsProcessedAgain() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        for i in 0..<3 { try makeClip(farm.inbox.appendingPathComponent("w\(i).mp4"), frames: 8, seed: i) }
        func watch() throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.binary("WatchHarness"))
            p.arguments = [farm.inbox.path, farm.pipeline.path, farm.out.path, "--queue", farm.queue, "--jobs", "2",
                           "--once", "--settle", "0.1", "--poll", "0.1"]
            let log = farm.root.appendingPathComponent("worker-watch-\(UUID().uuidString.prefix(6)).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: log)
            try p.run()
            #expect(waitExit(p, timeout: 120) && p.terminationStatus == 0, "\(logs(farm).suffix(1500))")
        }
        try watch()
        try expectExactlyOnce(farm, inputs: ["w0.mp4": 8, "w1.mp4": 8, "w2.mp4": 8])
        // Unchanged files are not queued again; a replaced one gets a row of its own.
        try makeClip(farm.inbox.appendingPathComponent("w1.mp4"), frames: 12, seed: 7)
        try watch()
        #expect(try farm.sql("SELECT path || ' ' || state FROM vocaseg_job ORDER BY id")
                == ["w0.mp4 done", "w1.mp4 done", "w2.mp4 done", "w1.mp4 done"])
        #expect(try videoFrameTimes(farm.out.appendingPathComponent("w1.vocaseg.mp4").path).count == 12)
    }

    @Test func anInputThatKillsItsJobProcessIsRetriedThenQuarantined() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        // The harness's stand-in model aborts on inputs named crash-me, as a decoder with a corrupted heap would.
        try makeClip(farm.inbox.appendingPathComponent("crash-me.mp4"), frames: 4, seed: 1)
        try makeClip(farm.inbox.appendingPathComponent("fine.mp4"), frames: 4, seed: 2)
        try enqueue(farm, attempts: 2)
        let worker = try startWorker(farm, "survivor", ["--once", "--lease", "3", "--heartbeat", "0.5"])
        #expect(waitExit(worker, timeout: 120) && worker.terminationStatus == 0, "\(logs(farm).suffix(1500))")
        let rows = try farm.sql("SELECT path || ' ' || state || ' ' || attempts FROM vocaseg_job ORDER BY path")
        #expect(rows == ["crash-me.mp4 quarantined 2", "fine.mp4 done 1"], "\(rows)")
        #expect(try farm.sql("SELECT error FROM vocaseg_job WHERE path = 'crash-me.mp4'").first?.contains("SIGABRT") == true)
        let failed = farm.inbox.appendingPathComponent("failed")
        #expect(FileManager.default.fileExists(atPath: failed.appendingPathComponent("crash-me.mp4").path))
        let note = try String(contentsOf: failed.appendingPathComponent("crash-me.mp4.error.txt"), encoding: .utf8)
        #expect(note.contains("attempts: 2") && note.contains("SIGABRT"), "\(note)")
        #expect(!FileManager.default.fileExists(atPath: farm.inbox.appendingPathComponent("crash-me.mp4").path))
    }

    @Test func queueFlagsWithoutAQueueAreAUsageError() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        for flags in [["--metrics", "127.0.0.1:9464"], ["--lease", "5"], ["--heartbeat", "1"]] {
            let r = try run(Self.binary("vocaseg"), ["watch", farm.inbox.path, "--pipeline", farm.pipeline.path,
                                                     "--out", farm.out.path, "--once"] + flags)
            #expect(r.status == 2 && r.stderr.contains("add --queue"), "\(flags): \(r.status) \(r.stderr)")
        }
    }

    /// The fence itself, below the workers' heartbeats (which usually notice a lost lease first): only the
    /// current, unexpired lease token can commit, finish or fail a job.
    @Test func onlyTheCurrentLeaseCanCommitFinishOrFailAJob() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        try makeClip(farm.inbox.appendingPathComponent("fenced.mp4"), frames: 2, seed: 1)
        try enqueue(farm, attempts: 5)
        let q = try PostgresJobQueue(address: try QueueAddress.parse(farm.queue), applicationName: "test",
                                     logger: .init(label: "t"))
        defer { q.close() }
        let stale = try #require(try q.claim(worker: "stale", lease: 0.3))
        #expect(try q.claim(worker: "other", lease: 5) == nil, "a leased job was claimed twice")
        Thread.sleep(forTimeInterval: 0.6)
        // Expired but not yet taken over: still refused, the lease time is over.
        #expect(try !q.beginPublishing(stale, worker: "stale", outputs: ["x"], frames: 1, seconds: 1, lease: 5))
        #expect(try q.heartbeat(worker: "stale", tokens: [stale.token], jobs: [stale.id], lease: 5).isEmpty)
        let reaped = try q.reapExpired(worker: "other", lease: 5)
        #expect(reaped.map(\.state) == ["retrying"])
        try farm.sql("UPDATE vocaseg_job SET next_attempt_at = now()")
        let current = try #require(try q.claim(worker: "other", lease: 5))
        #expect(current.id == stale.id && current.token != stale.token && current.attempts == 2)
        #expect(try q.fail(stale, error: "late", permanent: true) == nil)
        #expect(try !q.beginPublishing(stale, worker: "stale", outputs: ["x"], frames: 1, seconds: 1, lease: 5))
        #expect(try q.heartbeat(worker: "other", tokens: [current.token, stale.token], jobs: [current.id], lease: 5)
                == [current.token])
        #expect(try q.beginPublishing(current, worker: "other", outputs: ["y"], frames: 1, seconds: 1, lease: 5))
        try q.finishPublishing(id: current.id, token: stale.token, worker: "stale", frames: 1, seconds: 1)
        #expect(try farm.sql("SELECT state FROM vocaseg_job") == ["publishing"])
        try q.finishPublishing(id: current.id, token: current.token, worker: "other", frames: 1, seconds: 1)
        #expect(try farm.sql("SELECT state, worker, outputs FROM vocaseg_job") == ["done|other|{y}"])
        #expect(try farm.sql("SELECT worker FROM vocaseg_publication") == ["other"])
    }

    @Test func migrationsRunOnAnEmptyDatabaseAndOnThePreviousVersion() throws {
        let fresh = try TestServer.freshDatabase()
        let q = try PostgresJobQueue(address: try QueueAddress.parse(fresh), applicationName: "test", logger: .init(label: "t"))
        #expect(try q.schemaVersion() == QueueSchema.latestVersion)
        q.close()
        #expect(try TestServer.psql(fresh, "SELECT version FROM vocaseg_schema ORDER BY version") == ["1", "2"])

        // Workers started together on an empty database: one migrates, the others wait for it and find it done.
        let group = DispatchGroup()
        final class Statuses: @unchecked Sendable { var lock = NSLock(); var values: [Int32] = [] }
        let statuses = Statuses()
        let racing = try TestServer.freshDatabase()
        for _ in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                let status = (try? run(Self.binary("vocaseg"), ["jobs", "--queue", racing]))?.status ?? -1
                statuses.lock.lock()
                statuses.values.append(status)
                statuses.lock.unlock()
                group.leave()
            }
        }
        group.wait()
        #expect(statuses.values == Array(repeating: 0, count: 8), "concurrent migrations failed")
        #expect(try TestServer.psql(racing, "SELECT version FROM vocaseg_schema ORDER BY version") == ["1", "2"])

        // A database left at version 1 with a queued job, as a previous vocaseg would have left it.
        let old = try TestServer.freshDatabase()
        let v1 = try PostgresJobQueue(address: try QueueAddress.parse(old), applicationName: "test",
                                      logger: .init(label: "t"), migrateUpTo: 1)
        #expect(try v1.schemaVersion() == 1)
        v1.close()
        #expect(try TestServer.psql(old, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'staging'")
                == ["0"])
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try TestServer.psql(old, """
            INSERT INTO vocaseg_config (inbox, outbox, pipeline_path, pipeline_text, max_attempts, backoff_seconds)
            VALUES ('\(root.path)', '\(root.path)', 'p.yaml', 'vocabulary: [a]', 3, 1);
            INSERT INTO vocaseg_job (config_id, path, size, mtime_ns, state) VALUES (1, 'old.mp4', 10, 20, 'queued');
            """)
        let upgraded = try PostgresJobQueue(address: try QueueAddress.parse(old), applicationName: "test",
                                            logger: .init(label: "t"))
        defer { upgraded.close() }
        #expect(try upgraded.schemaVersion() == 2)
        let job = try #require(try upgraded.claim(worker: "t", lease: 5))
        #expect(job.path == "old.mp4" && job.attempts == 1 && job.staging.hasPrefix("job-\(job.id)-"))
        #expect(try TestServer.psql(old, "SELECT state, size, mtime_ns FROM vocaseg_job") == ["running|10|20"])
    }

    @Test func metricsAndTheJobsReportShowTheWork() throws {
        let farm = try makeFarm()
        defer { try? FileManager.default.removeItem(at: farm.root) }
        for i in 0..<2 { try makeClip(farm.inbox.appendingPathComponent("m\(i).mp4"), frames: 10, seed: i) }
        try enqueue(farm)
        let port = 20000 + Int(getpid() % 20000)
        let worker = try startWorker(farm, "metered", ["--lease", "3", "--heartbeat", "0.3", "--frame-delay", "0.05",
                                                       "--metrics", "127.0.0.1:\(port)"])
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL); worker.waitUntilExit() } }
        try waitFor("both jobs done", timeout: 120) {
            try farm.sql("SELECT count(*) FROM vocaseg_job WHERE state = 'done'") == ["2"]
        }
        Thread.sleep(forTimeInterval: 0.8)  // a heartbeat refreshes the per-state gauges
        let scrape = try run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/metrics"])
        try #require(scrape.status == 0, "metrics endpoint: \(scrape.stderr)")
        func value(_ series: String) -> Double? {
            scrape.stdout.split(whereSeparator: \.isNewline).first { $0.hasPrefix(series + " ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(value("vocaseg_jobs_done_total") == 2, "\(scrape.stdout)")
        #expect(value("vocaseg_frames_total") == 20)
        #expect(value("vocaseg_queue_jobs{state=\"done\"}") == 2)
        #expect((value("vocaseg_lease_renewals_total") ?? 0) > 0)
        #expect((value("vocaseg_frames_per_second") ?? 0) > 0)
        let stageSeries = "vocaseg_stage_milliseconds_bucket{stage=\"inference\""
        #expect(scrape.stdout.contains(stageSeries), "\(scrape.stdout)")

        let report = try run(Self.binary("vocaseg"), ["jobs", "--queue", farm.queue, "--json"])
        try #require(report.status == 0, "\(report.stderr)")
        struct Report: Decodable {
            struct Worker: Decodable { var id: String; var alive: Bool; var jobsDone: Int; var framesDone: Int }
            var counts: [String: Int]
            var workers: [Worker]
        }
        let decoded = try JSONDecoder().decode(Report.self, from: report.stdoutData)
        #expect(decoded.counts["done"] == 2 && decoded.counts["queued"] == 0)
        let me = try #require(decoded.workers.first { $0.id == "metered" })
        #expect(me.alive && me.jobsDone == 2 && me.framesDone == 20)
        let text = try run(Self.binary("vocaseg"), ["jobs", "--queue", farm.queue])
        #expect(text.stdout.contains("done 2") && text.stdout.contains("metered [alive"), "\(text.stdout)")
        kill(worker.processIdentifier, SIGTERM)
        #expect(waitExit(worker, timeout: 30) && worker.terminationStatus == 0)
        #expect(try farm.sql("SELECT stopped_at IS NOT NULL FROM vocaseg_worker WHERE id = 'metered'") == ["t"])
    }
}
