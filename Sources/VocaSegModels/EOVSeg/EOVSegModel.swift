import Foundation
import VocaSegCore
import VocaSegTensor

/// Every stage output of one forward pass (spec §2), in the reference's layouts, for tests and the parity dump.
public struct EOVSegIntermediates: @unchecked Sendable {
    public var features: [Tensor]      // res2 … res5, NCHW
    public var spatial: Tensor         // V [1, vitWidth, H/16, W/16]
    public var aggregated: Tensor      // F0 [1, hidden, H/4, W/4]
    public var gate: Tensor            // [1, 1, H/4, W/4]
    public var gated: Tensor           // F [1, hidden, H/4, W/4]
    var decoder: LightweightDecoderOutput
    public var clipMasks: Tensor       // Mc [Q, H/32, W/32]
    public var clipPooled: Tensor      // [Q, D]
    public var clipLogits: Tensor      // [Q, K+1]
    public var logProbabilities: Tensor  // logP [Q, K+1]
    public var classLogits: Tensor { decoder.classLogits }
    public var masks: Tensor { decoder.masks }
}

/// EOV-Seg inference on the CPU (spec §2, §4): the frozen CNN CLIP (ResNet or ConvNeXt) gives multi-scale features
/// and, later, mask-pooled CLIP embeddings; the ViT-B/16 CLIP's first block gives spatial features; the lite
/// aggregator, VAS and the lightweight decoder give 100 masks with in-vocabulary classes; the geometric ensemble with
/// the out-of-vocabulary CLIP classes and panoptic inference give segments. The text classifier is computed once
/// per vocabulary (and cached on disk), as is VAS's guide.
public final class EOVSegModel: SegmentationModel, @unchecked Sendable {
    public let config: EOVSegConfig
    public let name: String
    public let usesRandomWeights: Bool
    /// Panoptic (segments and the semantic map) or semantic (the map only); one forward pass serves both.
    public let task: SegmentationTask
    public var isPanoptic: Bool { task == .panoptic }

    let backbone: EOVSegCNNBackbone
    let vit: ViTSpatialBranch
    let aggregator: LiteAggregator
    let decoder: LightweightDecoder
    /// `cnn_backbone.clip_model.logit_scale` (exp = 100 in the released towers), for the CLIP classification.
    let clipLogitScale: Float
    /// `void_embedding.weight` [1, D]: normalised, it is the text classifier's last row.
    let voidEmbedding: Tensor
    let promptEncoder: PromptEnsembleEncoder?

    /// Scratch of the ConvNeXt trunk, reused across frames.
    let pool = BufferPool()
    private let lock = NSLock()
    private var prepared: (classifier: EOVSegTextClassifier, guide: Tensor)?
    private var lastSize: (height: Int, width: Int)?
    /// The padded input size of the last frame segmented (for the compute count).
    var lastInputSize: (height: Int, width: Int)? {
        lock.lock()
        defer { lock.unlock() }
        return lastSize
    }
    /// Whether the last `prepare(vocabulary:)` found its text rows in the cache.
    public private(set) var lastPrepareUsedCache = false

    public var textEmbeddingCache: TextEmbeddingCache? {
        get { promptEncoder?.cache }
        set { promptEncoder?.cache = newValue }
    }

