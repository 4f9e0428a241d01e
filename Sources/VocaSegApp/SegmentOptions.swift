import VocaSegCore
import VocaSegMedia
import VocaSegModels
import VocaSegPipeline
import VocaSegTensor

/// Everything `vocaseg segment` can be asked to do, independent of how it was asked (CLI flags or a pipeline file).
public struct SegmentOptions: Sendable {
    public enum Weights: String, Sendable, CaseIterable {
        /// Load the checkpoint named by `model`.
        case checkpoint
        /// Same architecture with seeded random weights: for pipeline and speed checks only.
        case random
    }

    public enum ProgressMode: String, Sendable, CaseIterable { case auto, always, never }

    public var inputs: [String] = []
    /// A file for one input; a directory (existing, or ending in `/`) for several.
    public var output: String?
    public var classes: String?
    public var vocabularyFile: String?
    /// A model name (`ModelFamilies.variantNames`) or a checkpoint path.
    public var model: String = "errseg-b"
    /// `semantic` or `panoptic`, where the family offers both (nil: the family's default).
    public var task: String?
    public var weights: Weights = .checkpoint
    /// Model input size override (the model's own default when nil).
    public var size: Int?
    /// The inputs' precision of the per-frame matrix products (`--precision`): fp32, or bf16 where the CPU has
    /// AVX512_BF16 (fp32 with a notice elsewhere). Text encoding is fp32 either way.
    public var precision: GEMMPrecision = .fp32

    public static let precisionHelp = "fp32 or bf16: the per-frame matrix products with bfloat16 inputs and fp32 sums, where the CPU has AVX512_BF16 (checked at start; fp32 with a notice elsewhere). About 1.5x faster; labels can differ from fp32 near class boundaries. Default: fp32."

    /// `--precision` / `inference.precision` text → precision, or a usage error.
    public static func precision(parsing text: String) throws -> GEMMPrecision {
        guard let precision = GEMMPrecision(rawValue: text) else {
            throw VocaSegError(.usage, "--precision must be fp32 or bf16 (got \(text))")
        }
        return precision
    }
    /// The family's own settings by flag name (ERR-Seg: `crm-k`, `crm-refresh`, `resize`), as given; the family
    /// validates and defaults them (`FamilyOption`).
    public var modelSettings: FamilySettings = [:]
    /// Full-frame inference (default) or sliding windows plus a global view for high-resolution frames.
    public var sliding = SlidingWindowOptions()
    public var every: Int = 1
    /// Which frames the model runs on (`--keyframes`); nil: every `every`-th frame.
    public var keyframes: KeyframePolicy?
    /// What the frames between keyframes get (`--propagate`): warped by motion vectors (default) or held.
    public var propagation: Propagation = .motion
    public var masksDirectory: String?
    /// COCO panoptic PNGs + JSON here (panoptic models only).
    public var panopticDirectory: String?
    /// `<name>.panoptic/` beside the overlay: a pipeline file's `outputs.panoptic: true`.
    public var panopticBesideOverlay = false
    /// COCO RLE masks in the JSON lines' `segments`.
    public var rle = false
    /// How panoptic segments keep their ids across frames.
    public var tracking = TrackingOptions()
    public var jsonLinesPath: String?
    public var alpha: Double = 0.5
    public var outlines = true
    public var labels = true
    public var legend = true
    public var crf = 20
    public var preset = "veryfast"
    public var threads: Int?
    public var queueDepth = 3
    public var progress: ProgressMode = .auto
    public var quiet = false
    /// Write per-stage timings as JSON here.
    public var timingsPath: String?
    /// Label maps / JSON lines beside the overlay (`<name>.masks/`, `<name>.jsonl`) when no explicit path is given:
    /// what a pipeline file's `outputs.masks: true` / `outputs.jsonl: true` ask for.
    public var masksBesideOverlay = false
    public var jsonLinesBesideOverlay = false
    /// Output base name when writing into a directory; `{stem}` is the input's name without extension.
    public var naming = "{stem}.vocaseg"
    /// Overlay container when writing into a directory.
    public var container = "mp4"
    /// False when only label maps / JSON lines are wanted (a pipeline file's `outputs.overlay: false`).
    public var writeOverlay = true
    /// Class colours that replace the palette's, as "#rrggbb" by class name.
    public var colorOverrides: [String: String] = [:]
    /// `-o -`: the container written to standard output (`OutputPlan.streamFormats`; default nut).
    public var streamFormat: String?
    /// A folder of pictures gives one video (`<name>.vocaseg.mp4`) instead of a folder of overlays.
    public var asVideo = false
    /// Frame rate of inputs without timestamps (folders, sequences, piped pictures, raw streams); nil: 25.
    public var fps: (num: Int32, den: Int32)?
    /// First number of a numbered output sequence (`-o name_%06d.png`), as FFmpeg's `-start_number` (default 1).
    public var startNumber = 1
    /// Bounded latency for live sources: when inference falls behind, only the newest frame waits and the
    /// older ones are dropped (counted). Nil: on for network URLs, off otherwise.
    public var live: Bool?
    /// Network sources: seconds without data that end the input.
    public var networkTimeoutSeconds: Double = 5
    /// HDR (PQ, HLG) input: tone-mapped to SDR BT.709 (`--hdr tonemap`, default) or passed on (`off`).
    public var hdr: HDRHandling = .tonemap
    /// Interlaced input: `--deinterlace auto` (flagged frames, default), `on` (every frame) or `off`.
    public var deinterlace: DeinterlaceMode = .auto

