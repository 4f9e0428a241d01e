/// What every segmentation model offers the pipeline.
///
/// The pipeline calls `prepare(vocabulary:)` once (text embeddings are computed there and reused for every frame),
/// then for each frame `preprocess` on the preprocess stage's thread and `segment` on the inference stage's
/// thread. Preprocessing is the model's, because it is part of its numerics (ERR-Seg resizes as its official
/// evaluation does); the pipeline only decides where it runs.
public protocol SegmentationModel: AnyObject, Sendable {
    /// Short name for logs and JSON headers, e.g. `errseg-b`.
    var name: String { get }
    /// Whether the weights are seeded random ones (outputs are then meaningless; the CLI says so).
    var usesRandomWeights: Bool { get }

    /// Compute whatever depends only on the vocabulary (text embeddings). Called before the first frame and again
    /// only if the vocabulary changes.
    func prepare(vocabulary: Vocabulary) throws

    /// Turn an upright RGB frame into the model's input. Must be safe to call concurrently with `segment`.
    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame

    /// Segment one preprocessed frame. `state` carries what a model reuses across frames of one stream (e.g.
    /// ERR-Seg's selected classes); it starts as `nil` for a new stream.
    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult

    /// True when `segment` fills `SegmentationResult.panoptic` (then `--panoptic` and the JSON-lines `segments`
    /// are available).
    var isPanoptic: Bool { get }
}

extension SegmentationModel {
    public var isPanoptic: Bool { false }
}

/// A model input: float planes (CHW) plus the size of the frame it came from, so that results can be
/// mapped back to it.
public struct PreprocessedFrame: Sendable {
    public var channels: Int
    public var width: Int
    public var height: Int
    /// `channels * height * width` floats, channel-major.
    public var data: [Float]
    public var originalWidth: Int
    public var originalHeight: Int
    /// Cheap per-frame signature for scene-cut detection (e.g. a small grey thumbnail), filled by preprocess.
    public var thumbnail: [UInt8]

    public init(channels: Int, width: Int, height: Int, data: [Float], originalWidth: Int, originalHeight: Int,
                thumbnail: [UInt8] = []) {
        precondition(data.count == channels * width * height, "PreprocessedFrame: wrong data size")
        self.channels = channels
        self.width = width
        self.height = height
        self.data = data
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
        self.thumbnail = thumbnail
    }
}

/// Per-stream state a model keeps between frames. Opaque to the pipeline.
public protocol FrameState: Sendable {}

/// The result for one frame: a label map at the original frame's size and what the model looked at, plus the
/// segments when the model is panoptic.
public struct SegmentationResult: Sendable {
    /// The semantic label map; every model fills it, panoptic ones too (label-map PNGs stay semantic).
    public var labels: LabelMap
    /// Segment ids and segments at frame size, for panoptic models; nil for semantic ones.
    public var panoptic: PanopticResult?
    /// Vocabulary indices the model considered for this frame (ERR-Seg's CRM selection); nil when all were.
    public var selectedClasses: [Int]?
    /// Stage timings inside the model, in seconds, by stage name (e.g. "backbone", "head").
    public var timings: [String: Double]

    public init(labels: LabelMap, selectedClasses: [Int]? = nil, timings: [String: Double] = [:],
                panoptic: PanopticResult? = nil) {
        self.labels = labels
        self.panoptic = panoptic
        self.selectedClasses = selectedClasses
        self.timings = timings
    }
}

/// Models that can count their own arithmetic, so that benchmarks can report GFLOP/s per stage.
public protocol ComputeCostReporting {
    /// Multiply-accumulates for one inferred frame, by stage name (matching the names in `SegmentationResult.timings`),
    /// for the vocabulary last passed to `prepare`.
    func multiplyAccumulatesPerFrame() -> [String: Double]
}
