import Dispatch
import Foundation
import Logging
import VocaSegApp
import VocaSegCore
import VocaSegPipeline

public struct FarmWorkerOptions: Sendable {
    /// Jobs at once, each in a process of its own (`vocaseg watch-job`).
    public var jobs = 1
    /// This machine's mount points of the shared inbox and outbox (nil: the paths the watcher recorded).
    public var inbox: String?
    public var outbox: String?
    /// A lease lasts this long unless renewed; the heartbeat renews it every `heartbeatSeconds`.
    public var leaseSeconds = 30.0
    public var heartbeatSeconds = 10.0
    public var pollSeconds = 1.0
    /// Exit once the queue has nothing queued, running or waiting for a retry.
    public var once = false
    public var threads: Int?
    public var overwrite = false
    public var workerExecutable: String?
    public var workerArguments = ["watch-job"]
    public var metrics: FarmMetrics?
    /// This worker's name in the queue (default host:pid:random).
    public var name: String?
    /// Test hook (the farm tests' harness only, no CLI flag): seconds to wait after the first output is moved into
    /// place, so that a test can kill a worker in the middle of a commit.
    public var publishPause = 0.0

    public init() {}
}

/// `vocaseg worker --queue …`: takes jobs from the shared queue and runs each in a worker process, as the
/// single-machine watcher does, under a lease.
///
/// - Claim: `FOR UPDATE SKIP LOCKED` on the oldest due row; the attempt counts from the claim.
/// - Lease: renewed by a heartbeat thread. A lease that could not be renewed (taken over after this worker froze
///   or was cut off for longer than the lease) stops its job's process and its outputs are discarded.
/// - Commit, fenced: the staged outputs become the job's only in the transaction that checks the lease token
///   (`beginPublishing`); the renames follow, then `done`. A worker that dies between the two leaves a
///   `publishing` row whose renames the next reaper rolls forward, so a job is never run twice after its
///   outputs were committed.
/// - Every loop also takes over expired leases (any worker may, so the queue recovers while at least one worker
///   runs) and deletes staging folders that no live attempt owns.
public final class FarmWorker: @unchecked Sendable {
    public let options: FarmWorkerOptions
    public let name: String
    let queue: PostgresJobQueue
    private let logger: Logger
    private let lock = NSLock()
    private var stopRequested = false
    private var modelError: VocaSegError?
    /// Jobs in progress by token: their process (once spawned) and whether their lease was lost.
    private var active: [UUID: (job: ClaimedJob, process: WorkerProcess?, lost: Bool)] = [:]
    private var completed = 0
    private var rootsByConfig: [Int64: SharedRoots] = [:]
    /// Wakes the heartbeat thread early (at the end of `run`), and says when it has ended.
    private let heartbeatWake = DispatchSemaphore(value: 0)
    private let heartbeatEnded = DispatchSemaphore(value: 0)

    public init(queue: PostgresJobQueue, options: FarmWorkerOptions, logger: Logger = Logger(label: "vocaseg.worker")) {
        self.queue = queue
        self.options = options
        self.logger = logger
        name = options.name ?? "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
    }

    public func requestStop() {
        lock.lock()
        stopRequested = true
        let processes = active.values.compactMap(\.process)
        lock.unlock()
        for p in processes { p.signal(SIGTERM) }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }
    private var activeCount: Int { lock.lock(); defer { lock.unlock() }; return active.count }

