import Foundation
import Testing
import VocaSegCore
import VocaSegMedia
@testable import VocaSegApp

/// The watch folder with real files, a real SQLite journal and real processes (the WatchHarness executable: the
/// watcher with a stand-in model), killed with SIGKILL at several moments.
@Suite(.serialized) struct WatchTests {
    static var harness: String { Repo.cli.replacingOccurrences(of: "/vocaseg", with: "/WatchHarness") }

    struct Folder {
        let root: URL
        var inbox: URL { root.appendingPathComponent("inbox") }
        var out: URL { root.appendingPathComponent("out") }
        var pipeline: URL { root.appendingPathComponent("pipeline.yaml") }
    }

    func makeFolder(pipeline: String = "vocabulary: [left, middle, right]\noutputs:\n  jsonl: true\n  overlay:\n    labels: false\n    legend: false\n") throws -> Folder {
        let f = Folder(root: try makeTemporaryDirectory())
        try FileManager.default.createDirectory(at: f.inbox, withIntermediateDirectories: true)
        try pipeline.write(to: f.pipeline, atomically: true, encoding: .utf8)
        return f
    }

    /// A short clip made with ffmpeg: `frames` frames of 160x90, each clip's content distinct via the seed.
    func makeClip(_ url: URL, frames: Int, seed: Int) throws {
        let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i",
                                            "testsrc2=size=160x90:rate=25:duration=\(Double(frames) / 25)",
                                            "-vf", "hue=h=\(seed * 40)", "-c:v", "libx264", "-preset", "ultrafast",
                                            "-pix_fmt", "yuv420p", "-y", url.path])
        try #require(r.status == 0, "ffmpeg: \(r.stderr)")
    }

    func startHarness(_ f: Folder, _ extra: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: WatchTests.harness)
        p.arguments = [f.inbox.path, f.pipeline.path, f.out.path] + extra
        // Kept beside the folders so that a failing test can say what the watcher printed.
        let log = f.root.appendingPathComponent("harness-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        return p
    }

    /// The last lines the harnesses of this test printed, for failure messages.
    func harnessLog(_ f: Folder) -> String {
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: f.root.path)) ?? [])
            .filter { $0.hasPrefix("harness-") }.sorted()
        return logs.map { name in
            let text = (try? String(contentsOf: f.root.appendingPathComponent(name), encoding: .utf8)) ?? ""
            // The last lines, and before them any line that says why the harness stopped (a crash's backtrace
            // ends in a list of loaded images, which alone says nothing).
            let lines = text.split(separator: "\n")
            let why = lines.dropLast(5).filter {
                $0.contains("Fatal error") || $0.contains("crashed") || $0.contains("error:") || $0.contains(" at /")
            }.prefix(12)
            return "\(name): " + (why + lines.suffix(5)).joined(separator: " | ")
        }.joined(separator: "\n")
    }

    func journal(_ f: Folder) throws -> [JobRecord] {
        try JobJournal(path: WatchService.journalPath(outputDirectory: f.out.path)).allJobs()
    }

    /// Every input: one `done` row, one overlay with all its frames, one JSON-lines file with a line per frame,
    /// nothing else in the output folder (no staging leftovers, no temporaries).
    func expectExactlyOnce(_ f: Folder, inputs: [String: Int]) throws {
        let jobs = try journal(f)
        for (name, frames) in inputs {
            let rows = jobs.filter { $0.path == name }
            #expect(rows.count == 1 && rows.first?.state == .done, "\(name): \(rows.map(\.state))")
            let stem = (name as NSString).deletingPathExtension
            let overlay = f.out.appendingPathComponent("\(stem).vocaseg.mp4").path
            #expect(try videoFrameTimes(overlay).count == frames, "\(name) overlay frames")
            let lines = try String(contentsOfFile: f.out.appendingPathComponent("\(stem).vocaseg.jsonl").path,
                                   encoding: .utf8).split(whereSeparator: \.isNewline)
            #expect(lines.count == frames + 1, "\(name) JSON lines")
        }
        let visible = try FileManager.default.contentsOfDirectory(atPath: f.out.path).filter { !$0.hasPrefix(".") }
        #expect(visible.count == inputs.count * 2, "outputs: \(visible.sorted())")
        let staging = f.out.appendingPathComponent(".vocaseg-staging").path
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.out.path)
            .allSatisfy { !$0.contains("partial") }, "a temporary file was left")
    }

    @Test func sigkillAtAnyMomentLosesNothingAndDuplicatesNothing() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        var inputs: [String: Int] = [:]
        for i in 0..<4 {
            try makeClip(f.inbox.appendingPathComponent("clip\(i).mp4"), frames: 30, seed: i)
            inputs["clip\(i).mp4"] = 30
        }
        // 40 ms per frame: a clip takes ~1.2 s, so the kills land mid-job, between jobs and during start-up.
        // Each kill mid-job is a counted attempt; enough are allowed that no clip runs out of them here.
        for wait in [0.4, 1.0, 1.9, 0.7, 2.6] {
            let p = try startHarness(f, ["--frame-delay", "0.04", "--attempts", "9", "--backoff", "0.05"])
            Thread.sleep(forTimeInterval: wait)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let last = try startHarness(f, ["--once", "--attempts", "9", "--backoff", "0.05"])
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)
        try expectExactlyOnce(f, inputs: inputs)
        // Running it again finds nothing new to do.
        let again = try startHarness(f, ["--once"])
        again.waitUntilExit()
        #expect(try journal(f).count == 4)
    }

    /// Pictures dropped into the inbox follow `segment`'s rules: one picture gives an overlay picture at its size,
    /// a stream of pictures (image2pipe bytes) gives a video with every frame, never one picture.
    @Test func picturesAndPictureStreamsInTheInboxFollowSegmentsRules() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        for (name, size, frames, codec) in [("photo.png", "120x80", 1, "png"), ("snap.jpg", "76x52", 1, "mjpeg"),
                                            ("burst", "96x64", 5, "mjpeg")] {
            let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=25",
                                                "-frames:v", "\(frames)", "-f", "image2pipe", "-c:v", codec,
                                                f.inbox.appendingPathComponent(name).path])
            try #require(r.status == 0, "ffmpeg: \(r.stderr)")
        }
        let p = try startHarness(f, ["--once"])
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(harnessLog(f))")
        let jobs = try journal(f)
        #expect(jobs.count == 3 && jobs.allSatisfy { $0.state == .done }, "\(jobs.map { ($0.path, $0.state) })")
        for (name, width, height) in [("photo.vocaseg.png", 120, 80), ("snap.vocaseg.png", 76, 52)] {
            let frame = try #require(try MediaSource(path: f.out.appendingPathComponent(name).path).nextFrame(), "\(name)")
            #expect(frame.image.width == width && frame.image.height == height, "\(name)")
        }
        #expect(try videoFrameTimes(f.out.appendingPathComponent("burst.vocaseg.mp4").path).count == 5)
    }

    @Test func sigtermAbandonsTheCurrentJobCleanlyAndExitsZero() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        try makeClip(f.inbox.appendingPathComponent("long.mp4"), frames: 50, seed: 1)
        let p = try startHarness(f, ["--frame-delay", "0.05"])
        Thread.sleep(forTimeInterval: 1.2)
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let rows = try journal(f)
        #expect(rows.count == 1 && rows[0].state == .queued && rows[0].attempts == 0, "\(rows)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.out.path).filter { !$0.hasPrefix(".") }.isEmpty)
        let finish = try startHarness(f, ["--once"])
        finish.waitUntilExit()
        try expectExactlyOnce(f, inputs: ["long.mp4": 50])
    }

    @Test func aFileStillBeingWrittenIsNotTakenUntilItSettles() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        let source = f.root.appendingPathComponent("source.mp4")
        try makeClip(source, frames: 20, seed: 2)
        let data = try Data(contentsOf: source)
        let target = f.inbox.appendingPathComponent("growing.mp4")
        try data.prefix(1000).write(to: target)
        let p = try startHarness(f, ["--settle", "1.0"])
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        // Append the rest slowly: a write every 0.3 s for ~2.4 s, never pausing as long as the settle time.
        let handle = try FileHandle(forWritingTo: target)
        let chunk = (data.count - 1000 + 7) / 8
        for i in 0..<8 {
            Thread.sleep(forTimeInterval: 0.3)
            handle.seekToEndOfFile()
            handle.write(data.subdata(in: (1000 + i * chunk)..<min(data.count, 1000 + (i + 1) * chunk)))
            let path = WatchService.journalPath(outputDirectory: f.out.path)
            if FileManager.default.fileExists(atPath: path) {
                #expect(try journal(f).isEmpty, "taken while still being written (after \(i + 1) appends)")
            }
        }
        try handle.close()
        // Now it settles and is processed.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, (try? journal(f).first?.state) != .done { Thread.sleep(forTimeInterval: 0.2) }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        try expectExactlyOnce(f, inputs: ["growing.mp4": 20])
    }

    @Test func aCorruptFileEndsInFailedWithItsErrorAndTheOthersAreProcessed() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        try makeClip(f.inbox.appendingPathComponent("good.mp4"), frames: 10, seed: 3)
        try "not a video at all".write(to: f.inbox.appendingPathComponent("broken.mp4"), atomically: true,
                                       encoding: .utf8)
        try "ignored".write(to: f.inbox.appendingPathComponent("upload.mp4.part"), atomically: true, encoding: .utf8)
        try "ignored".write(to: f.inbox.appendingPathComponent(".hidden.mp4"), atomically: true, encoding: .utf8)
        let p = try startHarness(f, ["--once"])
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let failed = f.inbox.appendingPathComponent("failed")
        #expect(FileManager.default.fileExists(atPath: failed.appendingPathComponent("broken.mp4").path))
        #expect(!FileManager.default.fileExists(atPath: f.inbox.appendingPathComponent("broken.mp4").path))
        let error = try String(contentsOf: failed.appendingPathComponent("broken.mp4.error.txt"), encoding: .utf8)
        #expect(error.contains("broken.mp4") && error.contains("error:"), "\(error)")
        let rows = try journal(f)
        #expect(Set(rows.map(\.path)) == ["good.mp4", "broken.mp4"])  // .part and dot-files never taken
        #expect(rows.first { $0.path == "broken.mp4" }?.state == .failed)
        #expect(rows.first { $0.path == "good.mp4" }?.state == .done)
        let report = try JobsReport.load(outputDirectory: f.out.path)
        #expect(report.counts["done"] == 1 && report.counts["failed"] == 1)
        #expect(report.recentFailures.first?.input == "broken.mp4")
    }

    @Test func aReplacedFileIsProcessedAgainAndAnUnchangedOneIsNot() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        let clip = f.inbox.appendingPathComponent("a.mp4")
        try makeClip(clip, frames: 10, seed: 4)
        var p = try startHarness(f, ["--once"])
        p.waitUntilExit()
        p = try startHarness(f, ["--once"])
        p.waitUntilExit()
        #expect(try journal(f).count == 1)
        try makeClip(clip, frames: 15, seed: 5)  // replaced: new size and mtime
        p = try startHarness(f, ["--once"])
        p.waitUntilExit()
        let rows = try journal(f)
        #expect(rows.count == 2 && rows.allSatisfy { $0.state == .done })
        #expect(try videoFrameTimes(f.out.appendingPathComponent("a.vocaseg.mp4").path).count == 15)
    }

    /// A file whose mtime changes but whose bytes do not: processed again by default (size and mtime identify a
    /// version), recorded as unchanged with --content-hash; new contents are still processed.
    @Test func contentHashSkipsATouchedFileButNotAChangedOne() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        let clip = f.inbox.appendingPathComponent("a.mp4")
        try makeClip(clip, frames: 10, seed: 6)
        func touch(_ seconds: TimeInterval) throws {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(seconds)],
                                                  ofItemAtPath: clip.path)
        }
        func runOnce(_ extra: [String]) throws {
            let p = try startHarness(f, ["--once"] + extra)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        try runOnce(["--content-hash"])
        let overlay = f.out.appendingPathComponent("a.vocaseg.mp4").path
        let firstWrite = try FileManager.default.attributesOfItem(atPath: overlay)[.modificationDate] as? Date
        try touch(-100)
        try runOnce(["--content-hash"])
        var rows = try journal(f)
        #expect(rows.count == 2 && rows.allSatisfy { $0.state == .done })
        #expect(rows[1].frames == nil && rows[1].contentDigest == rows[0].contentDigest && rows[0].contentDigest != nil)
        #expect(rows[1].outputList == rows[0].outputList && !rows[0].outputList.isEmpty)
        let secondWrite = try FileManager.default.attributesOfItem(atPath: overlay)[.modificationDate] as? Date
        #expect(firstWrite != nil && secondWrite == firstWrite, "the unchanged file was processed again")
        // Without the flag the same touch means a new version, processed again.
        try touch(-200)
        try runOnce([])
        rows = try journal(f)
        #expect(rows.count == 3 && rows[2].state == .done && rows[2].frames == 10)
        // New contents under --content-hash: processed.
        try makeClip(clip, frames: 12, seed: 7)
        try runOnce(["--content-hash"])
        rows = try journal(f)
        #expect(rows.count == 4 && rows[3].state == .done && rows[3].frames == 12)
        #expect(try videoFrameTimes(overlay).count == 12)
    }

    /// Bytes that are no media file: the same pseudo-random ones every run (a 64-bit LCG, top bits).
    func writeNoise(_ url: URL, count: Int) throws {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        try Data(bytes).write(to: url)
    }

    /// Worker processes of this test's watcher still alive (Linux: read from /proc; elsewhere not checked).
    func liveWorkers(_ f: Folder) -> [String] {
        #if os(Linux)
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil } ?? []
        return pids.compactMap { pid -> String? in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            return line.contains("--worker") && line.contains(f.root.path) ? line : nil
        }
        #else
        return []
        #endif
    }

    /// Jobs run in worker processes: an input that kills its worker (the harness's `crash-me` hook calls abort(),
    /// as a decoder with a corrupted heap would) is retried, then quarantined with the signal named, while a
    /// corrupt input fails at once and the good ones are done, two workers at a time.
    @Test func anInputThatKillsItsWorkerIsQuarantinedAfterItsAttemptsAndTheRestIsDone() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        try makeClip(f.inbox.appendingPathComponent("a.mp4"), frames: 10, seed: 1)
        try makeClip(f.inbox.appendingPathComponent("b.mp4"), frames: 12, seed: 2)
        try makeClip(f.inbox.appendingPathComponent("crash-me.mp4"), frames: 10, seed: 3)
        try writeNoise(f.inbox.appendingPathComponent("x.mp4"), count: 20_000)
        let p = try startHarness(f, ["--once", "--attempts", "2", "--backoff", "0.1", "--jobs", "2"])
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        try expectExactlyOnce(f, inputs: ["a.mp4": 10, "b.mp4": 12])

        let rows = try journal(f)
        #expect(rows.count == 4)
        let crash = try #require(rows.first { $0.path == "crash-me.mp4" })
        #expect(crash.state == .quarantined && crash.attempts == 2, "\(crash)")
        #expect(crash.error?.hasPrefix("worker killed by signal 6 (SIGABRT)") == true, "\(crash.error ?? "")")
        let corrupt = try #require(rows.first { $0.path == "x.mp4" })
        #expect(corrupt.state == .failed && corrupt.attempts == 1, "\(corrupt)")
        #expect(corrupt.error?.contains("x.mp4") == true && corrupt.error?.contains("signal") == false,
                "\(corrupt.error ?? "")")

        let failed = f.inbox.appendingPathComponent("failed")
        for name in ["crash-me.mp4", "x.mp4"] {
            #expect(FileManager.default.fileExists(atPath: failed.appendingPathComponent(name).path), "\(name)")
            #expect(!FileManager.default.fileExists(atPath: f.inbox.appendingPathComponent(name).path), "\(name)")
        }
        let text = try String(contentsOf: failed.appendingPathComponent("crash-me.mp4.error.txt"), encoding: .utf8)
        #expect(text.contains("attempts: 2") && text.contains("error: worker killed by signal 6 (SIGABRT)"), "\(text)")
        let report = try JobsReport.load(outputDirectory: f.out.path)
        #expect(report.counts["done"] == 2 && report.counts["failed"] == 1 && report.counts["quarantined"] == 1
                    && report.counts["running"] == 0 && report.counts["retrying"] == 0, "\(report.counts)")
        #expect(report.text.contains("crash-me.mp4 [quarantined, 2 attempt(s)]: worker killed by signal 6 (SIGABRT)"),
                "\(report.text)")
        #expect(liveWorkers(f).isEmpty)
    }

    /// The watcher itself SIGKILLed mid-job: its worker dies with it (nothing keeps writing into staging), and on
    /// restart the interrupted attempt counts. With --attempts 2, two kills mid-job quarantine the input without a
    /// third run, instead of a crash loop that shows `running 1` forever.
    @Test func aWatcherKilledMidJobCountsTheAttemptOnRestart() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        try makeClip(f.inbox.appendingPathComponent("long.mp4"), frames: 50, seed: 8)
        let journalPath = WatchService.journalPath(outputDirectory: f.out.path)
        func killMidJob(attempt: Int) throws {
            let p = try startHarness(f, ["--frame-delay", "0.05", "--attempts", "2", "--backoff", "0.1"])
            defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
            // Until the job runs its `attempt`-th attempt, then into its frames (50 ms each, 2.5 s in all). Generous:
            // on a loaded 2-core machine the harness's start-up alone has taken seconds.
            let deadline = Date().addingTimeInterval(90)
            func running() -> Bool {
                guard FileManager.default.fileExists(atPath: journalPath),
                      let row = (try? journal(f))?.first else { return false }
                return row.state == .running && row.attempts == attempt
            }
            while Date() < deadline && !running() { Thread.sleep(forTimeInterval: 0.05) }
            let rows: String
            do { rows = "\(try journal(f))" } catch { rows = "journal unreadable: \(error)" }
            let context = "attempt \(attempt) never started (harness running: \(p.isRunning)): \(rows)\n\(harnessLog(f))"
            try #require(running(), Comment(rawValue: context))
            Thread.sleep(forTimeInterval: 0.6)
            #if os(Linux)
            // The orphan check below sees workers at all.
            #expect(liveWorkers(f).count == 1, "workers before the kill: \(liveWorkers(f))")
            #endif
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let orphansGone = Date().addingTimeInterval(5)
            while Date() < orphansGone && !liveWorkers(f).isEmpty { Thread.sleep(forTimeInterval: 0.05) }
            #expect(liveWorkers(f).isEmpty, "a worker outlived its watcher")
            let row = try #require(try journal(f).first)
            #expect(row.state == .running && row.attempts == attempt, "\(row)")
        }
        try killMidJob(attempt: 1)
        // The restart counts the first attempt as failed and makes the second.
        try killMidJob(attempt: 2)
        let last = try startHarness(f, ["--once", "--attempts", "2", "--backoff", "0.1"])
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)
        let rows = try journal(f)
        #expect(rows.count == 1 && rows[0].state == .quarantined && rows[0].attempts == 2, "\(rows)")
        #expect(rows[0].error == "the watcher stopped or crashed during attempt 2", "\(rows[0].error ?? "")")
        let failed = f.inbox.appendingPathComponent("failed")
        #expect(FileManager.default.fileExists(atPath: failed.appendingPathComponent("long.mp4").path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.out.path).filter { !$0.hasPrefix(".") }.isEmpty)
        let staging = f.out.appendingPathComponent(".vocaseg-staging").path
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).isEmpty)
    }

    /// A pipeline that asks for panoptic outputs from a semantic model is refused when the watcher starts (usage
    /// error naming the pipeline file), instead of every job failing and being quarantined.
    @Test func panopticOutputsFromASemanticModelAreRefusedAtStartUp() throws {
        let f = try makeFolder(pipeline: "vocabulary: [left, middle, right]\noutputs:\n  panoptic: true\n")
        defer { try? FileManager.default.removeItem(at: f.root) }
        try makeClip(f.inbox.appendingPathComponent("a.mp4"), frames: 3, seed: 1)
        let p = try startHarness(f, ["--once"])  // no --panoptic: the workers would run the semantic stand-in
        p.waitUntilExit()
        #expect(p.terminationStatus == VocaSegError(.usage, "").exitCode)
        let said = harnessLog(f)
        #expect(said.contains("needs a panoptic model") && said.contains(f.pipeline.lastPathComponent), "\(said)")
        #expect(!FileManager.default.fileExists(atPath: f.out.appendingPathComponent("a.mp4").path))
    }

    /// The stand-in panoptic model through watch (`WatchHarness --panoptic`) with every output a pipeline file can
    /// ask for: overlay, label maps, COCO panoptic folder, JSON lines with segments and RLE masks.
    @Test func aPanopticJobWritesEveryPanopticOutput() throws {
        // Block-style list: in a flow list the [stuff] markers would read as nested lists.
        let f = try makeFolder(pipeline: """
            vocabulary:
              - "grass [stuff]"
              - "sky [stuff]"
              - person
              - car
            outputs:
              masks: true
              jsonl: true
              panoptic: true
              rle: true
              overlay:
                legend: false
            """)
        defer { try? FileManager.default.removeItem(at: f.root) }
        let frames = 8
        // Made outside the inbox and moved in whole, so the watcher never sees a half-written clip.
        let clip = try makeShapesClip(in: f.root, frames: frames)
        try FileManager.default.moveItem(atPath: clip, toPath: f.inbox.appendingPathComponent("shapes.mp4").path)
        let p = try startHarness(f, ["--once", "--panoptic"])
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let rows = try journal(f)
        #expect(rows.map(\.state) == [.done], "\(rows.map { "\($0.state) \($0.error ?? "")" })")

        #expect(try videoFrameTimes(f.out.appendingPathComponent("shapes.vocaseg.mp4").path).count == frames)
        let masks = try FileManager.default.contentsOfDirectory(atPath: f.out.appendingPathComponent("shapes.vocaseg.masks").path)
        #expect(masks.filter { $0.hasSuffix(".png") }.count == frames)
        let panoptic = f.out.appendingPathComponent("shapes.vocaseg.panoptic")
        let pngs = try FileManager.default.contentsOfDirectory(atPath: panoptic.path).filter { $0.hasSuffix(".png") }
        #expect(pngs.count == frames)
        let doc = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: panoptic.appendingPathComponent("panoptic.json"))) as? [String: Any])
        let annotations = try #require(doc["annotations"] as? [[String: Any]])
        #expect(annotations.count == frames)
        #expect(Set(annotations.compactMap { $0["file_name"] as? String }) == Set(pngs))
        let categories = try #require(doc["categories"] as? [[String: Any]])
        #expect(categories.map { $0["isthing"] as? Int } == [0, 0, 1, 1])

        let lines = try String(contentsOf: f.out.appendingPathComponent("shapes.vocaseg.jsonl"), encoding: .utf8)
            .split(whereSeparator: \.isNewline)
            .map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(lines.count == frames + 1)
        #expect(lines.first?["task"] as? String == "panoptic")
        for line in lines.dropFirst() {
            let segments = try #require(line["segments"] as? [[String: Any]], "frame \(line["frame"] ?? "?")")
            // Frames 0-7: grass, sky, two people, one car, each with its mask.
            #expect(segments.count == 5)
            #expect(segments.allSatisfy { ($0["rle"] as? [String: Any])?["counts"] is String })
        }
    }

    /// `watch --task` overrides the pipeline's task and is checked against the family at start-up.
    @Test func watchTaskIsCheckedAgainstTheFamily() throws {
        let f = try makeFolder()
        defer { try? FileManager.default.removeItem(at: f.root) }
        let r = try run(Repo.cli, ["watch", f.inbox.path, "--pipeline", f.pipeline.path, "--out", f.out.path, "--once",
                                   "--task", "panoptic"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--task panoptic: ERR-Seg offers semantic only"), "\(r.stderr)")
    }

    @Test func aPipelineTypoIsReportedWithItsField() throws {
        let f = try makeFolder(pipeline: "vocabulary: [a, b]\noutputs:\n  jsnol: true\n")
        defer { try? FileManager.default.removeItem(at: f.root) }
        let r = try run(Repo.cli, ["watch", f.inbox.path, "--pipeline", f.pipeline.path, "--out", f.out.path, "--once"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("pipeline.yaml") && r.stderr.contains("outputs.jsnol")
            && r.stderr.contains("did you mean outputs.jsonl"), "\(r.stderr)")
    }
}
