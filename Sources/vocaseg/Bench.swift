import ArgumentParser
import Foundation
import VocaSegApp
import VocaSegCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure frame rate: per-stage latency (p50/p95/max), frames/s, peak RSS and GFLOP/s.",
        discussion: """
            Without --input the model runs on a synthetic frame of --size pixels; with a video it runs the real \
            pipeline (decode, preprocess, inference, overlay, encode to a scratch file). Warm-up frames are left \
            out of every figure. Build in release mode for meaningful numbers: swift build -c release. \
            The --json document is described in the README (schema vocaseg-bench/1).
            """
    )

    @Option(help: ArgumentHelp(ModelFamilies.modelHelp))
    var model: String = "errseg-b"

    @Option(help: "semantic or panoptic, where the model's family offers both. Default: the family's first.")
    var task: String?

    @Option(help: "checkpoint or random (seeded random weights: same speed, meaningless output).")
    var weights: String = "checkpoint"

    @Option(help: "Model input size (and synthetic frame size). Default: the model's own.")
    var size: Int?

    @Option(help: "Synthetic frame WIDTHxHEIGHT (default: --size square). EOV-Seg resizes frames itself: 854x640 gives its 640×864 input.")
    var frame: String?

    @Option(help: "A picture to use as every frame instead of the synthetic one (e.g. to get the same CER survivors as another implementation on that picture).")
    var still: String?

    @Option(help: "Vocabulary size: this many synthetic class names.")
    var classes: Int = 150

    @Option(name: .customLong("vocab"), help: "Vocabulary file instead of --classes N.")
    var vocabularyFile: String?

    @Option(name: .customLong("crm-k"), help: ArgumentHelp(ModelFamilies.help(for: "crm-k")))
    var crmK: String?

    @Option(help: ArgumentHelp(ModelFamilies.help(for: "cer")))
    var cer: String?

    @Option(name: .customLong("cer-k"), help: ArgumentHelp(ModelFamilies.help(for: "cer-k")))
    var cerK: String?

    @Option(help: "full or sliding.")
    var mode: String = "full"

    @Option(help: "A video to run through the real pipeline.")
    var input: String?

    @Option(help: ArgumentHelp(SegmentOptions.precisionHelp))
    var precision: String = "fp32"

    @Option(help: "Timed frames.")
    var frames: Int = 10

    @Option(help: "Warm-up frames, not timed.")
    var warmup: Int = 2

    @Option(help: "Threads (BLAS and the engine). Default: all cores.")
    var threads: Int?

    @Option(help: "Write the report as JSON to this file.")
    var json: String?

    func run() throws {
        bootstrapLogging(quiet: false, verbose: false)
        var o = BenchOptions()
        o.model = model
        guard let w = SegmentOptions.Weights(rawValue: weights) else {
            throw VocaSegError(.usage, "--weights must be checkpoint or random (got \(weights))")
        }
        o.weights = w
        o.size = size
        if let frame {
            let parts = frame.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (1...8192).contains($0) }) else {
                throw VocaSegError(.usage, "--frame must be WIDTHxHEIGHT, e.g. 854x640 (got \(frame))")
            }
            o.frameSize = (parts[0], parts[1])
        }
        o.stillImage = still
        o.classCount = classes
        o.vocabularyFile = vocabularyFile
        if let crmK { o.modelSettings["crm-k"] = crmK }
        if let cer { o.modelSettings["cer"] = cer }
        if let cerK { o.modelSettings["cer-k"] = cerK }
        o.task = task
        guard ["full", "sliding"].contains(mode) else { throw VocaSegError(.usage, "--mode must be full or sliding") }
        o.mode = mode
        o.input = input
        o.frames = frames
        o.warmup = warmup
        o.threads = threads
        o.precision = try SegmentOptions.precision(parsing: precision)
        #if DEBUG
        StandardError.write("vocaseg bench: this is a DEBUG build; figures are meaningless. Use swift build -c release.\n")
        #endif
        let report = try BenchJob.run(o)
        print(BenchJob.table(report))
        if let json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try e.encode(report).write(to: URL(fileURLWithPath: json), options: .atomic)
        }
    }
}
