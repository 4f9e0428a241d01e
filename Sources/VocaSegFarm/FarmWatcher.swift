import Dispatch
import Foundation
import Logging
import VocaSegApp
import VocaSegCore

/// `vocaseg watch INBOX --pipeline F --out DIR --queue URL`: scans the inbox with the single-machine rules
/// (settle time, ignored names, one row per path, size and mtime, optional content digests) and queues every
/// settled file in the shared queue, with the pipeline text it checked at start-up. With `--jobs N` (N ≥ 1) it
/// also works, as N worker slots in this process; `--jobs 0` only queues.
public final class FarmWatcher: @unchecked Sendable {
    public let options: WatchOptions
    public let workerOptions: FarmWorkerOptions
    let queue: PostgresJobQueue
    private let logger: Logger
    private let lock = NSLock()
    private var stopRequested = false
    private var worker: FarmWorker?
    private var workerError: (any Error)?

    public init(queue: PostgresJobQueue, options: WatchOptions, workerOptions: FarmWorkerOptions,
                logger: Logger = Logger(label: "vocaseg.watch")) {
        self.queue = queue
        self.options = options
        self.workerOptions = workerOptions
        self.logger = logger
    }

    public func requestStop() {
        lock.lock()
        stopRequested = true
        let worker = self.worker
        lock.unlock()
        worker?.requestStop()
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    /// Runs until stopped (with `once`: until the inbox is drained and, when it works too, the queue is empty).
    public func run() throws {
        let (pipelineText, _) = try WatchService.checkConfiguration(options, logger: logger)
        let inbox = try SharedRoots.realPath(options.inbox, what: "inbox")
        let outbox = try SharedRoots.realPath(options.outputDirectory, what: "output directory")
        let configID = try queue.register(.init(inbox: inbox, outbox: outbox, pipelinePath: options.pipelineFile,
                                                pipelineText: pipelineText, task: options.task,
                                                maxAttempts: options.maxAttempts, backoffSeconds: options.backoffSeconds))
        try FileManager.default.createDirectory(atPath: (outbox as NSString).appendingPathComponent(SharedRoots.stagingName),
                                                withIntermediateDirectories: true)
        logger.info("watching", metadata: ["inbox": "\(inbox)", "out": "\(outbox)", "queue": "\(queue.address)",
                                           "jobs": "\(options.jobs)"])
        let workers = DispatchGroup()
        if options.jobs > 0 {
            var w = workerOptions
            w.jobs = options.jobs
            w.inbox = inbox
            w.outbox = outbox
            // The worker part drains the queue only when told to by the scan loop below (`once`), so it runs
            // until stopped.
            w.once = false
            let worker = FarmWorker(queue: queue, options: w, logger: logger)
            lock.lock()
            self.worker = worker
            let stopping = stopRequested
            lock.unlock()
            if stopping { worker.requestStop() }
            workers.enter()
            Thread.detachNewThread {
                do { try worker.run() } catch {
                    self.lock.lock()
                    self.workerError = error
                    self.lock.unlock()
                }
                self.requestStop()
                workers.leave()
            }
        }
        let scanner = InboxScanner(inbox: options.inbox, settleSeconds: options.settleSeconds,
                                   recursive: options.recursive)
        while !isStopping {
            do {
                let scan = scanner.scan(now: Date().timeIntervalSince1970)
                for file in scan.ready where try !queue.knows(file) {
                    let digest = options.contentHash
                        ? FileDigest.fnv1a((options.inbox as NSString).appendingPathComponent(file.relativePath)) : nil
                    if let (id, state) = try queue.enqueue(file, configID: configID, digest: digest) {
                        logger.info("job \(state)", metadata: ["job": "\(id)", "input": "\(file.relativePath)",
                                                               "state": "\(state)"])
                    }
                }
                if options.once, scan.settling == 0 {
                    if options.jobs == 0 { break }
                    if try queue.pendingCount() == 0 { break }
                }
            } catch {
                logger.warning("queue unavailable", metadata: ["error": "\(error)"])
            }
            Thread.sleep(forTimeInterval: options.pollSeconds)
        }
        requestStop()
        workers.wait()
        lock.lock()
        defer { lock.unlock() }
        if let workerError { throw workerError }
    }
}
