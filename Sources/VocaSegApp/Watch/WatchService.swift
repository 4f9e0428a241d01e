import Dispatch
import Foundation
import Logging
import VocaSegCore

public struct WatchOptions: Sendable {
    public var inbox: String
    public var pipelineFile: String
    public var outputDirectory: String
    /// Jobs processed at once, each in a worker process of its own. Unless `threads` is given, the cores are shared
    /// out between them (inference in one job already uses every core).
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
    /// Inference threads per worker (nil: all cores for one job, an equal share of them for several).
    public var threads: Int?
    /// `semantic` or `panoptic`, over the pipeline file's `task` (for a family that offers both).
    public var task: String?
    /// Whether the configured model runs a panoptic task, asked at start-up when the pipeline wants panoptic-only
    /// outputs (nil: the model registry decides). The watch tests' harness, whose workers run a stand-in panoptic
    /// model, answers for it.
    public var modelIsPanoptic: (@Sendable (SegmentOptions) throws -> Bool)?
    /// The worker command: this executable (nil) or another, with these arguments before the job file's path.
    /// The watch tests' harness points it at itself with its stand-in model.
    public var workerExecutable: String?
    public var workerArguments = ["watch-job"]

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
/// - Each job runs in a worker process (`WatchWorker`) that writes the staged outputs; this process keeps the
///   journal, the commit and the attempt count. A worker that crashes or is killed (abort, SIGSEGV, the OOM
///   killer) is a failed attempt whose error names the signal, and the watcher goes on.
/// - An attempt is counted when the job is claimed, before any work: a job found `running` at start-up (the
///   watcher itself died) is a failed attempt too, so an input that kills the watcher every time still ends in
///   `failed/` instead of a crash loop.
/// - Unreadable or corrupt inputs fail for good at once; other failures are retried with exponential backoff, and
///   after `maxAttempts` the input is moved to `INBOX/failed/` with an `.error.txt` beside it.
/// - A model problem (worker exit 4) is the same for every input: the job is requeued without counting and the
///   watcher stops with that error, as it did when it loaded the model itself.
/// - `requestStop()` (SIGTERM/SIGINT): no new job starts; workers get SIGTERM, running jobs are abandoned cleanly
///   (staging deleted, requeued without counting the attempt) and `run()` returns.
public final class WatchService: @unchecked Sendable {
    public let options: WatchOptions
    private let logger: Logger
    private let lock = NSLock()
    private var stopRequested = false
    private var activeWorkers: [Int64: WorkerProcess] = [:]
    private var active = 0
    private var completed = 0
    /// A worker's model error: ends `run()` with it.
    private var modelError: VocaSegError?

    static let journalName = ".vocaseg-journal.sqlite"
    public static let stagingName = ".vocaseg-staging"
    static let completeMarker = "COMPLETE"

    public init(options: WatchOptions, logger: Logger = Logger(label: "vocaseg.watch")) {
        self.options = options
        self.logger = logger
    }

