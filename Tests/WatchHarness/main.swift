// A test-only watcher: `vocaseg watch` with a deterministic stand-in model, so that the watch tests can run real
// processes (and SIGKILL them) without model weights. Not a product; only the tests build and run it.
// Like `vocaseg watch` it runs each job in a worker process: itself, with `--worker JOB.json`.
//
//   WatchHarness INBOX PIPELINE OUT [--once] [--content-hash] [--panoptic] [--settle S] [--poll S] [--frame-delay S] [--attempts N] [--backoff S] [--jobs N]
//   WatchHarness --worker JOB.json [--panoptic] [--frame-delay S]
//   WatchHarness --queue URL --farm-worker [--jobs N] [--lease S] [--heartbeat S] [--frame-delay S] [--once] [--name W]
//                [--metrics HOST:PORT] [--publish-pause S]
//   WatchHarness INBOX PIPELINE OUT --queue URL [--jobs N] [--once] …   (watch --queue: queue and work)
//
// --queue … --farm-worker: `vocaseg worker --queue URL` with the same stand-in model in its job processes; the farm
// tests run several and kill them.
//
// --panoptic: the workers run the stand-in panoptic model (ShapesPanopticModel, which segments the synthetic shapes
// clip exactly) instead of the semantic stripes, so that watch jobs can write every panoptic output.
//
// Test hook (here only, never in the product): an input whose name contains `crash-me` makes the stand-in model
// call abort() on its first frame, as a decoder with a corrupted heap would.
import Foundation
import Logging
import VocaSegApp
import VocaSegCore
import VocaSegTestSupport
#if canImport(VocaSegFarm)
import VocaSegFarm
#endif

final class StripesModel: SegmentationModel, @unchecked Sendable {
    let name = "test-stripes"
    let usesRandomWeights = false
    let frameDelay: Double
    let crashes: Bool
    private var classes = 1
    init(frameDelay: Double, crashes: Bool) {
        self.frameDelay = frameDelay
        self.crashes = crashes
    }
    func prepare(vocabulary: Vocabulary) throws { classes = vocabulary.count }
    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        PreprocessedFrame(channels: 1, width: 1, height: 1, data: [0], originalWidth: frame.width,
                          originalHeight: frame.height)
    }
    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        if crashes { abort() }
        if frameDelay > 0 { Thread.sleep(forTimeInterval: frameDelay) }
        let w = input.originalWidth, h = input.originalHeight
        var labels = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { labels[y * w + x] = UInt16((x * classes) / w) } }
        return SegmentationResult(labels: LabelMap(width: w, height: h, labels: labels))
    }
}

var args = Array(CommandLine.arguments.dropFirst())
func take(_ flag: String) -> String? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
    let v = args[i + 1]
    args.removeSubrange(i...(i + 1))
    return v
}
let once = args.contains("--once")
let contentHash = args.contains("--content-hash")
let panoptic = args.contains("--panoptic")
args.removeAll { $0 == "--once" || $0 == "--content-hash" || $0 == "--panoptic" }
let settle = Double(take("--settle") ?? "0.2") ?? 0.2
let poll = Double(take("--poll") ?? "0.1") ?? 0.1
let delay = Double(take("--frame-delay") ?? "0") ?? 0
let attempts = Int(take("--attempts") ?? "3") ?? 3
let backoff = Double(take("--backoff") ?? "0.2") ?? 0.2
let jobs = Int(take("--jobs") ?? "1") ?? 1
if let jobFile = take("--worker") {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = .warning
        return h
    }
    let crashes = ((try? WatchWorker.readSpec(jobFile))?.relativePath ?? "").contains("crash-me")
    WatchWorker.main(jobFile: jobFile, modelProvider: { _ -> SegmentationModel in
        panoptic ? ShapesPanopticModel() : StripesModel(frameDelay: delay, crashes: crashes)
    })
}
/// The watcher's options from the command line (INBOX PIPELINE OUT and the flags above), for both watchers.
func watchOptions() -> WatchOptions {
    var o = WatchOptions(inbox: args[0], pipelineFile: args[1], outputDirectory: args[2])
    o.once = once
    o.contentHash = contentHash
    o.settleSeconds = settle
    o.pollSeconds = poll
    o.maxAttempts = attempts
    o.backoffSeconds = backoff
    o.jobs = jobs
    o.modelIsPanoptic = { _ in panoptic }  // the workers run the stand-in model, not the pipeline's
    return o
}
if let queueURL = take("--queue") {
    #if canImport(VocaSegFarm)
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = .info
        return h
    }
    let farmWorker = args.contains("--farm-worker")
    args.removeAll { $0 == "--farm-worker" }
    var w = FarmWorkerOptions()
    w.jobs = jobs
    w.once = once
    w.pollSeconds = poll
    w.leaseSeconds = Double(take("--lease") ?? "30") ?? 30
    w.heartbeatSeconds = Double(take("--heartbeat") ?? "10") ?? 10
    w.name = take("--name")
    w.publishPause = Double(take("--publish-pause") ?? "0") ?? 0
    var server: MetricsServer?
    if let metrics = take("--metrics") {
        w.metrics = FarmMetrics()
        do { server = try w.metrics!.serve(metrics) } catch { StandardError.write("WatchHarness: \(error)\n"); exit(2) }
    }
    defer { server?.stop() }
    w.workerExecutable = "/proc/self/exe"
    w.workerArguments = (panoptic ? ["--panoptic"] : []) + ["--frame-delay", "\(delay)", "--worker"]
    guard farmWorker || args.count == 3 else {
        StandardError.write("usage: WatchHarness --queue URL --farm-worker [options] | INBOX PIPELINE OUT --queue URL\n")
        exit(2)
    }
    do {
        let queue = try PostgresJobQueue(address: try QueueAddress.parse(queueURL),
                                         applicationName: "vocaseg worker \(w.name ?? "")", logger: Logger(label: "queue"))
        if farmWorker {
            let worker = FarmWorker(queue: queue, options: w)
            InterruptHandler.shared.install()
            InterruptHandler.shared.onStop { worker.requestStop() }
            try worker.run()
        } else {
            // `vocaseg watch … --queue URL --jobs N`: scans, queues and (N ≥ 1) works, with the stand-in model.
            let watcher = FarmWatcher(queue: queue, options: watchOptions(), workerOptions: w)
            InterruptHandler.shared.install()
            InterruptHandler.shared.onStop { watcher.requestStop() }
            try watcher.run()
        }
        exit(0)
    } catch let e as VocaSegError {
        StandardError.write("WatchHarness: \(e.description)\n")
        exit(e.exitCode)
    }
    #else
    StandardError.write("WatchHarness: built without the farm\n")
    exit(2)
    #endif
}
guard args.count == 3 else {
    StandardError.write("usage: WatchHarness INBOX PIPELINE OUT [options]\n")
    exit(2)
}
LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = .info
    return h
}
var o = watchOptions()
// Workers are this harness again, with the same stand-in model (and its frame delay).
o.workerArguments = (panoptic ? ["--panoptic"] : []) + ["--frame-delay", "\(delay)", "--worker"]
let service = WatchService(options: o)
InterruptHandler.shared.install()
InterruptHandler.shared.onStop { service.requestStop() }
do {
    try service.run()
} catch let e as VocaSegError {
    StandardError.write("WatchHarness: \(e.description)\n")
    exit(e.exitCode)
}