    /// Runs until stopped (or, with `once`, until the queue is drained). Returns the jobs this worker finished.
    @discardableResult
    public func run() throws -> Int {
        guard options.jobs >= 1, options.leaseSeconds > 0, options.heartbeatSeconds > 0,
              options.heartbeatSeconds < options.leaseSeconds else {
            throw VocaSegError(.usage, "--jobs must be at least 1 and --heartbeat shorter than --lease")
        }
        logger.info("worker started", metadata: ["worker": "\(name)", "queue": "\(queue.address)",
                                                 "jobs": "\(options.jobs)", "lease_s": "\(options.leaseSeconds)"])
        try beat()
        // The latest configuration's roots, so that the first sweep already sees its staging folder.
        if let latest = try queue.latestConfig(),
           let roots = try? SharedRoots(inbox: options.inbox ?? latest.config.inbox,
                                        outbox: options.outbox ?? latest.config.outbox) {
            rootsByConfig[latest.id] = roots
        }
        let heartbeat = Thread { self.heartbeatLoop() }
        heartbeat.start()
        let group = DispatchGroup()
        let workQueue = DispatchQueue(label: "vocaseg.worker.jobs", attributes: .concurrent)
        var lastSweep = 0.0
        while !isStopping {
            do {
                try takeOverExpiredLeases()
                let now = Date().timeIntervalSince1970
                if now - lastSweep > options.heartbeatSeconds {
                    sweepStaging()
                    lastSweep = now
                }
                while !isStopping, activeCount < options.jobs,
                      let job = try queue.claim(worker: name, lease: options.leaseSeconds) {
                    lock.lock()
                    active[job.token] = (job, nil, false)
                    lock.unlock()
                    log(job, state: "running")
                    group.enter()
                    workQueue.async {
                        defer {
                            self.lock.lock()
                            self.active[job.token] = nil
                            self.lock.unlock()
                            group.leave()
                        }
                        self.process(job)
                    }
                }
                if options.once, activeCount == 0, try queue.pendingCount() == 0 { break }
            } catch {
                // The queue is unreachable (server restart, network): keep trying; leases protect the jobs.
                logger.warning("queue unavailable", metadata: ["error": "\(error)"])
            }
            Thread.sleep(forTimeInterval: options.pollSeconds)
        }
        group.wait()
        sweepStaging()
        lock.lock()
        stopRequested = true  // ends the heartbeat thread
        let modelError = self.modelError
        let done = completed
        lock.unlock()
        // No heartbeat may follow the stop mark (a late one would make the worker look alive again).
        heartbeatWake.signal()
        heartbeatEnded.wait()
        queue.workerStopped(name)
        logger.info("worker stopped", metadata: ["worker": "\(name)", "completed": "\(done)"])
        if let modelError { throw modelError }
        return done
    }

    // MARK: - Heartbeat