    public func requestStop() {
        lock.lock()
        stopRequested = true
        let workers = Array(activeWorkers.values)
        lock.unlock()
        for w in workers { w.signal(SIGTERM) }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    public static func journalPath(outputDirectory: String) -> String {
        (outputDirectory as NSString).appendingPathComponent(journalName)
    }

    /// Reads the pipeline file once (every job runs with the text checked here, even if the file is edited while
    /// the watcher runs) and checks what would otherwise fail every job: flags, the model's task against the wanted
    /// outputs, the vocabulary, the inbox and the output folder. Returns the text and the options it gives.
    /// Notices about the configuration (a vocabulary file naming classes alike) go to `logger`, once per watcher.
    public static func checkConfiguration(_ options: WatchOptions, logger: Logger? = nil) throws
        -> (String, SegmentOptions)
    {
        guard let data = FileManager.default.contents(atPath: options.pipelineFile),
              let pipelineText = String(data: data, encoding: .utf8) else {
            _ = try PipelineFile.load(path: options.pipelineFile)  // its error says why
            throw VocaSegError(.usage, "pipeline file cannot be read", path: options.pipelineFile)
        }
        var segment = SegmentOptions()
        try PipelineFile.parse(pipelineText, path: options.pipelineFile).apply(to: &segment, explicitlySet: [])
        segment.inputs = ["(watch)"]
        segment.progress = .never
        if let threads = options.threads { segment.threads = threads }
        if let task = options.task { segment.task = task }
        try segment.validateFlags()
        // A semantic model cannot fill panoptic outputs: said once here, not as a failed attempt of every job.
        let wanted = segment.panopticOnlyOutputs
        if !wanted.isEmpty, try !(options.modelIsPanoptic ?? ModelLoader.runsPanoptic)(segment) {
            throw VocaSegError(.usage, "\(wanted.joined(separator: ", ")) needs a panoptic model; \(segment.model) runs "
                               + "semantic segmentation (set model/task in the pipeline file, or --task panoptic)",
                               path: options.pipelineFile)
        }
        guard options.jobs >= 0, options.maxAttempts >= 1, options.settleSeconds >= 0 else {
            throw VocaSegError(.usage, "--jobs must not be negative, attempts at least 1, --settle not negative")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: options.inbox, isDirectory: &isDir), isDir.boolValue else {
            throw VocaSegError(.input, "inbox is not a directory", path: options.inbox)
        }
        try OutputPlan.ensureDirectory(options.outputDirectory, what: "output directory")
        // Checked here (the model name and settings in validateFlags above) so that a bad vocabulary or model name
        // stops the watcher instead of failing every job.
        let vocabulary = try VocabularyLoader.load(classes: segment.classes, file: segment.vocabularyFile)
        for notice in VocabularyLoader.notices(for: vocabulary, file: segment.vocabularyFile) {
            logger?.notice("\(notice)")
        }
        return (pipelineText, segment)
    }

    /// Runs until stopped (or, with `once`, until the inbox is drained). Returns the number of jobs finished.
    @discardableResult
    public func run() throws -> Int {
        let (pipelineText, segment) = try WatchService.checkConfiguration(options, logger: logger)
        guard options.jobs >= 1 else { throw VocaSegError(.usage, "--jobs must be at least 1 without --queue") }
        let journal = try JobJournal(path: WatchService.journalPath(outputDirectory: options.outputDirectory))
        let staging = (options.outputDirectory as NSString).appendingPathComponent(WatchService.stagingName)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try recover(journal: journal, staging: staging)

        let threads = segment.threads
            ?? (options.jobs > 1 ? max(1, ProcessInfo.processInfo.activeProcessorCount / options.jobs) : nil)
        let worker = WorkerLaunch(executable: options.workerExecutable ?? WorkerProcess.currentExecutable,
                                  arguments: options.workerArguments, pipelineText: pipelineText, threads: threads,
                                  task: options.task)
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
                    self.process(job, journal: journal, staging: staging, worker: worker)
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
        lock.lock()
        let modelError = self.modelError
        lock.unlock()
        if let modelError { throw modelError }
        return completedCount
    }

    private var activeCount: Int { lock.lock(); defer { lock.unlock() }; return active }
    private var completedCount: Int { lock.lock(); defer { lock.unlock() }; return completed }
    private func adjustActive(_ d: Int) { lock.lock(); active += d; lock.unlock() }

    private func log(_ job: JobRecord, state: JobRecord.State, _ extra: Logger.Metadata = [:]) {
        var metadata: Logger.Metadata = ["job": "\(job.id ?? -1)", "input": "\(job.path)", "state": "\(state.rawValue)",
                                         "attempt": "\(job.attempts)"]
        metadata.merge(extra) { $1 }
        if state == .failed || state == .quarantined || state == .retrying {
            logger.warning("job \(state.rawValue)", metadata: metadata)
        } else {
            logger.info("job \(state.rawValue)", metadata: metadata)
        }
    }

    // MARK: - Recovery after a crash

    /// Jobs a dead watcher left running: roll forward those whose outputs were complete; the others were a failed
    /// attempt (counted when they were claimed), retried after the backoff or, at the limit, quarantined. Then
    /// every staging folder that no longer belongs to a job is deleted.
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
                try? FileManager.default.removeItem(atPath: dir)
                fail(job, message: "the watcher stopped or crashed during attempt \(job.attempts)", permanent: false,
                     journal: journal)
            }
        }
        // Whatever else is in staging belongs to no running job.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? [] {
            try? FileManager.default.removeItem(atPath: (staging as NSString).appendingPathComponent(name))
        }
    }

    // MARK: - One job

    /// How to start a worker, fixed for the watcher's run.
    struct WorkerLaunch {
        var executable: String
        var arguments: [String]
        var pipelineText: String
        var threads: Int?
        var task: String?
    }

    /// Runs one job in a worker process, then commits its outputs or records the failed attempt.
    private func process(_ job: JobRecord, journal: JobJournal, staging: String, worker launch: WorkerLaunch) {
        guard let id = job.id else { return }
        let start = Date().timeIntervalSince1970
        let dir = (staging as NSString).appendingPathComponent("job-\(id)")
        do {
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let spec = WatchWorker.Spec(input: (options.inbox as NSString).appendingPathComponent(job.path),
                                        relativePath: job.path, stagingDirectory: dir,
                                        pipelineFile: options.pipelineFile, pipelineText: launch.pipelineText,
                                        threads: launch.threads, task: launch.task)
            let specPath = (dir as NSString).appendingPathComponent(WatchWorker.specName)
            try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: specPath))

            let (termination, errorLine) = try runWorker(id, launch: launch, specPath: specPath)
            switch WatchWorker.outcome(of: termination, errorLine: errorLine, stagingDirectory: dir,
                                       stopping: isStopping, input: spec.input) {
            case .finished(let result):
                try commit(job, result: result, dir: dir, journal: journal, start: start)
            case .stopped:
                abandon(job, dir: dir, journal: journal)
            case .modelProblem(let message):
                // The model cannot be loaded: every job would fail the same way. Not this input's fault.
                try? FileManager.default.removeItem(atPath: dir)
                try journal.requeue(id, now: Date().timeIntervalSince1970)
                log(job, state: .queued, ["reason": "model problem", "error": "\(message)"])
                lock.lock()
                if modelError == nil { modelError = VocaSegError(.model, message) }
                lock.unlock()
                requestStop()
            case .failed(let message, let permanent):
                try? FileManager.default.removeItem(atPath: dir)
                fail(job, message: message, permanent: permanent, journal: journal)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            let message = (error as? VocaSegError)?.description ?? String(describing: error)
            fail(job, message: message, permanent: (error as? VocaSegError)?.kind == .input, journal: journal)
        }
    }

    /// Starts the worker, relays its stderr (each line tagged with the job) and waits for it. Returns how it ended
    /// and its error line: the line it wrote with `WatchWorker.errorPrefix`, else its last line.
    private func runWorker(_ id: Int64, launch: WorkerLaunch, specPath: String)
        throws -> (WorkerProcess.Termination, String?)
    {
        try WorkerProcess.runJob(executable: launch.executable, arguments: launch.arguments + [specPath], tag: "job \(id)",
                                 started: { worker in
                                     lock.lock()
                                     activeWorkers[id] = worker
                                     let stopping = stopRequested
                                     lock.unlock()
                                     // A stop that came between the claim and the spawn did not reach this worker.
                                     if stopping { worker.signal(SIGTERM) }
                                 },
                                 ended: {
                                     lock.lock()
                                     activeWorkers[id] = nil
                                     lock.unlock()
                                 })
    }

    /// A stop abandoned the job: staging deleted, requeued, the attempt not counted.
    private func abandon(_ job: JobRecord, dir: String, journal: JobJournal) {
        guard let id = job.id else { return }
        try? FileManager.default.removeItem(atPath: dir)
        do {
            try journal.requeue(id, now: Date().timeIntervalSince1970)
            log(job, state: .queued, ["reason": "stopped"])
        } catch {
            logger.error("journal update failed", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }

    /// The worker's staged outputs go into place: marker, journal, renames, done.
    private func commit(_ job: JobRecord, result: WatchWorker.Result, dir: String, journal: JobJournal,
                        start: Double) throws {
        guard let id = job.id else { return }
        let finals = result.outputs.map { (options.outputDirectory as NSString).appendingPathComponent($0) }
        try checkNoForeignOutputs(finals, journal: journal)
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
        try journal.markDone(id, frames: result.frames, seconds: seconds, now: Date().timeIntervalSince1970)
        lock.lock()
        completed += 1
        lock.unlock()
        log(job, state: .done, ["frames": "\(result.frames)", "seconds": "\(String(format: "%.2f", seconds))"])
    }

    /// A failed attempt: failed for good when it cannot succeed (`permanent`: unreadable input), quarantined when it
    /// was the last one allowed, otherwise retried after the backoff. Both final states move the input to
    /// `failed/` with an `.error.txt`.
    private func fail(_ job: JobRecord, message: String, permanent: Bool, journal: JobJournal) {
        guard let id = job.id else { return }
        let now = Date().timeIntervalSince1970
        do {
            if permanent || job.attempts >= options.maxAttempts {
                let state: JobRecord.State = permanent ? .failed : .quarantined
                try quarantine(job, message: message)
                try journal.markGivenUp(id, state: state, error: message, now: now)
                log(job, state: state, ["error": "\(message)"])
            } else {
                let delay = options.backoffSeconds * pow(2, Double(max(job.attempts - 1, 0)))
                try journal.markRetrying(id, error: message, retryAt: now + delay, now: now)
                log(job, state: .retrying, ["error": "\(message)", "retry_in_s": "\(delay)"])
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

    /// Never replaces a file the journal does not know as one of ours, unless `--overwrite`.
    private func checkNoForeignOutputs(_ finals: [String], journal: JobJournal) throws {
        guard !options.overwrite else { return }
        let ours = Set(try journal.allJobs().filter { $0.state == .done }.flatMap(\.outputList))
        for path in finals where FileManager.default.fileExists(atPath: path) && !ours.contains(path) {
            throw VocaSegError(.usage, "output already exists and was not written by this watcher (use --overwrite)",
                               path: path)
        }
    }

    /// Renames one staged output (file or masks folder) to its final path, creating the folders above it and
    /// replacing an older version of our own; shared with the queue workers' commits.
    public static func moveIntoPlace(_ staged: String, _ final: String) throws {
        try FileManager.default.createDirectory(atPath: (final as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: final, isDirectory: &isDir), isDir.boolValue {
            try FileManager.default.removeItem(atPath: final)  // an older masks folder of ours
        }
        guard rename(staged, final) == 0 else {
            throw VocaSegError(.io, "cannot move output into place: \(String(cString: strerror(errno)))", path: final)
        }
    }

    /// Renames staged outputs into place (replacing older versions of our own), then drops the staging folder.
    private func publish(stagingDir: String, outputs: [String]) throws {
        for final in outputs {
            let relative = String(final.dropFirst(options.outputDirectory.count).drop { $0 == "/" })
            let staged = (stagingDir as NSString).appendingPathComponent(relative)
            guard FileManager.default.fileExists(atPath: staged) else { continue }  // moved before a crash
            try WatchService.moveIntoPlace(staged, final)
        }
        try? FileManager.default.removeItem(atPath: stagingDir)
    }
}
