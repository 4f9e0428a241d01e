import Foundation
import Logging
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline

/// The child side of `vocaseg watch`: one job in a process of its own (`vocaseg watch-job JOB.json`).
///
/// The watcher runs every job in a worker so that an input that crashes the process (a heap-corruption abort in
/// a decoder, a SIGSEGV, the OOM killer) takes down only that worker: the watcher sees the signal, counts the
/// attempt and carries on. The worker only decodes, runs the model and writes the outputs into its staging
/// folder; the journal, the commit and the attempt accounting stay with the watcher.
public enum WatchWorker {
    /// What the watcher hands a worker, as `job.json` in the job's staging folder.
    public struct Spec: Codable, Sendable {
        /// The input, as the watcher reaches it (inbox path + `relativePath`).
        public var input: String
        /// Relative to the inbox; outputs mirror it.
        public var relativePath: String
        /// The staging folder the outputs go into.
        public var stagingDirectory: String
        /// The pipeline file's path and the text the watcher read at start-up: every job runs with the
        /// configuration the watcher validated, even if the file is edited while it runs.
        public var pipelineFile: String
        public var pipelineText: String
        public var threads: Int?
        /// `watch --task`, over the pipeline file's `task`.
        public var task: String?

        public init(input: String, relativePath: String, stagingDirectory: String, pipelineFile: String,
                    pipelineText: String, threads: Int?, task: String?) {
            self.input = input
            self.relativePath = relativePath
            self.stagingDirectory = stagingDirectory
            self.pipelineFile = pipelineFile
            self.pipelineText = pipelineText
            self.threads = threads
            self.task = task
        }
    }

    /// What a worker that finished writes, as `result.json` beside `job.json`.
    public struct Result: Codable, Sendable {
        /// Staged output paths, relative to the staging folder.
        public var outputs: [String]
        public var frames: Int
        /// Stopped by SIGTERM before the end: the outputs are incomplete and must not be published.
        public var interrupted: Bool
        /// Per-stage timings of the job (absent in results written before they were added).
        public var timings: [StageTiming]?
    }

    public static let specName = "job.json"
    public static let resultName = "result.json"
    /// Starts the one line a failing worker writes last on stderr; the watcher keeps it as the job's error.
    public static let errorPrefix = "vocaseg: "

    /// The worker process's whole life: runs the job, and on failure writes the error as one line on stderr and
    /// exits with its code (3 unreadable input, 4 model, …), which the watcher reads as the attempt's outcome.
    public static func main(jobFile: String, logger: Logger = Logger(label: "vocaseg.watch-job"),
                            modelProvider: ((SegmentOptions) throws -> SegmentationModel)? = nil) -> Never {
        do {
            try run(jobFile: jobFile, logger: logger, modelProvider: modelProvider)
            exit(0)
        } catch let error as VocaSegError {
            StandardError.write("\(errorPrefix)\(error.description)\n")
            exit(error.exitCode)
        } catch {
            let line = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            StandardError.write("\(errorPrefix)\(jobFile): \(line)\n")
            exit(1)
        }
    }

    /// How one attempt in a worker process ended, judged the same way by the watcher and by the queue workers.
    public enum Outcome {
        /// Exited 0 with complete outputs in its staging folder.
        case finished(Result)
        /// Ended by a stop request (the SIGTERM the caller forwarded): abandoned, not a failed attempt.
        case stopped
        /// Exit 4: the model cannot be loaded; every job would fail the same way, so it is not this input's fault.
        case modelProblem(String)
        /// A failed attempt; `permanent` when the input itself is unreadable (exit 3), so retrying is pointless.
        case failed(String, permanent: Bool)
    }

    /// Reads how a worker ended: its termination, its error line and, on exit 0, its `result.json`.
    public static func outcome(of termination: WorkerProcess.Termination, errorLine: String?, stagingDirectory: String,
                               stopping: Bool, input: String) -> Outcome {
        switch termination {
        case .exited(0):
            let path = (stagingDirectory as NSString).appendingPathComponent(resultName)
            guard let data = FileManager.default.contents(atPath: path),
                  let result = try? JSONDecoder().decode(Result.self, from: data) else {
                return .failed(VocaSegError(.internal, "the worker exited 0 without a readable result", path: path)
                    .description, permanent: false)
            }
            if result.interrupted {
                return stopping ? .stopped : .failed(VocaSegError(.internal, "the worker stopped before the end",
                                                                  path: input).description, permanent: false)
            }
            return .finished(result)
        case _ where stopping:
            return .stopped
        case .exited(4):
            return .modelProblem(errorLine ?? "the worker could not load the model")
        case .exited(let code):
            return .failed(errorLine ?? "the worker exited with status \(code)", permanent: code == 3)
        case .signalled(let sig):
            var message = "worker killed by signal \(sig) (\(WorkerProcess.signalName(sig)))"
            // A runtime trap or an allocator abort says why on stderr just before the signal.
            if let errorLine { message += "; its last words: \(errorLine)" }
            return .failed(message, permanent: false)
        }
    }

