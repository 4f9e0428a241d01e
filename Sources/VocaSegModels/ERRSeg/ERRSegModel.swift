import Foundation
import VocaSegCore
import VocaSegTensor

/// Run-time choices that are not part of the weights.
public struct ERRSegOptions: Sendable, Equatable {
    public enum ResizeMode: String, Sendable, CaseIterable {
        /// As the official evaluation: shortest edge to 800 (long side ≤ 1333) with Pillow bilinear, then squash.
        case official
        /// Squash the frame straight to the model size (cheaper, slightly different numbers).
        case direct
    }

    /// K, the classes the CRM keeps; nil = the config's (32). Clamped to the vocabulary size.
    public var classesKept: Int?
    /// Re-run the CRM selection every N inferred frames of a stream (1 = every frame, as the original).
    public var crmRefresh: Int
    /// Also re-select when the 16×16 grey thumbnail changes by more than this mean absolute difference (0…255);
    /// nil disables the scene-cut check. Only matters when `crmRefresh > 1`.
    public var sceneCutThreshold: Float?
    public var resizeMode: ResizeMode

    public init(classesKept: Int? = nil, crmRefresh: Int = 1, sceneCutThreshold: Float? = 20,
                resizeMode: ResizeMode = .official) {
        self.classesKept = classesKept
        self.crmRefresh = crmRefresh
        self.sceneCutThreshold = sceneCutThreshold
        self.resizeMode = resizeMode
    }
}

/// What ERR-Seg carries from frame to frame of one stream: the CRM's selection and when it was made.
public struct ERRSegFrameState: FrameState {
    public var selectedClasses: [Int]
    public var framesSinceSelection: Int
    public var thumbnail: [UInt8]
    /// Vocabulary size and K the selection was made for (a different vocabulary invalidates it).
    public var vocabularyCount: Int
    public var classesKept: Int
    /// Which `prepare`/`setTextEmbeddings` call the selection belongs to.
    public var textGeneration: Int = 0
}

/// Every stage output of one forward pass, in the reference's layouts (for tests and debugging).
public struct ERRSegIntermediates: @unchecked Sendable {
    public var visual: VisualFeatures
    public var cost16: Tensor      // [T, h·w]
    public var cost32: Tensor      // [T, h/2·w/2]
    public var crmScores: [Float]? // nil when the selection was reused
    public var selected: [Int]
    public var costEmbedding: Tensor  // [K, h·w, C] channels-last (empty unless intermediates are kept)
    public var gimg: Tensor           // [h·w, C]
    public var gdec: [Tensor]         // NCHW
    public var gtxt: Tensor           // [K, C]
    public var sfmOut: [Tensor]       // [K, h·w, C] each
    public var escfOut: [Tensor]
    public var gudOut: [Tensor]       // NCHW
    public var logitsSelected: Tensor // [K, 4h, 4w]
    public var height: Int, width: Int
}

/// ERR-Seg inference (CLIP ConvNeXt + HSM, CLIP text encoder, CRM, ESCF × 4, GUD) on the CPU.
public final class ERRSegModel: SegmentationModel, @unchecked Sendable {
    public let config: ERRSegConfig
    public let options: ERRSegOptions
    public let name: String
    public let usesRandomWeights: Bool

    let visual: ERRSegVisual
    let text: CLIPTextTransformer
    /// The vocabulary's prompts through `text` (nil without a tokenizer: embeddings must then be set directly).
    let promptEncoder: PromptEnsembleEncoder?
    let costEmbedding: CostEmbedding
    let guidance: GuidanceProjections
    let escf: [ESCFBlock]
    let gud: GradualUpsamplingDecoder
    let tokenizer: CLIPTokenizer?
    let pool = BufferPool()
    /// Scratch for the per-class decoder work, one pool per worker thread (`pool` is the first).
    private var extraPools: [BufferPool] = []

    func workerPools() -> [BufferPool] {
        lock.lock()
        defer { lock.unlock() }
        while extraPools.count + 1 < ParallelConfig.threads { extraPools.append(BufferPool()) }
        return [pool] + extraPools
    }
    private let lock = NSLock()
    private var textEmbeddingsStorage: Tensor?
    private var textGeneration = 0
    /// Where `prepare(vocabulary:)` looks for, and leaves, the vocabulary's text embeddings (nil: always compute).
    public var textEmbeddingCache: TextEmbeddingCache? {
        get { promptEncoder?.cache }
        set { promptEncoder?.cache = newValue }
    }
    /// Whether the last `prepare(vocabulary:)` found its embeddings in the cache.
    public private(set) var lastPrepareUsedCache = false

