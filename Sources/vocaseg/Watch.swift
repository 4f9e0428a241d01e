import ArgumentParser
import Foundation
import Logging
import VocaSegApp
import VocaSegCore

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Process every video or image dropped into a folder, exactly once, until stopped.",
        discussion: """
            Files are taken once their size and mtime have been stable for --settle seconds; hidden, .part, .tmp \
            and ~ names are ignored. A SQLite journal beside the outputs (OUT/.vocaseg-journal.sqlite) remembers \
            every input by path, size and mtime, so an unchanged file is never processed twice and a replaced one \
            is processed again (--content-hash also recognises a touched file with the same bytes). Outputs appear only when complete. Each job runs in a worker process of its own: \
            an input that crashes it (abort, SIGSEGV, the OOM killer) is a failed attempt and the watcher goes \
            on. Failed inputs are retried with backoff, then moved to INBOX/failed/ with an .error.txt. SIGTERM \
            or Ctrl-C: the current job is abandoned and requeued, exit 0. After a crash, the next start recovers.
            """
    )

    @Argument(help: "The inbox folder to watch.")
    var inbox: String

    @Option(help: "Pipeline file (Pipelines/*.yaml): model, vocabulary, inference and outputs.")
    var pipeline: String

    @Option(help: "Output folder (the journal lives here too).")
    var out: String

    @Option(help: "Jobs at once, each in a worker process (default 1: inference uses every core; several share the cores out).")
    var jobs: Int = 1

    @Flag(help: "Process what is in the inbox, then exit.")
    var once = false

    @Option(help: "Seconds a file's size and mtime must stay unchanged before it is taken.")
    var settle: Double = 5

    @Flag(help: "Also watch sub-folders (outputs mirror them).")
    var recursive = false

    @Option(help: "Attempts before an input is moved to failed/.")
    var attempts: Int = 3

    @Option(help: "Seconds before the first retry (doubling each time).")
    var backoff: Double = 10

    @Flag(help: "Replace existing output files that this watcher did not write.")
    var overwrite = false

    @Flag(help: "Digest each new input version and skip it when its contents equal an earlier version of the same path (a touched or re-copied file). Costs one read of each new file.")
    var contentHash = false

    @Option(help: "Threads for inference in each job (default: all cores, divided by --jobs).")
    var threads: Int?

    @Option(help: "semantic or panoptic, over the pipeline file's task, where the model's family offers both. Default: the pipeline's, else the family's first task.")
    var task: String?

    @Option(help: "Queue the jobs in a shared PostgreSQL queue (postgres://user@host/db?sslmode=…) that workers on other machines take them from, instead of the SQLite journal. The password comes from the URL, PGPASSWORD or ~/.pgpass. With --queue, --jobs 0 only queues.")
    var queue: String?

    @OptionGroup var farm: FarmFlags

    @Flag(name: .shortAndLong, help: "Only warnings and errors on stderr.")
    var quiet = false

    func run() throws {
        bootstrapLogging(quiet: false, verbose: !quiet, notices: !quiet)
        var o = WatchOptions(inbox: inbox, pipelineFile: pipeline, outputDirectory: out)
        o.jobs = jobs
        o.once = once
        o.contentHash = contentHash
        o.settleSeconds = settle
        o.recursive = recursive
        o.maxAttempts = attempts
        o.backoffSeconds = backoff
        o.overwrite = overwrite
        o.threads = threads
        o.task = task
        if let queue {
            try runSharedWatch(queueURL: queue, options: o, farm: farm)
            return
        }
        guard !farm.anyGiven else {
            throw VocaSegError(.usage, "--lease, --heartbeat and --metrics belong to a shared queue: add --queue")
        }
        let service = WatchService(options: o, logger: Logger(label: "vocaseg.watch"))
        InterruptHandler.shared.install()
        InterruptHandler.shared.onStop { service.requestStop() }
        try service.run()
    }
}

/// The worker `vocaseg watch` starts for each job (not for direct use): runs the one job described by the job file
/// into its staging folder and exits with the usual codes; a crash takes down only this process.
struct WatchJob: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch-job", abstract: "Internal: one job of vocaseg watch, in its own process.",
        shouldDisplay: false)

    @Argument(help: "The job file the watcher wrote into the job's staging folder.")
    var jobFile: String

    func run() throws {
        // Warnings only: the watcher relays these lines and logs the job's own progress itself.
        bootstrapLogging(quiet: false, verbose: false, notices: false)
        WatchWorker.main(jobFile: jobFile)
    }
}

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a watch folder's journal, or a shared queue: jobs per state, workers, recent failures, throughput.")

    @Option(help: "The watch output folder (where the journal is).")
    var out: String = "."

    @Option(help: "A shared PostgreSQL queue instead (postgres://…): also each worker with its current job, last heartbeat and throughput.")
    var queue: String?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let queue {
            bootstrapLogging(quiet: true, verbose: false)
            let (text, data) = try sharedQueueReport(queueURL: queue, encoder: e)
            print(json ? String(decoding: data, as: UTF8.self) : text)
            return
        }
        let report = try JobsReport.load(outputDirectory: out)
        if json {
            print(String(decoding: try e.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}