    /// Builds the model from `weights` (every tensor it needs; then one error listing whatever was missing,
    /// misshapen or unexpected). `tokenizer` is needed by `prepare(vocabulary:)`.
    public init(config: EOVSegConfig, weights: WeightLoader, tokenizer: CLIPTokenizer?,
                task: SegmentationTask = .panoptic) throws {
        try config.validate()
        self.config = config
        self.task = task
        name = config.name
        usesRandomWeights = weights.isRandom
        let cnn = weights.scope("cnn_backbone.clip_model")
        backbone = EOVSegCNNBackbone(config: config, weights: cnn.scope("visual"))
        let text = CLIPTextTransformer(config: config.textTower, weights: cnn)
        // toArray: `.data` of a temporary would read memory freed with it.
        clipLogitScale = cnn.tensor("logit_scale", []).toArray()[0]
        vit = ViTSpatialBranch(config: config, weights: weights.scope("vit_backbone.clip_model"))
        aggregator = LiteAggregator(weights.scope("lite_aggr"), featureChannels: config.featureChannels,
                                    aggDim: config.aggDim, hiddenDim: config.hiddenDim)
        decoder = LightweightDecoder(weights.scope("light_weight_decoder"), config: config)
        voidEmbedding = weights.tensor("void_embedding.weight", shape: [1, config.embedDim])
        promptEncoder = try tokenizer.map {
            try PromptEnsembleEncoder(text: text, tokenizer: $0, ensemble: EOVSegTextClassifier.ensemble)
        }
        try weights.finish()
    }

    /// A released checkpoint (detectron2 layout, full state dict with the frozen CLIP towers).
    public static func load(checkpointPath: String, config: EOVSegConfig, tokenizer: CLIPTokenizer?,
                            task: SegmentationTask = .panoptic) throws -> EOVSegModel {
        try EOVSegModel(config: config, weights: try WeightLoader(path: checkpointPath), tokenizer: tokenizer, task: task)
    }

    /// Seeded random weights, for pipeline and speed checks only (the output means nothing).
    public static func random(config: EOVSegConfig, seed: UInt64 = 0, tokenizer: CLIPTokenizer?,
                              task: SegmentationTask = .panoptic) throws -> EOVSegModel {
        try EOVSegModel(config: config, weights: EOVSegRandomWeights.loader(config: config, seed: seed),
                        tokenizer: tokenizer, task: task)
    }

    // MARK: - Vocabulary

    public func prepare(vocabulary: Vocabulary) throws {
        guard let promptEncoder else {
            throw VocaSegError(.model, "EOV-Seg needs the CLIP tokenizer vocabulary to encode class names")
        }
        guard vocabulary.count < Int(LabelMap.unlabeled) else {
            throw VocaSegError(.usage, "the vocabulary has \(vocabulary.count) classes; at most \(Int(LabelMap.unlabeled) - 1) are supported")
        }
        let (rows, cached) = try promptEncoder.encode(vocabulary)
        lastPrepareUsedCache = cached
        setTextClassifier(EOVSegTextClassifier(synonymRows: rows, voidEmbedding: voidEmbedding, vocabulary: vocabulary))
    }

    /// Uses this classifier for the following frames (what `prepare` computes; tests give the reference's).
    public func setTextClassifier(_ classifier: EOVSegTextClassifier) {
        opCheck(classifier.rows.shape[1] == config.embedDim,
                "EOV-Seg text classifier width \(classifier.rows.shape[1]), model \(config.embedDim)")
        let guide = decoder.vas.guide(textClassifier: classifier.rows)
        lock.lock()
        prepared = (classifier, guide)
        lock.unlock()
    }

    var currentClassifier: (classifier: EOVSegTextClassifier, guide: Tensor)? {
        lock.lock()
        defer { lock.unlock() }
        return prepared
    }

    public var settingsSummary: [String: any Sendable] {
        ["task": task.rawValue, "short_edge": config.shortEdge, "max_size": config.maxSize,
         "queries": config.numQueries, "object_mask_threshold": Double(config.objectMaskThreshold),
         "overlap_threshold": Double(config.overlapThreshold), "mode": "full"]
    }

    // MARK: - Frames