    /// Builds the model from `weights` (reading every tensor it needs; then throws one error listing whatever was
    /// missing, misshapen or unexpected). `tokenizer` is needed by `prepare(vocabulary:)`.
    public init(config: ERRSegConfig, weights: WeightLoader, tokenizer: CLIPTokenizer?,
                options: ERRSegOptions = ERRSegOptions()) throws {
        try config.validate()
        guard options.crmRefresh >= 1 else { throw VocaSegError(.usage, "the CRM refresh interval must be at least 1") }
        guard (options.classesKept ?? 1) >= 1 else { throw VocaSegError(.usage, "K (classes kept) must be at least 1") }
        self.config = config
        self.options = options
        name = config.name
        usesRandomWeights = weights.isRandom
        self.tokenizer = tokenizer
        let root = weights.scope(ERRSegWeights.rootPrefix)
        let clip = root.scope("clip_model"), dec = root.scope("decoder")
        visual = ERRSegVisual(config: config, weights: clip.scope("visual"))
        let textTower = CLIPTextTransformer(config: config.textTower, weights: clip)
        text = textTower
        // One template, first synonym only: the official ERR-Seg prompt.
        promptEncoder = try tokenizer.map {
            try PromptEnsembleEncoder(text: textTower, tokenizer: $0,
                                      ensemble: PromptEnsemble(templates: [config.promptTemplate], synonyms: .first))
        }
        costEmbedding = CostEmbedding(dec, config: config)
        guidance = GuidanceProjections(dec, config: config)
        escf = config.aggregatorSRRatios.enumerated().map {
            ESCFBlock(dec.scope("aggregator_layers.\($0.offset)"), config: config, srRatio: $0.element)
        }
        gud = GradualUpsamplingDecoder(dec, config: config)
        try weights.finish()
    }

    /// The official checkpoint (`model_final.pth`) for `config`.
    public static func load(checkpointPath: String, config: ERRSegConfig, tokenizer: CLIPTokenizer?,
                            options: ERRSegOptions = ERRSegOptions()) throws -> ERRSegModel {
        try ERRSegModel(config: config, weights: ERRSegWeights.checkpoint(path: checkpointPath), tokenizer: tokenizer,
                        options: options)
    }

    /// Seeded random weights: for pipeline and speed checks only (outputs are meaningless).
    public static func random(config: ERRSegConfig, seed: UInt64 = 0, tokenizer: CLIPTokenizer?,
                              options: ERRSegOptions = ERRSegOptions()) throws -> ERRSegModel {
        try ERRSegModel(config: config, weights: ERRSegWeights.random(config: config, seed: seed), tokenizer: tokenizer,
                        options: options)
    }

    // MARK: - Text

    /// The prompt for a class: the template with the first synonym.
    public func prompt(for cls: Vocabulary.Class) -> String {
        config.promptTemplate.replacingOccurrences(of: "{}", with: cls.name)
    }

    /// Unit text embeddings [T, E] of token rows.
    public func textEmbeddings(tokens: [[Int32]]) throws -> Tensor {
        RowNormalization.unitRows(try text.encode(tokens: tokens))
    }

    public func prepare(vocabulary: Vocabulary) throws {
        guard let promptEncoder else {
            throw VocaSegError(.model, "ERR-Seg needs the CLIP tokenizer vocabulary to encode class names")
        }
        guard vocabulary.count < Int(UInt16.max) else {
            throw VocaSegError(.usage, "the vocabulary has \(vocabulary.count) classes; at most 65534 are supported")
        }
        let (rows, cached) = try promptEncoder.encode(vocabulary)
        lastPrepareUsedCache = cached
        setTextEmbeddings(rows.embeddings)
    }

    /// Uses these unit text embeddings [T, E] for the following frames (what `prepare` computes).
    public func setTextEmbeddings(_ embeddings: Tensor) {
        precondition(embeddings.rank == 2 && embeddings.shape[1] == config.embedDim)
        lock.lock()
        textEmbeddingsStorage = embeddings.contiguous()
        textGeneration += 1
        lock.unlock()
    }

    var currentTextEmbeddings: Tensor? { currentText.embeddings }

    var currentText: (embeddings: Tensor?, generation: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (textEmbeddingsStorage, textGeneration)
    }

    // MARK: - Frames

