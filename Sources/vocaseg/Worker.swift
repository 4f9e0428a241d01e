import ArgumentParser
import Foundation
import Logging
import VocaSegApp
import VocaSegCore
#if canImport(VocaSegFarm)
import VocaSegFarm
#endif

/// Flags shared by `worker` and `watch --queue`.
struct FarmFlags: ParsableArguments {
    @Option(help: "Seconds a job's lease lasts without a heartbeat: a worker silent for longer (killed, frozen, cut off) loses its job to another worker (default 30).")
    var lease: Double?

    @Option(help: "Seconds between heartbeats (renewing the leases); must be shorter than --lease (default 10).")
    var heartbeat: Double?

    /// Whether any of these flags was given (they mean nothing without a queue).
    var anyGiven: Bool { lease != nil || heartbeat != nil || metrics != nil }

    @Option(help: "Serve Prometheus metrics on HOST:PORT (e.g. 127.0.0.1:9464): jobs per state, frames/s, stage latencies, lease renewals and failures.")
    var metrics: String?

    #if canImport(VocaSegFarm)
    /// Connects to the queue (bringing its schema up to date) and starts the metrics server if asked: the worker
    /// options carry the lease settings and the metrics; the caller stops the server and closes the queue.
    func connect(_ queueURL: String, role: String) throws -> (PostgresJobQueue, FarmWorkerOptions, MetricsServer?) {
        let address = try QueueAddress.parse(queueURL)
        var o = FarmWorkerOptions()
        o.leaseSeconds = lease ?? o.leaseSeconds
        o.heartbeatSeconds = heartbeat ?? o.heartbeatSeconds
        o.metrics = metrics.map { _ in FarmMetrics() }
        let server = try metrics.map { try o.metrics!.serve($0) }
        do {
            let queue = try PostgresJobQueue(address: address, applicationName: "vocaseg \(role)",
                                             logger: Logger(label: "vocaseg.queue"))
            return (queue, o, server)
        } catch {
            server?.stop()
            throw error
        }
    }
    #endif
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take jobs from a shared PostgreSQL queue (filled by vocaseg watch --queue) until stopped.",
        discussion: """
            Any number of workers, on any machines that mount the same inbox and output folders, can join or leave \
            at any time. Each job runs in a process of its own under a lease renewed by heartbeats; a worker that \
            dies or is cut off loses its lease and the job returns to the queue (one attempt counted). Outputs are \
            put in place only while the lease is held. SIGTERM or Ctrl-C: running jobs are requeued, exit 0.
            """
    )

    @Option(help: "The queue: postgres://user@host:port/database?sslmode=disable|prefer|require|verify-full (password from the URL, PGPASSWORD or ~/.pgpass).")
    var queue: String

    @Option(help: "Jobs at once, each in a process of its own (default 1: inference uses every core).")
    var jobs: Int = 1

    @Option(help: "This machine's path of the shared inbox, when it differs from the watcher's.")
    var inbox: String?

    @Option(help: "This machine's path of the shared output folder, when it differs from the watcher's.")
    var out: String?

    @Option(help: "Threads for inference in each job (default: all cores, divided by --jobs).")
    var threads: Int?

    @Flag(help: "Exit once nothing is queued, running or waiting for a retry.")
    var once = false

    @Flag(help: "Replace existing output files that the queue's jobs did not write.")
    var overwrite = false

    @OptionGroup var farm: FarmFlags

    @Flag(name: .shortAndLong, help: "Only warnings and errors on stderr.")
    var quiet = false

    func run() throws {
        bootstrapLogging(quiet: false, verbose: !quiet, notices: !quiet)
        #if canImport(VocaSegFarm)
        let (connection, settings, server) = try farm.connect(queue, role: "worker")
        defer { server?.stop(); connection.close() }
        var o = settings
        o.jobs = jobs
        o.inbox = inbox
        o.outbox = out
        o.threads = threads
        o.once = once
        o.overwrite = overwrite
        let worker = FarmWorker(queue: connection, options: o)
        InterruptHandler.shared.install()
        InterruptHandler.shared.onStop { worker.requestStop() }
        try worker.run()
        #else
        throw noFarm()
        #endif
    }
}

func noFarm() -> VocaSegError {
    VocaSegError(.usage, "this vocaseg was built without the PostgreSQL queue (VOCASEG_WITHOUT_FARM was set)")
}

func runSharedWatch(queueURL: String, options: WatchOptions, farm: FarmFlags) throws {
    #if canImport(VocaSegFarm)
    let (connection, settings, server) = try farm.connect(queueURL, role: "watch")
    defer { server?.stop(); connection.close() }
    var w = settings
    w.threads = options.threads
    w.overwrite = options.overwrite
    let watcher = FarmWatcher(queue: connection, options: options, workerOptions: w)
    InterruptHandler.shared.install()
    InterruptHandler.shared.onStop { watcher.requestStop() }
    try watcher.run()
    #else
    throw noFarm()
    #endif
}

func sharedQueueReport(queueURL: String, encoder: JSONEncoder) throws -> (String, Data) {
    #if canImport(VocaSegFarm)
    let connection = try PostgresJobQueue(address: try QueueAddress.parse(queueURL), applicationName: "vocaseg jobs",
                                          logger: Logger(label: "vocaseg.queue"))
    defer { connection.close() }
    let report = try QueueReport.load(connection)
    return (report.text, try encoder.encode(report))
    #else
    throw noFarm()
    #endif
}
