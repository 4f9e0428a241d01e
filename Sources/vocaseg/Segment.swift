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
              vocaseg segment Samples/clip_640x360_aac.mp4 --classes "person, car, road, tree, sky" -o out.mp4 \\
                --masks masks/ --jsonl out.jsonl

            Thing or stuff: a class is a thing (instances get their own segments and track ids) or stuff (one \
            segment per class). End a class with [thing] or [stuff] to say which, e.g. --classes "person, road \
            [stuff]" or a vocabulary-file line "road, street [stuff]"; without a marker the COCO panoptic, \
            ADE20K-150 and Cityscapes metadata decide by name, and any other class is a thing.

            Outputs are written under temporary names and renamed when complete; an interrupted run (Ctrl-C) \
            finishes the frame in flight and leaves valid, shorter outputs (exit 130).
            """
    )

    @Argument(help: "Input files: videos (mp4, mov, mkv, webm, avi), images, image sequences (name_%04d.png), folders of images, '-' for stdin (image2pipe MJPEG/PNG, y4m, nut or any stream FFmpeg reads), or URLs (udp, rtp, rtsp, srt, http, tcp: live, see --live).")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Overlay output: a file for one input (video or picture stream → .mp4/.mov/.mkv, one picture → .png/.jpg), a numbered sequence for any input (name_%06d.png or .jpg, numbered from --start-number), '-' for standard output (with --format), or a directory for several inputs. A folder of pictures gives a folder of overlays with the same names (or one video with --as-video). Default: <input>.vocaseg.mp4 (.png, or a folder) in the current directory.")
    var output: String?

    @Option(help: "With -o -: the stream written to standard output: nut (H.264), mp4 (fragmented H.264), y4m (raw 4:2:0) or mjpeg. Default: nut.")
    var format: String?

    @Flag(name: .customLong("as-video"), help: "A folder of pictures gives one video (<name>.vocaseg.mp4, at --fps) instead of a folder of overlays; its pictures must share one size.")
    var asVideo = false

    @Option(help: "Frame rate of inputs that carry no timestamps: folders, sequences, piped pictures, raw H.264 (a number or a fraction such as 30000/1001). Default: 25.")
    var fps: String?

    @Option(name: .customLong("start-number"), help: "First number of a numbered output sequence (as ffmpeg's -start_number). Default: 1.")
    var startNumber: Int?

    @Flag(inversion: .prefixedNo, help: "Bounded latency for live sources: when inference falls behind, only the newest frame is kept and the others are dropped (counted); the summary gives latency p50/p95 and the drop rate. Default: on for network URLs, off otherwise.")
    var live: Bool?

    @Option(help: "Network inputs: seconds without data that end the stream. Default: 5.")
    var timeout: Double?

    @Option(help: "HDR input (PQ/HDR10, HLG): tonemap (to SDR BT.709 with zscale and Hable's curve, as the model and the overlay expect) or off (code values passed on, output tagged with the input's primaries and transfer). Default: tonemap.")
    var hdr: String?

    @Option(help: "Interlaced input: auto (frames the decoder flags interlaced, in a stream whose field order says so, are deinterlaced with bwdif, one frame per frame), on (every frame) or off. Default: auto.")
    var deinterlace: String?

    @Option(help: "Vocabulary as a comma-separated list, e.g. \"person, car, road\". No default: give --classes or --vocab.")
    var classes: String?

    @Option(name: .customLong("vocab"), help: "Vocabulary file: one class per line (\"a, b\" on a line are synonyms of one class; # starts a comment), or a .json file holding a list of class names (\"a, b\" entries are synonyms), as ERR-Seg's and CAT-Seg's datasets/*.json. Default: none.")
    var vocabularyFile: String?

    @Option(help: "A pipeline file (Pipelines/*.yaml) with model, vocabulary, inference and output settings; flags given here override it. Default: none.")
    var pipeline: String?

    @Option(help: ArgumentHelp(ModelFamilies.modelHelp))
    var model: String?

    @Option(help: "semantic or panoptic, where the model's family offers both. Default: the family's first task.")
    var task: String?

    @Option(help: "checkpoint or random: seeded random weights for pipeline and speed checks; output is meaningless. Default: checkpoint.")
    var weights: String?

    @Option(help: "Model input size (default: the model's own, 640 for ERR-Seg B, 768 for L).")
    var size: Int?

    @Option(help: ArgumentHelp(SegmentOptions.precisionHelp))
    var precision: String?

    @Option(help: "full (the frame resized to the model input) or sliding (model-sized windows plus a global view, for high-resolution frames). Default: full.")
    var mode: String?

    @Option(help: "Sliding window size in working-resolution pixels. Default: the model's input size.")
    var window: Int?

    @Option(help: "Sliding window overlap, 0 ≤ F < 1 (default 1/3).")
    var overlap: Double?

    @Option(name: .customLong("global-view"), help: "Sliding mode: blend in a downscaled view of the whole frame, on or off (default on).")
    var globalView: String?

    @Option(name: .customLong("global-weight"), help: "Sliding mode: weight of the global view in the blend (default 0.5, as CAT-Seg).")
    var globalWeight: Double?

    @Option(name: .customLong("max-side"), help: "Sliding mode: longest side of the working resolution (default 1920).")
    var maxSide: Int?

    @Option(help: "Sliding mode: one class selection from the global view for all windows (shared) or one per window (per-window). Default: shared.")
    var crm: String?

    // Family settings: help, accepted values, defaults and validation come from the family registry.
    @Option(name: .customLong("crm-k"), help: ArgumentHelp(ModelFamilies.help(for: "crm-k")))
    var crmK: String?

    @Option(name: .customLong("crm-refresh"), help: ArgumentHelp(ModelFamilies.help(for: "crm-refresh")))
    var crmRefresh: String?

    @Option(help: ArgumentHelp(ModelFamilies.help(for: "resize")))
    var resize: String?

    @Option(help: ArgumentHelp(ModelFamilies.help(for: "cer")))
    var cer: String?

    @Option(name: .customLong("cer-k"), help: ArgumentHelp(ModelFamilies.help(for: "cer-k")))
    var cerK: String?

    @Option(name: .customLong("cer-refresh"), help: ArgumentHelp(ModelFamilies.help(for: "cer-refresh")))
    var cerRefresh: String?

    @Option(help: "Alias of --keyframes every:N. Default: 1.")
    var every: Int?

    @Option(help: "Which frames the model runs on: every:N (frames 0, N, 2N, …) or auto (on a scene cut, when intra-coded blocks cover over 30 % of the picture, when the motion since the last keyframe passes 8 % of the shorter side, or after --max-gap frames). Default: every:1.")
    var keyframes: String?

    @Option(name: .customLong("max-gap"), help: "--keyframes auto: the model runs at least every N frames. Default: 12.")
    var maxGap: Int?

    @Option(help: "What frames between keyframes get: motion (the previous frame's labels and panoptic segments warped by the codec's motion vectors; held where a frame has none) or hold (the last keyframe's result unchanged). Default: motion.")
    var propagate: String?

    @Option(help: "Write per-frame label-map PNGs (8-bit indexed, 16-bit grey beyond 256 classes) into this directory. Default: none.")
    var masks: String?

    @Option(help: "Write one JSON line per frame (classes present with pixel fractions) to this file, after a header with the model and its settings. Default: none.")
    var jsonl: String?

    @Option(help: "Panoptic models: write COCO panoptic output (one PNG per frame, id = R + 256·G + 256²·B, and panoptic.json) into this directory.")
    var panoptic: String?

    @Flag(help: "Panoptic models: add each segment's mask as COCO RLE to the JSON lines' segments (needs --jsonl).")
    var rle = false

    @Option(name: .customLong("track-iou"), help: "Panoptic models: mask IoU at which a segment continues a track of its class. Default: 0.3.")
    var trackIoU: Double?

    @Option(name: .customLong("track-memory"), help: "Panoptic models: inferred frames a lost object keeps its track id. Default: 5.")
    var trackMemory: Int?

    @Option(help: "Overlay opacity, 0…1. Default: 0.5.")
    var alpha: Double?

    @Flag(inversion: .prefixedNo, help: "Draw class outlines (default on).")
    var outlines: Bool?

    @Flag(inversion: .prefixedNo, help: "Draw class names at region centres (default on).")
    var labels: Bool?

    @Flag(inversion: .prefixedNo, help: "Draw a legend of the classes present (default on).")
    var legend: Bool?

    @Option(help: "H.264 constant rate factor (0-51, lower is better quality). Default: 20.")
    var crf: Int?

    @Option(help: "x264 preset (ultrafast … veryslow). Default: veryfast.")
    var preset: String?

    @Option(help: "Threads for inference (BLAS and the engine's parallel loops). Default: all cores.")
    var threads: Int?

    @Option(help: "Frames that may wait between two pipeline stages.")
    var queueDepth: Int = 3

    @Option(help: "Progress display: auto, always, never.")
    var progress: String = "auto"

    @Option(help: "Write per-stage timings (frames, total, p50, p95, max) as JSON to this file. Default: none.")
    var timings: String?

    @Flag(name: .shortAndLong, help: "Only errors on stderr.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "More detail on stderr.")
    var verbose = false

    func run() throws {
        bootstrapLogging(quiet: quiet, verbose: verbose)
        var o = SegmentOptions()
        if let pipeline {
            let explicit: [String: Bool] = [
                "model": model != nil, "weights": weights != nil, "classes": classes != nil,
                "vocab": vocabularyFile != nil, "size": size != nil, "every": every != nil, "keyframes": keyframes != nil, "propagate": propagate != nil, "threads": threads != nil, "precision": precision != nil,
                "crf": crf != nil, "task": task != nil, "crm-k": crmK != nil, "mode": mode != nil, "window": window != nil, "overlap": overlap != nil, "global-view": globalView != nil, "global-weight": globalWeight != nil, "max-side": maxSide != nil, "crm": crm != nil, "crm-refresh": crmRefresh != nil, "resize": resize != nil, "cer": cer != nil, "cer-k": cerK != nil, "cer-refresh": cerRefresh != nil, "preset": preset != nil, "alpha": alpha != nil, "outlines": outlines != nil,
                "labels": labels != nil, "legend": legend != nil, "rle": rle, "track-iou": trackIoU != nil,
                "track-memory": trackMemory != nil,
            ]
            try PipelineFile.load(path: pipeline).apply(to: &o, explicitlySet: Set(explicit.filter(\.value).keys))
        }
        o.inputs = inputs
        o.output = output
        o.streamFormat = format
        o.asVideo = asVideo
        if let fps { o.fps = try Self.parseRate(fps) }
        if let startNumber { o.startNumber = startNumber }
        o.live = live
        if let timeout { o.networkTimeoutSeconds = timeout }
        try o.setColourHandling(hdr: hdr, deinterlace: deinterlace)
        if classes != nil || vocabularyFile != nil {
            o.classes = classes
            o.vocabularyFile = vocabularyFile
        }
        if let model { o.model = model }
        if let task { o.task = task }
        if let weights {
            guard let w = SegmentOptions.Weights(rawValue: weights) else {
                throw VocaSegError(.usage, "--weights must be checkpoint or random (got \(weights))")
            }
            o.weights = w
        }
        if let size { o.size = size }
        if let precision { o.precision = try SegmentOptions.precision(parsing: precision) }
        if let crmK { o.modelSettings["crm-k"] = crmK }
        if let mode {
            guard let m = SlidingWindowOptions.Mode(rawValue: mode) else {
                throw VocaSegError(.usage, "--mode must be full or sliding (got \(mode))")
            }
            o.sliding.mode = m
        }
        if let window { o.sliding.window = window }
        if let overlap { o.sliding.overlap = overlap }
        if let globalView {
            guard ["on", "off"].contains(globalView) else { throw VocaSegError(.usage, "--global-view must be on or off") }
            o.sliding.globalView = globalView == "on"
        }
        if let globalWeight { o.sliding.globalWeight = Float(globalWeight) }
        if let maxSide { o.sliding.maxSide = maxSide }
        if let crm {
            guard let scope = SlidingWindowOptions.CRMScope(rawValue: crm) else {
                throw VocaSegError(.usage, "--crm must be shared or per-window (got \(crm))")
            }
            o.sliding.crm = scope
        }
        if let crmRefresh { o.modelSettings["crm-refresh"] = crmRefresh }
        if let resize { o.modelSettings["resize"] = resize }
        if let cer { o.modelSettings["cer"] = cer }
        if let cerK { o.modelSettings["cer-k"] = cerK }
        if let cerRefresh { o.modelSettings["cer-refresh"] = cerRefresh }
        if let every { o.every = every }
        if let keyframes {
            if every != nil { throw VocaSegError(.usage, "give --keyframes or its alias --every, not both") }
            o.keyframes = try KeyframePolicy(parsing: keyframes, maxGap: maxGap)
        } else if maxGap != nil {
            throw VocaSegError(.usage, "--max-gap is for --keyframes auto")
        }
        if let propagate {
            guard let p = Propagation(rawValue: propagate) else {
                throw VocaSegError(.usage, "--propagate must be motion or hold (got \(propagate))")
            }
            o.propagation = p
        }
        o.masksDirectory = masks
        o.jsonLinesPath = jsonl
        if let panoptic { o.panopticDirectory = panoptic }
        if rle { o.rle = true }
        if let trackIoU { o.tracking.iouThreshold = trackIoU }
        if let trackMemory { o.tracking.memory = trackMemory }
        if let alpha { o.alpha = alpha }
        if let outlines { o.outlines = outlines }
        if let labels { o.labels = labels }
        if let legend { o.legend = legend }
        if let crf { o.crf = crf }
        if let preset { o.preset = preset }
        if let threads { o.threads = threads }
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

    /// "25", "29.97" or "30000/1001" as a rational frame rate.
    static func parseRate(_ text: String) throws -> (num: Int32, den: Int32) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let n = Int32(parts[0]), let d = Int32(parts[1]), n > 0, d > 0 { return (n, d) }
        if parts.count == 1, let v = Double(text), v > 0, v <= 1000 {
            // Decimal rates as FFmpeg writes the usual ones: 29.97 → 30000/1001.
            for base in [24.0, 30.0, 60.0, 120.0] where abs(v - base * 1000 / 1001) < 0.005 {
                return (Int32(base * 1000), 1001)
            }
            let scaled = (v * 1000).rounded()
            if abs(scaled / 1000 - v) < 1e-9 {
                var n = Int64(scaled), d: Int64 = 1000
                var a = n, b = d
                while b != 0 { (a, b) = (b, a % b) }
                n /= a; d /= a
                return (Int32(n), Int32(d))
            }
        }
        throw VocaSegError(.usage, "--fps must be a positive number or fraction such as 25 or 30000/1001 (got \(text))")
    }

    private func printSummary(_ r: InputReport) {
        var lines = ["\(r.input): \(r.frames) frames (\(r.inferredFrames) inferred) in \(String(format: "%.2f", r.wallSeconds)) s → \(r.overlay == "-" ? "standard output" : r.overlay)"]
        if r.live {
            let total = r.frames + r.droppedFrames
            let rate = total > 0 ? 100 * Double(r.droppedFrames) / Double(total) : 0
            var line = "  live: \(r.droppedFrames) of \(total) frames dropped (\(String(format: "%.1f", rate)) %)"
            if let latency = r.timings.first(where: { $0.stage == "latency" }) {
                line += String(format: "; end-to-end latency p50 %.0f ms, p95 %.0f ms", latency.p50Milliseconds,
                               latency.p95Milliseconds)
            }
            lines.append(line)
        }
        if let m = r.masksDirectory { lines.append("  label maps: \(m)") }
        if let p = r.panopticDirectory { lines.append("  COCO panoptic: \(p)") }
        if let j = r.jsonLines { lines.append("  JSON lines: \(j)") }
        // As wide as the longest stage name, so that `inference.backbone.stage0` and its siblings stay apart.
        let width = max(22, r.timings.map(\.stage.count).max() ?? 0)
        lines.append("  " + "stage".padding(toLength: width, withPad: " ", startingAt: 0)
            + " frames   total s    p50 ms    p95 ms    max ms")
        for t in r.timings {
            lines.append("  " + t.stage.padding(toLength: width, withPad: " ", startingAt: 0)
                + String(format: " %6d %9.2f %9.2f %9.2f %9.2f", t.frames, t.totalSeconds, t.p50Milliseconds,
                         t.p95Milliseconds, t.maxMilliseconds))
        }
        StandardError.write(lines.joined(separator: "\n") + "\n")
    }
}