    public func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        guard frame.width > 0, frame.height > 0 else { throw VocaSegError(.input, "the frame is empty") }
        return Self.preprocess(frame, config: config, resize: options.resizeMode)
    }

    /// The model's input preparation on its own (no weights needed): lets the media tests push every frame size
    /// through the exact resize and normalisation the model uses.
    public static func preprocess(_ frame: RGBImage, config: ERRSegConfig, resize: ERRSegOptions.ResizeMode)
        -> PreprocessedFrame {
        ERRSegPreprocessing.run(frame, config: config, official: resize == .official)
    }

    /// K for a vocabulary of `t` classes.
    func classesKept(vocabularyCount t: Int) -> Int { min(options.classesKept ?? config.sampleClassesNum, t) }

    /// The whole network on a normalised input [3, S, S]. `selected`: reuse this CRM selection instead of
    /// computing one. `keepIntermediates`: copy the cost embedding and every SFM/ESCF output for inspection (tests);
    /// per-frame inference leaves them empty.
    public func forward(input: Tensor, textEmbeddings: Tensor, selected reuse: [Int]? = nil,
                        keepIntermediates: Bool = false, timings: inout [String: Double]) -> ERRSegIntermediates {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let v = visual.forward(input, pool: pool, timings: &timings)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let h = v.os16Dense.height, w = v.os16Dense.width
        let cost16 = CostVolume.cosine(dense: v.os16Dense.data, text: textEmbeddings)
        let cost32 = CostVolume.cosine(dense: v.clipVisDense.data, text: textEmbeddings)
        let t = textEmbeddings.shape[0]
        var scores: [Float]?
        let selected: [Int]
        if let reuse {
            selected = reuse
        } else {
            let s = ClassReduction.scores(cost: cost16, top: config.crmTop, rankWeights: config.crmRankWeights)
            scores = s
            selected = ClassReduction.select(scores: s, k: classesKept(vocabularyCount: t))
        }
        let k = selected.count
        // Sub-stage clocks of the head (cost volumes, CRM, cost embedding and guidance; the four SFMs; the four CFMs;
        // GUD), for profiling and `vocaseg bench`; a clock read costs ~20 ns.
        var clock = t1
        func lap(_ name: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings[name, default: 0] += Double(now - clock) / 1e9
            clock = now
        }
        var section = SectionProfile.start()
        SectionProfile.lap("cost.volumes+crm", &section)
        let x = costEmbedding.forward(cost16: Ops.indexSelect(cost16, dim: 0, indices: selected),
                                      cost32: Ops.indexSelect(cost32, dim: 0, indices: selected),
                                      height: h, width: w, pools: workerPools())
        SectionProfile.lap("cost.embedding", &section)
        let x0 = keepIntermediates ? x.copy() : Tensor(zeros: [0])
        let (gimg, gdec) = guidance.image(v)
        let gtxt = guidance.textGuidance(Ops.indexSelect(textEmbeddings, dim: 0, indices: selected))
        lap("head.cost+guidance")
        var sfmOut: [Tensor] = [], escfOut: [Tensor] = []
        for block in escf {
            block.spatial.forward(x, gimg: gimg, height: h, width: w, pools: workerPools())
            if keepIntermediates { sfmOut.append(x.copy()) }
            lap("head.sfm")
            block.classes.forward(x, gtxt: gtxt, height: h, width: w, pools: workerPools())
            if keepIntermediates { escfOut.append(x.copy()) }
            lap("head.cfm")
        }
        let xNCHW = ChannelsLast.toNCHW(x, batch: k, height: h, width: w, channels: config.aggregatorDim)
        let (gudOut, logits) = gud.forward(xNCHW, guidance: gdec, pools: workerPools())
        lap("head.gud")
        let t2 = DispatchTime.now().uptimeNanoseconds
        timings["backbone"] = Double(t1 - t0) / 1e9
        timings["head"] = Double(t2 - t1) / 1e9
        return ERRSegIntermediates(visual: v, cost16: cost16, cost32: cost32, crmScores: scores, selected: selected,
                                   costEmbedding: x0, gimg: gimg, gdec: gdec, gtxt: gtxt, sfmOut: sfmOut,
                                   escfOut: escfOut, gudOut: gudOut, logitsSelected: logits, height: h, width: w)
    }

    public func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        let (current, generation) = currentText
        guard let embeddings = current else {
            throw VocaSegError(.internal, "ERR-Seg: segment called before prepare(vocabulary:)")
        }
        let s = config.imageSize
        guard input.channels == 3, input.width == s, input.height == s else {
            throw VocaSegError(.internal, "ERR-Seg: input is \(input.channels)×\(input.height)×\(input.width), expected 3×\(s)×\(s)")
        }
        guard input.originalWidth > 0, input.originalHeight > 0 else {
            throw VocaSegError(.input, "the frame has no pixels")
        }
        let t = embeddings.shape[0]
        let k = classesKept(vocabularyCount: t)
        var reuse: [Int]?
        if var previous = state as? ERRSegFrameState, previous.vocabularyCount == t, previous.classesKept == k,
           previous.textGeneration == generation, previous.framesSinceSelection + 1 < options.crmRefresh {
            var cut = false
            if let threshold = options.sceneCutThreshold,
               let d = SceneThumbnail.distance(previous.thumbnail, input.thumbnail ?? []) {
                cut = d > threshold
            }
            if !cut {
                reuse = previous.selectedClasses
                previous.framesSinceSelection += 1
                state = previous
            }
        }
        var timings: [String: Double] = [:]
        let x = Tensor(shape: [3, s, s], data: input.data)
        let out = forward(input: x, textEmbeddings: embeddings, selected: reuse, keepIntermediates: false,
                          timings: &timings)
        if reuse == nil {
            state = ERRSegFrameState(selectedClasses: out.selected, framesSinceSelection: 0, thumbnail: input.thumbnail ?? [],
                                     vocabularyCount: t, classesKept: k, textGeneration: generation)
        }
        let p0 = DispatchTime.now().uptimeNanoseconds
        let labels = SigmoidLabelMap.labelMap(logits: out.logitsSelected, selected: out.selected,
                                                   outHeight: input.originalHeight, outWidth: input.originalWidth)
        timings["postprocess"] = Double(DispatchTime.now().uptimeNanoseconds - p0) / 1e9
        return SegmentationResult(labels: labels, payload: ClassSelection(out.selected), timings: timings)
    }
}