    public static func readSpec(_ path: String) throws -> Spec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VocaSegError(.usage, "cannot read the watch job file", path: path)
        }
        do {
            return try JSONDecoder().decode(Spec.self, from: data)
        } catch {
            throw VocaSegError(.usage, "not a watch job file: \(error)", path: path)
        }
    }

    /// Runs the job described by `jobFile` and writes `result.json`. Throws the job's error (its kind is the
    /// worker's exit code: 3 for an unreadable input, 4 for a model problem, …).
    public static func run(jobFile: String, logger: Logger = Logger(label: "vocaseg.watch-job"),
                           modelProvider: ((SegmentOptions) throws -> SegmentationModel)? = nil) throws {
        let spec = try readSpec(jobFile)
        exitWithWatcher()
        var segment = SegmentOptions()
        try PipelineFile.parse(spec.pipelineText, path: spec.pipelineFile).apply(to: &segment, explicitlySet: [])
        segment.progress = .never
        segment.inputs = [spec.input]
        if let threads = spec.threads { segment.threads = threads }
        if let task = spec.task { segment.task = task }
        // The input is probed before the model is loaded, so that a corrupt file fails fast with exit 3.
        let info = try MediaSource(path: spec.input, options: segment.sourceOptions).info
        let dir = spec.stagingDirectory
        let subdir = (spec.relativePath as NSString).deletingLastPathComponent
        segment.output = subdir.isEmpty ? dir : (dir as NSString).appendingPathComponent(subdir)
        try FileManager.default.createDirectory(atPath: segment.output!, withIntermediateDirectories: true)
        guard let plan = try OutputPlan.make(kinds: [(spec.input, OutputPlan.kind(of: info))], options: segment).first else {
            throw VocaSegError(.internal, "no output plan", path: spec.input)
        }
        let vocabulary = try VocabularyLoader.load(classes: segment.classes, file: segment.vocabularyFile)
        if let threads = segment.threads { Diagnostics.setThreads(threads) }
        let runner = SegmentJob(options: segment, logger: logger, modelProvider: modelProvider)
        let model = try (modelProvider ?? { o in try ModelLoader.load(options: o) })(segment)
        if model.usesRandomWeights {
            logger.warning("RANDOM WEIGHTS: \(model.name) runs with seeded random weights; outputs are meaningless")
        }
        do { try SegmentJob.checkOutputs(segment, fit: model) } catch var error as VocaSegError {
            // The outputs come from the pipeline file: the error names it, as the watcher's log and error.txt show.
            error.path = error.path ?? spec.pipelineFile
            throw error
        }
        try model.prepare(vocabulary: vocabulary)
        let renderer = try runner.makeRenderer(vocabulary: vocabulary)
        // SIGTERM from the watcher stops the pipeline after the frame in flight; the watcher then requeues the job.
        InterruptHandler.shared.install()
        let report = try runner.runOne(plan: plan, info: info, model: model, vocabulary: vocabulary,
                                       renderer: renderer) { pipeline in
            InterruptHandler.shared.onStop { pipeline.requestStop() }
        }
        let staged = [plan.overlay, plan.masksDirectory, plan.panopticDirectory, plan.jsonLines].compactMap { $0 }
            .map { String($0.dropFirst(dir.count).drop { $0 == "/" }) }
        let result = Result(outputs: staged, frames: report.frames, interrupted: report.interrupted, timings: report.timings)
        let resultPath = (dir as NSString).appendingPathComponent(resultName)
        // Written under a temporary name and renamed: the watcher never reads half a result.
        let temporary = resultPath + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: try JSONEncoder().encode(result)),
              rename(temporary, resultPath) == 0 else {
            throw VocaSegError(.internal, "cannot write the job result: \(String(cString: strerror(errno)))",
                               path: resultPath)
        }
    }

    /// Ends this worker when the watcher dies (SIGKILL, OOM), instead of letting it write into a staging folder
    /// that the next watcher deletes: the watcher holds the write end of a pipe on the worker's stdin, and the
    /// kernel closes it when the watcher dies, whatever killed it.
    private static func exitWithWatcher() {
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while true {
                let n = read(0, &byte, 1)
                if n == 0 || (n < 0 && errno != EINTR) { _exit(1) }
            }
        }
    }
}
