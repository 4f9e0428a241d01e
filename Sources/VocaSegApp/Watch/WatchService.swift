import Dispatch
import Foundation
import Logging
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline
import VocaSegRender

public struct WatchOptions: Sendable {
    public var inbox: String
    public var pipelineFile: String
    public var outputDirectory: String
    /// Jobs processed at once. Inference uses every core, so more than one only overlaps decode/encode of one job
    /// with inference of another; the model itself runs one frame at a time.
    public var jobs = 1
    /// Process what is in the inbox (waiting for files to settle and retries to fall due), then exit.
    public var once = false
    public var settleSeconds = 5.0
    public var recursive = false
    public var maxAttempts = 3
    /// Retry n waits `backoffSeconds · 2^(n−1)`.
    public var backoffSeconds = 10.0
    public var pollSeconds = 1.0
    /// Replace output files that the journal does not know as ours.
    public var overwrite = false
    /// Digest each new input version (`FileDigest.fnv1a`, one read of the file) and skip it when its contents
    /// equal an earlier version of the same path, e.g. a file touched or copied in again.
    public var contentHash = false

    public init(inbox: String, pipelineFile: String, outputDirectory: String) {
        self.inbox = inbox
        self.pipelineFile = pipelineFile
        self.outputDirectory = outputDirectory
    }
}

/// `vocaseg watch`: turns files dropped into an inbox into outputs, exactly once, for as long as it runs.
///
/// Durability rules:
/// - Outputs are produced in a hidden staging folder (`OUT/.vocaseg-staging/job-N/`), then a `COMPLETE` marker is
///   written, the final paths are recorded in the journal, and the outputs are renamed into place; only then is
///   the job marked done. A crash before the marker: the staging folder is deleted and the job requeued. A crash
///   after it: the renames are rolled forward. Either way no output is lost, duplicated or half-written.
/// - Unreadable or corrupt inputs fail for good at once; other failures are retried with exponential backoff, and
///   after `maxAttempts` the input is moved to `INBOX/failed/` with an `.error.txt` beside it.
/// - `requestStop()` (SIGTERM/SIGINT): no new job starts; running jobs are abandoned cleanly (staging deleted,
///   requeued without counting the attempt) and `run()` returns.
public final class WatchService: @unchecked Sendable {
    public let options: WatchOptions
    private let logger: Logger
    private let modelProvider: (SegmentOptions) throws -> SegmentationModel
    private let lock = NSLock()
    private var stopRequested = false
    private var activePipelines: [Int64: FramePipeline] = [:]
    private var active = 0
    private var completed = 0

    static let journalName = ".vocaseg-journal.sqlite"
    static let stagingName = ".vocaseg-staging"
    static let completeMarker = "COMPLETE"

    public init(options: WatchOptions, logger: Logger = Logger(label: "vocaseg.watch"),
                modelProvider: ((SegmentOptions) throws -> SegmentationModel)? = nil) {
        self.options = options
        self.logger = logger
        self.modelProvider = modelProvider ?? { o in try ModelLoader.load(options: o) }
    }