    public func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        guard frame.width > 0, frame.height > 0 else { throw VocaSegError(.input, "the frame is empty") }
        return EOVSegPreprocessing.run(frame, config: config)
    }

    /// The network on a normalised, padded input [1, 3, H, W] (H, W multiples of 32), up to the ensemble.
    /// `decisions`: parity checks only (see EOVSegDecisions).
    public func forward(input x: Tensor, classifier c: EOVSegTextClassifier, guide: Tensor,
                        timings: inout [String: Double], decisions: EOVSegDecisions? = nil) -> EOVSegIntermediates {
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ name: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings[name, default: 0] += Double(now - clock) / 1e9
            clock = now
        }
        let features = backbone.features(x, pool: pool)
        lap("backbone")
        let v = vit(x)
        lap("vit")
        let f0 = aggregator(features: features)
        lap("aggregator")
        let (f, gate) = decoder.vas(f0, guide: guide)
        lap("vas")
        let decoded = decoder.decode(features: f, spatial: v, textClassifier: c.rows, synonymCounts: c.synonymCounts,
                                     decisions: decisions)
        lap("decoder")
        let res5 = features[3]
        var mc = EOVSegClassification.clipMasks(decoded.masks, height: res5.shape[2], width: res5.shape[3])
        if let decided = decisions?.clipMasks {
            opCheck(decided.shape == mc.shape, "EOV-Seg: decided CLIP masks \(decided.shape), computed \(mc.shape)")
            mc = decided
        }
        let pooled = backbone.maskPooled(res5: res5, maskLogits: mc)
        let clipLogits = EOVSegClassification.classificationLogits(embeddings: pooled, textClassifier: c.rows,
                                                                   logitScale: clipLogitScale,
                                                                   synonymCounts: c.synonymCounts)
        let valid = config.ensembleOnValidMask ? EOVSegClassification.validMasks(mc) : nil
        let (_, logP) = EOVSegClassification.ensemble(inVocab: decoded.classLogits, outVocab: clipLogits, seen: c.seen,
                                                      alpha: config.ensembleAlpha, beta: config.ensembleBeta,
                                                      valid: valid)
        lap("clip")
        return EOVSegIntermediates(features: features, spatial: v, aggregated: f0, gate: gate, gated: f,
                                   decoder: decoded, clipMasks: mc, clipPooled: pooled, clipLogits: clipLogits,
                                   logProbabilities: logP)
    }

    public func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        guard let (classifier, guide) = currentClassifier else {
            throw VocaSegError(.internal, "EOV-Seg: segment called before prepare(vocabulary:)")
        }
        let d = config.sizeDivisibility
        guard input.channels == 3, input.width % d == 0, input.height % d == 0,
              let size = input.payload as? EOVSegResizedSize,
              size.resizedWidth <= input.width, size.resizedHeight <= input.height else {
            throw VocaSegError(.internal, "EOV-Seg: the input \(input.channels)×\(input.height)×\(input.width) did not come from its preprocessing")
        }
        guard input.originalWidth > 0, input.originalHeight > 0 else { throw VocaSegError(.input, "the frame has no pixels") }
        lock.lock()
        lastSize = (input.height, input.width)
        lock.unlock()
        var timings: [String: Double] = [:]
        let x = Tensor(shape: [1, 3, input.height, input.width], data: input.data)
        let out = forward(input: x, classifier: classifier, guide: guide, timings: &timings)
        let p0 = DispatchTime.now().uptimeNanoseconds
        let geometry = EOVSegFrameGeometry(paddedHeight: input.height, paddedWidth: input.width,
                                           resizedHeight: size.resizedHeight, resizedWidth: size.resizedWidth,
                                           originalHeight: input.originalHeight, originalWidth: input.originalWidth)
        let post = EOVSegPostprocess.run(logProbabilities: out.logProbabilities, masks: out.masks, geometry: geometry,
                                         isThing: classifier.isThing, objectMaskThreshold: config.objectMaskThreshold,
                                         overlapThreshold: config.overlapThreshold)
        timings["postprocess"] = Double(DispatchTime.now().uptimeNanoseconds - p0) / 1e9
        return SegmentationResult(labels: post.labels, timings: timings,
                                  panoptic: task == .panoptic ? post.panoptic : nil)
    }
}