    private func heartbeatLoop() {
        defer { heartbeatEnded.signal() }
        while true {
            _ = heartbeatWake.wait(timeout: .now() + options.heartbeatSeconds)
            // Jobs still finishing after a stop request keep their leases until they are requeued.
            if isStopping && activeCount == 0 { return }
            do { try beat() } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Renews this worker's leases; stops the jobs whose lease was taken over.
    private func beat() throws {
        lock.lock()
        let held = active.filter { !$0.value.lost }
        lock.unlock()
        let renewed = try queue.heartbeat(worker: name, tokens: Array(held.keys), jobs: held.values.map(\.job.id),
                                          lease: options.leaseSeconds)
        options.metrics?.leaseRenewals.increment(by: Int64(renewed.count))
        for (token, entry) in held where !renewed.contains(token) {
            lock.lock()
            let stillActive = active[token] != nil
            active[token]?.lost = true
            let process = active[token]?.process
            lock.unlock()
            // Finished between the snapshot and the renewal: its lease ended with it.
            guard stillActive else { continue }
            options.metrics?.leaseLosses.increment()
            logger.warning("lease lost: stopping the job, its outputs will not be published",
                           metadata: ["job": "\(entry.job.id)", "input": "\(entry.job.path)"])
            process?.signal(SIGTERM)
        }
        if let metrics = options.metrics { metrics.setStateCounts(try queue.stateCounts()) }
    }

    private func leaseLost(_ token: UUID) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return active[token]?.lost ?? true
    }

    // MARK: - One job

    private func roots(for job: ClaimedJob) throws -> SharedRoots {
        lock.lock()
        let cached = rootsByConfig[job.configID]
        lock.unlock()
        if let cached { return cached }
        let roots = try SharedRoots(inbox: options.inbox ?? job.inbox, outbox: options.outbox ?? job.outbox)
        lock.lock()
        rootsByConfig[job.configID] = roots
        lock.unlock()
        return roots
    }

    private func process(_ job: ClaimedJob) {
        let start = Date().timeIntervalSince1970
        var stagingDir: String?
        do {
            let roots = try roots(for: job)
            let input = try roots.resolve(job.path, in: .inbox)
            let dir = try roots.stagingFolder(job.staging)
            stagingDir = dir
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let spec = WatchWorker.Spec(input: input, relativePath: job.path, stagingDirectory: dir,
                                        pipelineFile: job.pipelinePath, pipelineText: job.pipelineText,
                                        threads: options.threads ?? (options.jobs > 1
                                            ? max(1, ProcessInfo.processInfo.activeProcessorCount / options.jobs) : nil),
                                        task: job.task)
            let specPath = (dir as NSString).appendingPathComponent(WatchWorker.specName)
            try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: specPath))
            let executable = options.workerExecutable ?? WorkerProcess.currentExecutable
            let (termination, errorLine) = try WorkerProcess.runJob(
                executable: executable, arguments: options.workerArguments + [specPath], tag: "job \(job.id)",
                started: { process in
                    self.lock.lock()
                    self.active[job.token]?.process = process
                    let stop = self.stopRequested || (self.active[job.token]?.lost ?? true)
                    self.lock.unlock()
                    if stop { process.signal(SIGTERM) }
                },
                ended: {
                    self.lock.lock()
                    self.active[job.token]?.process = nil
                    self.lock.unlock()
                })
            if leaseLost(job.token) {
                discard(job, dir: dir, reason: "lease lost")
                return
            }
            switch WatchWorker.outcome(of: termination, errorLine: errorLine, stagingDirectory: dir,
                                       stopping: isStopping, input: input) {
            case .finished(let result):
                try commit(job, result: result, roots: roots, dir: dir, start: start)
            case .stopped:
                try? FileManager.default.removeItem(atPath: dir)
                try queue.requeue(job)
                log(job, state: "queued", ["reason": "stopped"])
            case .modelProblem(let message):
                try? FileManager.default.removeItem(atPath: dir)
                try queue.requeue(job)
                log(job, state: "queued", ["reason": "model problem", "error": "\(message)"])
                lock.lock()
                if modelError == nil { modelError = VocaSegError(.model, message) }
                lock.unlock()
                requestStop()
            case .failed(let message, let permanent):
                try? FileManager.default.removeItem(atPath: dir)
                fail(job, message: message, permanent: permanent)
            }
        } catch {
            if let stagingDir { try? FileManager.default.removeItem(atPath: stagingDir) }
            let message = (error as? VocaSegError)?.description ?? String(describing: error)
            fail(job, message: message, permanent: (error as? VocaSegError)?.kind == .input)
        }
    }

    private func discard(_ job: ClaimedJob, dir: String, reason: String) {
        try? FileManager.default.removeItem(atPath: dir)
        options.metrics?.jobFailures.increment()
        logger.warning("job discarded: \(reason); another worker owns it now",
                       metadata: ["job": "\(job.id)", "input": "\(job.path)", "worker": "\(name)"])
    }

    /// The fenced commit: outputs checked inside the outbox, the lease checked and the outputs recorded in one
    /// transaction, then the renames, then done.
    private func commit(_ job: ClaimedJob, result: WatchWorker.Result, roots: SharedRoots, dir: String,
                        start: Double) throws {
        // Staged outputs are relative to the staging folder and land at the same relative path in the outbox.
        for output in result.outputs {
            let final = try roots.resolve(output, in: .outbox)
            if !options.overwrite, FileManager.default.fileExists(atPath: final), try !queue.isOurOutput(output) {
                throw VocaSegError(.usage, "output already exists and was not written by this queue (use --overwrite)",
                                   path: final)
            }
        }
        let seconds = Date().timeIntervalSince1970 - start
        guard try queue.beginPublishing(job, worker: name, outputs: result.outputs, frames: result.frames,
                                        seconds: seconds, lease: options.leaseSeconds) else {
            discard(job, dir: dir, reason: "lease lost before the commit")
            return
        }
        try Self.moveIntoPlace(result.outputs, from: dir, roots: roots, pauseAfterFirst: options.publishPause)
        try queue.finishPublishing(id: job.id, token: job.token, worker: name, frames: result.frames, seconds: seconds)
        try? FileManager.default.removeItem(atPath: dir)
        lock.lock()
        completed += 1
        lock.unlock()
        options.metrics?.jobFinished(frames: result.frames, seconds: seconds, timings: result.timings ?? [])
        log(job, state: "done", ["frames": "\(result.frames)", "seconds": "\(String(format: "%.2f", seconds))"])
    }

    /// Renames each staged output that is still in staging into place (one already moved, by this attempt before
    /// a crash or by a roll-forward, is skipped), replacing an older version of our own.
    static func moveIntoPlace(_ outputs: [String], from dir: String, roots: SharedRoots,
                              pauseAfterFirst: Double = 0) throws {
        for (index, output) in outputs.enumerated() {
            if index == 1 && pauseAfterFirst > 0 { Thread.sleep(forTimeInterval: pauseAfterFirst) }
            let staged = (dir as NSString).appendingPathComponent(output)
            var st = stat()
            guard lstat(staged, &st) == 0 else { continue }
            try WatchService.moveIntoPlace(staged, try roots.resolve(output, in: .outbox))
        }
    }

    private func fail(_ job: ClaimedJob, message: String, permanent: Bool) {
        options.metrics?.jobFailures.increment()
        do {
            guard let state = try queue.fail(job, error: message, permanent: permanent) else {
                logger.warning("job failure not recorded: lease lost", metadata: ["job": "\(job.id)"])
                return
            }
            if state == "failed" || state == "quarantined" {
                quarantine(path: job.path, roots: try? roots(for: job), attempts: job.attempts, message: message)
            }
            log(job, state: state, ["error": "\(message)"])
        } catch {
            logger.error("queue update failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Moves the input to `INBOX/failed/` with an `.error.txt`, as on one machine; only inside the roots (a
    /// refused path stays where it is).
    private func quarantine(path: String, roots: SharedRoots?, attempts: Int, message: String) {
        guard let roots, let source = try? roots.resolve(path, in: .inbox),
              let target = try? roots.resolve("failed/\(path)", in: .inbox) else { return }
        try? FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: source) { _ = rename(source, target) }
        try? "\(path)\nattempts: \(attempts)\nerror: \(message)\n".write(toFile: target + ".error.txt", atomically: true,
                                                                        encoding: .utf8)
    }

    // MARK: - Recovery of other workers' jobs

    /// Expired leases: failed attempts are retried (or quarantined) and their staging deleted; committed ones are
    /// rolled forward.
    private func takeOverExpiredLeases() throws {
        for reaped in try queue.reapExpired(worker: name, lease: options.leaseSeconds) {
            let roots = try? SharedRoots(inbox: options.inbox ?? reaped.inbox, outbox: options.outbox ?? reaped.outbox)
            let dir = reaped.staging.flatMap { try? roots?.stagingFolder($0) }
            if reaped.state == "publishing", let token = reaped.token {
                do {
                    guard let roots else {
                        throw VocaSegError(.input, "the job's roots are not directories here", path: reaped.path)
                    }
                    // Resolved again to keep the reason: a staging name that leaves the outbox is refused.
                    let dir = try roots.stagingFolder(reaped.staging ?? "")
                    try Self.moveIntoPlace(reaped.outputs, from: dir, roots: roots)
                    try queue.finishPublishing(id: reaped.id, token: token, worker: name, frames: reaped.frames,
                                               seconds: reaped.seconds)
                    try? FileManager.default.removeItem(atPath: dir)
                    logger.info("job done", metadata: ["job": "\(reaped.id)", "input": "\(reaped.path)",
                                                       "state": "done", "recovered": "rolled forward"])
                } catch {
                    // A row whose paths do not resolve inside the roots cannot be finished by any worker.
                    let message = (error as? VocaSegError)?.description ?? String(describing: error)
                    _ = try? queue.fail(id: reaped.id, token: token, error: message, permanent: true)
                    logger.error("roll-forward refused", metadata: ["job": "\(reaped.id)", "error": "\(message)"])
                }
                continue
            }
            if let dir { try? FileManager.default.removeItem(atPath: dir) }
            if reaped.state == "quarantined" {
                quarantine(path: reaped.path, roots: roots, attempts: 0, message: "lease expired on the last attempt")
            }
            logger.warning("job \(reaped.state)", metadata: ["job": "\(reaped.id)", "input": "\(reaped.path)",
                                                             "state": "\(reaped.state)", "reason": "lease expired"])
        }
    }

    /// Deletes staging folders that no running or publishing job owns (left by killed workers). The folder list
    /// is read before the owners, so that a folder created by a claim after the listing is never judged.
    private func sweepStaging() {
        var folders: [String: [String]] = [:]
        for outbox in Set(rootsByConfigSnapshot().values.map(\.outbox)) {
            let staging = (outbox as NSString).appendingPathComponent(SharedRoots.stagingName)
            folders[staging] = (try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []
        }
        guard !folders.isEmpty, let live = try? queue.liveStagingFolders() else { return }
        for (staging, names) in folders {
            for name in names where !live.contains(name) {
                try? FileManager.default.removeItem(atPath: (staging as NSString).appendingPathComponent(name))
            }
        }
    }

    private func rootsByConfigSnapshot() -> [Int64: SharedRoots] {
        lock.lock()
        defer { lock.unlock() }
        return rootsByConfig
    }

    private func log(_ job: ClaimedJob, state: String, _ extra: Logger.Metadata = [:]) {
        var metadata: Logger.Metadata = ["job": "\(job.id)", "input": "\(job.path)", "state": "\(state)",
                                         "attempt": "\(job.attempts)", "worker": "\(name)"]
        metadata.merge(extra) { $1 }
        if ["failed", "quarantined", "retrying"].contains(state) {
            logger.warning("job \(state)", metadata: metadata)
        } else {
            logger.info("job \(state)", metadata: metadata)
        }
    }
}