    /// How inputs are opened, from these options.
    public var sourceOptions: SourceOptions {
        var o = SourceOptions(frameRate: fps, networkTimeoutSeconds: networkTimeoutSeconds)
        o.exportMotionVectors = needsMotionVectors
        o.hdr = hdr
        o.deinterlace = deinterlace
        return o
    }

    /// The keyframe policy in force.
    public var keyframePolicy: KeyframePolicy { keyframes ?? .every(every) }

    /// Motion vectors are decoded only when something reads them: propagation between keyframes, or `auto`
    /// keyframes (which watch the share of intra blocks and the motion). Otherwise they cost nothing.
    var needsMotionVectors: Bool {
        switch keyframePolicy {
        case .auto: return true
        case let .every(n): return n > 1 && propagation == .motion
        }
    }

    public init() {}

    /// `--hdr` and `--deinterlace` from their command-line words.
    public mutating func setColourHandling(hdr hdrText: String?, deinterlace deinterlaceText: String?) throws {
        if let hdrText {
            guard let value = HDRHandling(rawValue: hdrText) else {
                throw VocaSegError(.usage, "--hdr must be tonemap or off, not '\(hdrText)'")
            }
            hdr = value
        }
        if let deinterlaceText {
            guard let value = DeinterlaceMode(rawValue: deinterlaceText) else {
                throw VocaSegError(.usage, "--deinterlace must be auto, on or off, not '\(deinterlaceText)'")
            }
            deinterlace = value
        }
    }

    /// Checks that need no file system: ranges and combinations.
    public func validateFlags() throws {
        if inputs.isEmpty { throw VocaSegError(.usage, "no input given") }
        if classes != nil && vocabularyFile != nil {
            throw VocaSegError(.usage, "give the vocabulary either with --classes or with --vocab, not both")
        }
        if classes == nil && vocabularyFile == nil {
            throw VocaSegError(.usage, "no vocabulary: give --classes \"a, b, c\" or --vocab FILE")
        }
        if every < 1 { throw VocaSegError(.usage, "--every must be at least 1 (got \(every))") }
        if !(0...1).contains(alpha) { throw VocaSegError(.usage, "--alpha must be between 0 and 1 (got \(alpha))") }
        if let size, size < 32 || size > 4096 { throw VocaSegError(.usage, "--size must be between 32 and 4096") }
        if let threads, threads < 1 { throw VocaSegError(.usage, "--threads must be at least 1") }
        if !(0...51).contains(crf) { throw VocaSegError(.usage, "--crf must be between 0 and 51 (got \(crf))") }
        try sliding.validate()
        if let task, SegmentationTask(rawValue: task) == nil {
            throw VocaSegError(.usage, "--task must be semantic or panoptic (got \(task))")
        }
        try ModelLoader.validate(self)
        if queueDepth < 1 || queueDepth > 64 { throw VocaSegError(.usage, "--queue-depth must be between 1 and 64") }
        if rle && jsonLinesPath == nil && !jsonLinesBesideOverlay {
            throw VocaSegError(.usage, "--rle adds masks to the JSON lines: give --jsonl FILE too")
        }
        if !(0...1).contains(tracking.iouThreshold) || tracking.iouThreshold == 0 {
            throw VocaSegError(.usage, "--track-iou must be above 0 and at most 1 (got \(tracking.iouThreshold))")
        }
        if let format = streamFormat {
            guard OutputPlan.streamFormats.contains(format) else {
                throw VocaSegError(.usage, "--format must be one of \(OutputPlan.streamFormats.joined(separator: ", ")) "
                                   + "(got \(format))")
            }
            guard output == "-" else { throw VocaSegError(.usage, "--format is for standard output: use it with -o -") }
        }
        if let fps, fps.num <= 0 || fps.den <= 0 || Double(fps.num) / Double(fps.den) > 1000 {
            throw VocaSegError(.usage, "--fps must be above 0 and at most 1000")
        }
        if startNumber < 0 { throw VocaSegError(.usage, "--start-number must be 0 or more (got \(startNumber))") }
        if !(networkTimeoutSeconds > 0) { throw VocaSegError(.usage, "--timeout must be above 0 seconds") }
        if tracking.memory < 0 { throw VocaSegError(.usage, "--track-memory must be 0 or more (got \(tracking.memory))") }
    }
}

/// Re-exported so that the CLI needs only this module.
public typealias SlidingWindowOptions = VocaSegModels.SlidingWindowOptions
public typealias FamilySettings = VocaSegModels.FamilySettings
public typealias ModelFamilies = VocaSegModels.ModelFamilies
public typealias TrackingOptions = VocaSegPipeline.TrackingOptions
public typealias KeyframePolicy = VocaSegPipeline.KeyframePolicy
public typealias Propagation = VocaSegPipeline.Propagation
public typealias AutoKeyframes = VocaSegPipeline.AutoKeyframes

extension SegmentOptions {
    /// Outputs that only a panoptic model can fill, named as they were asked for (flag, or a pipeline file's
    /// `outputs.panoptic`); a semantic model refuses them in one line.
    var panopticOnlyOutputs: [String] {
        (panopticDirectory != nil ? ["--panoptic"] : panopticBesideOverlay ? ["outputs.panoptic"] : [])
            + (rle ? ["--rle"] : [])
    }
}