    public func requestStop() {
        lock.lock()
        stopRequested = true
        let pipelines = Array(activePipelines.values)
        lock.unlock()
        for p in pipelines { p.requestStop() }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    public static func journalPath(outputDirectory: String) -> String {
        (outputDirectory as NSString).appendingPathComponent(journalName)
    }

    /// Runs until stopped (or, with `once`, until the inbox is drained). Returns the number of jobs finished.
    @discardableResult
    public func run() throws -> Int {
        var segment = SegmentOptions()
        try PipelineFile.load(path: options.pipelineFile).apply(to: &segment, explicitlySet: [])
        segment.inputs = ["(watch)"]
        segment.progress = .never
        try segment.validateFlags()
        guard options.jobs >= 1, options.maxAttempts >= 1, options.settleSeconds >= 0 else {
            throw VocaSegError(.usage, "--jobs and attempts must be at least 1, --settle not negative")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.inbox, isDirectory: &isDir), isDir.boolValue else {
            throw VocaSegError(.input, "inbox is not a directory", path: options.inbox)
        }
        try OutputPlan.ensureDirectory(options.outputDirectory, what: "output directory")
        let vocabulary = try VocabularyLoader.load(classes: segment.classes, file: segment.vocabularyFile)
        let journal = try JobJournal(path: WatchService.journalPath(outputDirectory: options.outputDirectory))
        let staging = (options.outputDirectory as NSString).appendingPathComponent(WatchService.stagingName)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try recover(journal: journal, staging: staging)

        // One model and one set of text embeddings for every job.
        let loaded = try modelProvider(segment)
        if loaded.usesRandomWeights {
            logger.warning("RANDOM WEIGHTS: \(loaded.name) runs with seeded random weights; outputs are meaningless")
        }
        try loaded.prepare(vocabulary: vocabulary)
        let model: SegmentationModel = options.jobs > 1 ? SerializedModel(loaded) : loaded
        let runner = SegmentJob(options: segment, logger: logger, modelProvider: { _ in model })
        let renderer = try runner.makeRenderer(vocabulary: vocabulary)
        let scanner = InboxScanner(inbox: options.inbox, settleSeconds: options.settleSeconds,
                                   recursive: options.recursive)
        let workers = DispatchGroup()
        let workQueue = DispatchQueue(label: "vocaseg.watch.jobs", attributes: .concurrent)
        logger.info("watching", metadata: ["inbox": "\(options.inbox)", "out": "\(options.outputDirectory)",
                                           "jobs": "\(options.jobs)", "settle": "\(options.settleSeconds)"])

        while !isStopping {
            let now = Date().timeIntervalSince1970
            let scan = scanner.scan(now: now)
            for file in scan.ready where try !journal.knows(file) {
                let digest = options.contentHash
                    ? FileDigest.fnv1a((options.inbox as NSString).appendingPathComponent(file.relativePath)) : nil
                switch try journal.enqueue(file, digest: digest, now: now) {
                case .known: break
                case .queued(let job): log(job, state: .queued)
                case .unchanged(let job, let earlier):
                    log(job, state: .done, ["reason": "unchanged contents", "same_as_job": "\(earlier)"])
                }
            }
            while !isStopping, activeCount < options.jobs, let job = try journal.claimNext(now: now) {
                log(job, state: .running)
                adjustActive(+1)
                workers.enter()
                workQueue.async {
                    defer { self.adjustActive(-1); workers.leave() }
                    self.process(job, journal: journal, staging: staging, runner: runner, model: model,
                                 vocabulary: vocabulary, renderer: renderer)
                }
            }
            if options.once && activeCount == 0 && scan.settling == 0 {
                let pending = try journal.pendingCount()
                if pending == 0 { break }
                // Only retries in the future remain: sleep until the first is due rather than spinning.
                if let next = try journal.nextRetryTime(), next > now {
                    Thread.sleep(forTimeInterval: min(next - now, 60))
                    continue
                }
            }
            Thread.sleep(forTimeInterval: options.pollSeconds)
        }
        workers.wait()
        logger.info("stopped", metadata: ["completed": "\(completedCount)"])
        return completedCount
    }

    private var activeCount: Int { lock.lock(); defer { lock.unlock() }; return active }
    private var completedCount: Int { lock.lock(); defer { lock.unlock() }; return completed }
    private func adjustActive(_ d: Int) { lock.lock(); active += d; lock.unlock() }

    private func log(_ job: JobRecord, state: JobRecord.State, _ extra: Logger.Metadata = [:]) {
        var metadata: Logger.Metadata = ["job": "\(job.id ?? -1)", "input": "\(job.path)", "state": "\(state.rawValue)",
                                         "attempt": "\(job.attempts)"]
        metadata.merge(extra) { $1 }
        if state == .failed || state == .quarantined {
            logger.warning("job \(state.rawValue)", metadata: metadata)
        } else {
            logger.info("job \(state.rawValue)", metadata: metadata)
        }
    }

    // MARK: - Recovery after a crash

    /// Jobs a dead process left running: roll forward those whose outputs were complete, requeue the rest, and
    /// delete every staging folder that no longer belongs to a job.
    func recover(journal: JobJournal, staging: String) throws {
        let now = Date().timeIntervalSince1970
        for job in try journal.runningJobs() {
            guard let id = job.id else { continue }
            let dir = (staging as NSString).appendingPathComponent("job-\(id)")
            let marker = (dir as NSString).appendingPathComponent(WatchService.completeMarker)
            if FileManager.default.fileExists(atPath: marker), !job.outputList.isEmpty {
                try publish(stagingDir: dir, outputs: job.outputList)
                try journal.markDone(id, frames: job.frames ?? 0, seconds: job.seconds ?? 0, now: now)
                log(job, state: .done, ["recovered": "rolled forward"])
            } else {
                try journal.requeueAfterCrash(id, now: now)
                try? FileManager.default.removeItem(atPath: dir)
                log(job, state: .queued, ["recovered": "requeued"])
            }
        }
        // Whatever else is in staging belongs to no running job.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? [] {
            try? FileManager.default.removeItem(atPath: (staging as NSString).appendingPathComponent(name))
        }
    }

