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

    /// The settings the model runs with, for the JSON-lines header (e.g. ERR-Seg: k, input_size, resize, mode).
    var settingsSummary: [String: any Sendable] { get }

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

extension SegmentationModel {
    public var settingsSummary: [String: any Sendable] { [:] }
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
    /// Whatever the model's own preprocessing adds for its inference step (ERR-Seg: a scene-cut thumbnail).
    public var payload: (any ModelPayload)?

    public init(channels: Int, width: Int, height: Int, data: [Float], originalWidth: Int, originalHeight: Int,
                payload: (any ModelPayload)? = nil) {
        precondition(data.count == channels * width * height, "PreprocessedFrame: wrong data size")
        self.channels = channels
        self.width = width
        self.height = height
        self.data = data
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
        self.payload = payload
    }
}

/// Per-stream state a model keeps between frames. Opaque to the pipeline.
public protocol FrameState: Sendable {}

/// Model-owned data that rides along with a frame: the core types carry it without knowing what it is, so that a
/// family's per-frame extras (ERR-Seg's thumbnail and class selection) stay in that family's code.
public protocol ModelPayload: Sendable {
    /// Fields this payload adds to the frame's JSON line (e.g. `"selected": [names]`), given the class names.
    func jsonFields(classNames: [String]) -> [String: any Sendable]
}

extension ModelPayload {
    public func jsonFields(classNames: [String]) -> [String: any Sendable] { [:] }
}

/// The result for one frame: a label map at the original frame's size, the segments when the model is panoptic,
/// and what the model adds to them.
public struct SegmentationResult: Sendable {
    /// The semantic label map; every model fills it, panoptic ones too (label-map PNGs stay semantic).
    public var labels: LabelMap
    /// Segment ids and segments at frame size, for panoptic models; nil for semantic ones.
    public var panoptic: PanopticResult?
    /// Model-specific per-frame output (ERR-Seg: the classes its CRM kept); nil when the model has none.
    public var payload: (any ModelPayload)?
    /// Stage timings inside the model, in seconds, by stage name (e.g. "backbone", "head").
    public var timings: [String: Double]

    public init(labels: LabelMap, payload: (any ModelPayload)? = nil, timings: [String: Double] = [:],
                panoptic: PanopticResult? = nil) {
        self.labels = labels
        self.panoptic = panoptic
        self.payload = payload
        self.timings = timings
    }
}

/// Models that can count their own arithmetic, so that benchmarks can report GFLOP/s per stage.
public protocol ComputeCostReporting {
    /// Multiply-accumulates for one inferred frame, by stage name (matching the names in `SegmentationResult.timings`),
    /// for the vocabulary last passed to `prepare`.
    func multiplyAccumulatesPerFrame() -> [String: Double]
    /// Classes each stage of the last frame ran on, for models whose class count changes inside a frame (SED's
    /// category early rejection: candidates, then the survivors of each rejection point); nil for the others.
    func classCountsPerStage() -> [Int]?
}

extension ComputeCostReporting {
    public func classCountsPerStage() -> [Int]? { nil }
}
