import ArgumentParser
import Foundation
import Logging
import VocaSegApp
import VocaSegCore

struct Segment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment videos, images, image sequences or a stream into overlays, label maps and JSON lines.",
        discussion: """
            Example:
              vocaseg segment Samples/street.mp4 --classes "person, car, road, tree, sky" -o out.mp4 \\
                --masks masks/ --jsonl out.jsonl

            Outputs are written under temporary names and renamed when complete; an interrupted run (Ctrl-C) \
            finishes the frame in flight and leaves valid, shorter outputs (exit 130).
            """
    )

    @Argument(help: "Input files: videos (mp4, mov, mkv, webm, avi), images, image sequences (name_%04d.png), folders of images, '-' for stdin, or URLs.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Overlay output: a file for one input (video → .mp4/.mov/.mkv, image → .png/.jpg), a directory for several. Default: <input>.vocaseg.mp4 in the current directory.")
    var output: String?

    @Option(help: "Vocabulary as a comma-separated list, e.g. \"person, car, road\".")
    var classes: String?

    @Option(name: .customLong("vocab"), help: "Vocabulary file: one class per line; \"a, b\" on a line are synonyms of one class.")
    var vocabularyFile: String?

    @Option(help: "Model name (errseg-b, errseg-l) or checkpoint path.")
    var model: String = "errseg-b"

    @Option(help: "checkpoint (default) or random: seeded random weights for pipeline and speed checks; output is meaningless.")
    var weights: String = "checkpoint"

    @Option(help: "Model input size (default: the model's own, 640 for ERR-Seg B, 768 for L).")
    var size: Int?

    @Option(help: "Run the model on every Nth frame and reuse its result for the frames between.")
    var every: Int = 1

    @Option(help: "Write per-frame label-map PNGs (8-bit indexed, 16-bit grey beyond 256 classes) into this directory.")
    var masks: String?

    @Option(help: "Write one JSON line per frame (classes present with pixel fractions) to this file.")
    var jsonl: String?

    @Option(help: "Overlay opacity, 0…1.")
    var alpha: Double = 0.5

    @Flag(inversion: .prefixedNo, help: "Draw class outlines.")
    var outlines = true

    @Flag(inversion: .prefixedNo, help: "Draw class names at region centres.")
    var labels = true

    @Flag(inversion: .prefixedNo, help: "Draw a legend of the classes present.")
    var legend = true

    @Option(help: "H.264 constant rate factor (0-51, lower is better quality).")
    var crf: Int = 20

    @Option(help: "x264 preset (ultrafast … veryslow).")
    var preset: String = "veryfast"

    @Option(help: "Threads for inference (BLAS and the engine's parallel loops). Default: all cores.")
    var threads: Int?

    @Option(help: "Frames that may wait between two pipeline stages.")
    var queueDepth: Int = 3

    @Option(help: "Progress display: auto, always, never.")
    var progress: String = "auto"

    @Option(help: "Write per-stage timings (frames, total, p50, p95, max) as JSON to this file.")
    var timings: String?

    @Flag(name: .shortAndLong, help: "Only errors on stderr.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "More detail on stderr.")
    var verbose = false

    func run() throws {
        bootstrapLogging(quiet: quiet, verbose: verbose)
        var o = SegmentOptions()
        o.inputs = inputs
        o.output = output
        o.classes = classes
        o.vocabularyFile = vocabularyFile
        o.model = model
        guard let w = SegmentOptions.Weights(rawValue: weights) else {
            throw VocaSegError(.usage, "--weights must be checkpoint or random (got \(weights))")
        }
        o.weights = w
        o.size = size
        o.every = every
        o.masksDirectory = masks
        o.jsonLinesPath = jsonl
        o.alpha = alpha
        o.outlines = outlines
        o.labels = labels
        o.legend = legend
        o.crf = crf
        o.preset = preset
        o.threads = threads
        o.queueDepth = queueDepth
        guard let p = SegmentOptions.ProgressMode(rawValue: progress) else {
            throw VocaSegError(.usage, "--progress must be auto, always or never (got \(progress))")
        }
        o.progress = p
        o.quiet = quiet
        o.timingsPath = timings

        InterruptHandler.shared.install()
        let reports = try SegmentJob(options: o, logger: Logger(label: "vocaseg")).run()
        if !quiet {
            for r in reports { printSummary(r) }
        }
        if reports.contains(where: \.interrupted) {
            throw VocaSegError(.interrupted, "interrupted: outputs are complete up to the last written frame")
        }
    }

    private func printSummary(_ r: InputReport) {
        var lines = ["\(r.input): \(r.frames) frames (\(r.inferredFrames) inferred) in \(String(format: "%.2f", r.wallSeconds)) s → \(r.overlay)"]
        if let m = r.masksDirectory { lines.append("  label maps: \(m)") }
        if let j = r.jsonLines { lines.append("  JSON lines: \(j)") }
        lines.append("  stage        frames   total s    p50 ms    p95 ms    max ms")
        for t in r.timings {
            lines.append(String(format: "  %-12@ %6d %9.2f %9.2f %9.2f %9.2f", t.stage as NSString, t.frames,
                                t.totalSeconds, t.p50Milliseconds, t.p95Milliseconds, t.maxMilliseconds))
        }
        FileHandle.standardError.write((lines.joined(separator: "\n") + "\n").data(using: .utf8)!)
    }
}