    // MARK: - One job

    private func process(_ job: JobRecord, journal: JobJournal, staging: String, runner: SegmentJob,
                         model: SegmentationModel, vocabulary: Vocabulary, renderer: OverlayRenderer) {
        guard let id = job.id else { return }
        let start = Date().timeIntervalSince1970
        let input = (options.inbox as NSString).appendingPathComponent(job.path)
        let dir = (staging as NSString).appendingPathComponent("job-\(id)")
        do {
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let info = try MediaSource(path: input).info
            // Outputs mirror the input's place in the inbox; names come from the pipeline file's `naming`.
            let subdir = (job.path as NSString).deletingLastPathComponent
            var planOptions = runner.options
            planOptions.inputs = [input]
            planOptions.output = subdir.isEmpty ? dir : (dir as NSString).appendingPathComponent(subdir)
            try FileManager.default.createDirectory(atPath: planOptions.output!, withIntermediateDirectories: true)
            guard let plan = try OutputPlan.make(inputs: [(input, info.isStillImage)], options: planOptions).first else {
                throw VocaSegError(.internal, "no output plan")
            }
            let staged = [plan.overlay, plan.masksDirectory, plan.jsonLines].compactMap { $0 }
            let finals = staged.map { finalPath(forStaged: $0, stagingDir: dir) }
            try checkNoForeignOutputs(finals, journal: journal)

            let report = try runner.runOne(plan: plan, info: info, model: model, vocabulary: vocabulary,
                                           renderer: renderer) { pipeline in
                self.lock.lock()
                self.activePipelines[id] = pipeline
                let stopping = self.stopRequested
                self.lock.unlock()
                if stopping { pipeline.requestStop() }
            }
            lock.lock()
            activePipelines[id] = nil
            lock.unlock()
            if report.interrupted {
                try? FileManager.default.removeItem(atPath: dir)
                try journal.requeue(id, now: Date().timeIntervalSince1970)
                log(job, state: .queued, ["reason": "stopped"])
                return
            }
            // Commit point: from here on a crash rolls forward.
            let marker = (dir as NSString).appendingPathComponent(WatchService.completeMarker)
            guard FileManager.default.createFile(atPath: marker, contents: Data()) else {
                // Without the marker a restart would not roll this job forward; fail it (it is retried) instead.
                throw VocaSegError(.internal, "cannot write the commit marker: \(String(cString: strerror(errno)))",
                                   path: marker)
            }
            try journal.setOutputs(id, finals)
            try publish(stagingDir: dir, outputs: finals)
            let seconds = Date().timeIntervalSince1970 - start
            try journal.markDone(id, frames: report.frames, seconds: seconds, now: Date().timeIntervalSince1970)
            lock.lock()
            completed += 1
            lock.unlock()
            log(job, state: .done, ["frames": "\(report.frames)", "seconds": "\(String(format: "%.2f", seconds))"])
        } catch {
            lock.lock()
            activePipelines[id] = nil
            lock.unlock()
            try? FileManager.default.removeItem(atPath: dir)
            fail(job, error: error, journal: journal)
        }
    }

    private func fail(_ job: JobRecord, error: Error, journal: JobJournal) {
        guard let id = job.id else { return }
        let now = Date().timeIntervalSince1970
        let message = (error as? VocaSegError)?.description ?? String(describing: error)
        let permanent = (error as? VocaSegError)?.kind == .input
        do {
            if permanent || job.attempts >= options.maxAttempts {
                try quarantine(job, message: message)
                try journal.markQuarantined(id, error: message, now: now)
                log(job, state: .quarantined, ["error": "\(message)"])
            } else {
                let delay = options.backoffSeconds * pow(2, Double(max(job.attempts - 1, 0)))
                try journal.markFailed(id, error: message, retryAt: now + delay, now: now)
                log(job, state: .failed, ["error": "\(message)", "retry_in_s": "\(delay)"])
            }
        } catch {
            logger.error("journal update failed", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }

    /// Moves the input to `INBOX/failed/` (keeping its sub-path) and writes `<name>.error.txt` beside it.
    private func quarantine(_ job: JobRecord, message: String) throws {
        let source = (options.inbox as NSString).appendingPathComponent(job.path)
        let target = ((options.inbox as NSString).appendingPathComponent("failed") as NSString)
            .appendingPathComponent(job.path)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: source) {
            guard rename(source, target) == 0 else {
                throw VocaSegError(.internal, "cannot move to failed/: \(String(cString: strerror(errno)))", path: source)
            }
        }
        let text = "\(job.path)\nattempts: \(job.attempts)\nerror: \(message)\n"
        try text.write(toFile: target + ".error.txt", atomically: true, encoding: .utf8)
    }

    private func finalPath(forStaged staged: String, stagingDir: String) -> String {
        let relative = String(staged.dropFirst(stagingDir.count).drop { $0 == "/" })
        return (options.outputDirectory as NSString).appendingPathComponent(relative)
    }

    /// Never replaces a file the journal does not know as one of ours, unless `--overwrite`.
    private func checkNoForeignOutputs(_ finals: [String], journal: JobJournal) throws {
        guard !options.overwrite else { return }
        let ours = Set(try journal.allJobs().filter { $0.state == .done }.flatMap(\.outputList))
        for path in finals where FileManager.default.fileExists(atPath: path) && !ours.contains(path) {
            throw VocaSegError(.usage, "output already exists and was not written by this watcher (use --overwrite)",
                               path: path)
        }
    }

    /// Renames staged outputs into place (replacing older versions of our own), then drops the staging folder.
    private func publish(stagingDir: String, outputs: [String]) throws {
        for final in outputs {
            let relative = String(final.dropFirst(options.outputDirectory.count).drop { $0 == "/" })
            let staged = (stagingDir as NSString).appendingPathComponent(relative)
            guard FileManager.default.fileExists(atPath: staged) else { continue }  // moved before a crash
            try FileManager.default.createDirectory(atPath: (final as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: final, isDirectory: &isDir), isDir.boolValue {
                try FileManager.default.removeItem(atPath: final)  // an older masks folder of ours
            }
            guard rename(staged, final) == 0 else {
                throw VocaSegError(.internal, "cannot move output into place: \(String(cString: strerror(errno)))",
                                   path: final)
            }
        }
        try? FileManager.default.removeItem(atPath: stagingDir)
    }
}

/// Lets several jobs share one model: frames go through it one at a time (it uses every core already).
final class SerializedModel: SegmentationModel, @unchecked Sendable {
    private let inner: SegmentationModel
    private let lock = NSLock()
    init(_ inner: SegmentationModel) { self.inner = inner }
    var name: String { inner.name }
    var usesRandomWeights: Bool { inner.usesRandomWeights }
    func prepare(vocabulary: Vocabulary) throws { lock.lock(); defer { lock.unlock() }; try inner.prepare(vocabulary: vocabulary) }
    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame { try inner.preprocess(frame) }
    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        lock.lock()
        defer { lock.unlock() }
        return try inner.segment(input, state: &state)
    }
}
