import Foundation
import VocaSegCore
import VocaSegTensor

/// Run-time choices that are not part of the weights.
public struct SEDOptions: Sendable, Equatable {
    /// Category early rejection: the k of the per-pixel top-k before each decoder stage; nil runs the full decoder.
    public var cerK: Int?
    /// Video: the classes that survive CER's first point on one frame are the only candidates of the next frames,
    /// until `cerRefresh` inferred frames have passed or a scene cut (1 = every frame starts from all classes, as
    /// the original). Only used with CER on.
    public var cerRefresh: Int
    /// Mean absolute thumbnail difference (0…255) that counts as a scene cut; nil disables the check.
    public var sceneCutThreshold: Float?

    public init(cerK: Int? = 8, cerRefresh: Int = 1, sceneCutThreshold: Float? = 20) {
        self.cerK = cerK
        self.cerRefresh = cerRefresh
        self.sceneCutThreshold = sceneCutThreshold
    }
}

/// What SED carries from frame to frame of a stream: the CER candidates and when they were chosen.
struct SEDFrameState: FrameState {
    var candidates: [Int]
    var framesSinceChoice: Int
    var thumbnail: [UInt8]
    var vocabularyCount: Int
    var textGeneration: Int
}

/// Every stage output of one forward pass (channels-last per class; tests convert to the reference's NCHW).
public struct SEDIntermediates: @unchecked Sendable {
    /// Trunk stages os4 … os32.
    public var features: [FeatureMap]
    /// Dense CLIP embedding of res5, [h·w, E] (not normalised).
    public var dense: Tensor
    /// The classes the pass started from (all, or the candidates carried over from an earlier frame).
    public var candidates: [Int]
    /// Per candidate: cosine cost [N0, h·w, P] and its embedding [N0, h·w, 128] (kept when asked).
    public var cost: Tensor?
    public var costEmbedding: Tensor?
    /// Survivors entering decoder stage 1, 2, 3 (vocabulary indices, ascending).
    public var survivors: [[Int]]
    /// Auxiliary logits before each CER point: head0 on the candidates, head1/head2 on each stage's survivors.
    public var auxLogits: [Tensor]
    /// NCHW: [N1, C, side, side] per level, [1, Cg, side, side] per stage.
    public var corrGuidance: [Tensor]
    public var appearanceGuidance: [Tensor]
    /// Each stage's input after its ConvNeXt block and class attention, and its output (kept when asked).
    public var mixed: [Tensor]
    public var stageOutputs: [Tensor]
    /// Final logits of the last survivors, [N3, H, W].
    public var logits: Tensor
    public var height: Int, width: Int
}

/// SED inference (CLIP ConvNeXt, 80-template text bank, cosine cost map, gradual-fusion decoder with category early
/// rejection) on the CPU. Key paths follow the checkpoint: `sem_seg_head.predictor.{clip_model, transformer}`.
public final class SEDModel: SegmentationModel, @unchecked Sendable {
    public let config: SEDConfig
    public let options: SEDOptions
    public let name: String
    public let usesRandomWeights: Bool

    let visual: CLIPConvNeXtVisual
    let text: CLIPTextTransformer
    let promptEncoder: PromptEnsembleEncoder?
    let aggregator: SEDAggregator
    let pool = BufferPool()
    private var extraPools: [BufferPool] = []
    private let lock = NSLock()
    private var textBankStorage: Tensor?
    private var textGeneration = 0

    public var textEmbeddingCache: TextEmbeddingCache? {
        get { promptEncoder?.cache }
        set { promptEncoder?.cache = newValue }
    }
    public private(set) var lastPrepareUsedCache = false
    /// Classes the last forward pass started from and kept at each CER point: N0, N1, N2, N3 (for cost counts).
    public private(set) var lastClassCounts: [Int]?

    /// Every key lives under this prefix in the official checkpoint.
    public static let rootPrefix = "sem_seg_head.predictor"

    public init(config: SEDConfig, weights: WeightLoader, tokenizer: CLIPTokenizer?, options: SEDOptions = SEDOptions())
        throws {
        try config.validate()
        guard (options.cerK ?? 1) >= 1 else { throw VocaSegError(.usage, "the CER k must be at least 1") }
        guard options.cerRefresh >= 1 else { throw VocaSegError(.usage, "the CER refresh interval must be at least 1") }
        self.config = config
        self.options = options
        name = config.name
        usesRandomWeights = weights.isRandom
        let root = weights.scope(Self.rootPrefix)
        let clip = root.scope("clip_model")
        visual = CLIPConvNeXtVisual(config: config.visualTower, weights: clip.scope("visual"))
        let textTower = CLIPTextTransformer(config: config.textTower, weights: clip)
        text = textTower
        promptEncoder = try tokenizer.map { try PromptEnsembleEncoder(text: textTower, tokenizer: $0, ensemble: SEDTemplates.ensemble) }
        aggregator = SEDAggregator(root.scope("transformer"), config: config)
        try weights.finish()
    }

    func workerPools() -> [BufferPool] {
        lock.lock()
        defer { lock.unlock() }
        while extraPools.count + 1 < ParallelConfig.threads { extraPools.append(BufferPool()) }
        return [pool] + extraPools
    }

    // MARK: - Text

    public func prepare(vocabulary: Vocabulary) throws {
        guard let promptEncoder else {
            throw VocaSegError(.model, "SED needs the CLIP tokenizer vocabulary to encode class names")
        }
        guard vocabulary.count < Int(UInt16.max) else {
            throw VocaSegError(.usage, "the vocabulary has \(vocabulary.count) classes; at most 65534 are supported")
        }
        let (rows, cached) = try promptEncoder.encode(vocabulary)
        lastPrepareUsedCache = cached
        setTextBank(rows.embeddings)
    }

    /// Uses this text bank, [T·P, E] unit rows (P = 80 templates per class, class-major), for the next frames.
    public func setTextBank(_ bank: Tensor) {
        precondition(bank.rank == 2 && bank.shape[1] == config.embedDim && bank.shape[0] % config.templateCount == 0)
        // The correlation normalises the text once more (`F.normalize` on unit rows moves their last bits).
        let unit = RowNormalization.unitRows(bank)
        lock.lock()
        textBankStorage = unit
        textGeneration += 1
        lock.unlock()
    }

    var currentText: (bank: Tensor?, generation: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (textBankStorage, textGeneration)
    }

    // MARK: - Frames

    public func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        guard frame.width > 0, frame.height > 0 else { throw VocaSegError(.input, "the frame is empty") }
        return Self.preprocess(frame, config: config)
    }

    /// The official test mapper (shortest edge 640, long side ≤ 2560, Pillow bilinear), CLIP mean/std, and the
    /// bilinear squash to 768×768 (`clip_resolution`).
    public static func preprocess(_ frame: RGBImage, config c: SEDConfig) -> PreprocessedFrame {
        let input = SquareInput.normalizedSquare(frame, shortEdge: c.minSizeTest, maxSize: c.maxSizeTest,
                                                 mean: c.pixelMean, std: c.pixelStd, size: c.imageSize)
        return PreprocessedFrame(channels: 3, width: c.imageSize, height: c.imageSize, data: input.toArray(),
                                 originalWidth: frame.width, originalHeight: frame.height,
                                 payload: FrameThumbnail(thumbnail: SceneThumbnail.make(frame)))
    }

    /// CER's rule: for every pixel the k highest logits among the current classes ([N, P], ties to the lower
    /// index), and the union over pixels; returns positions into the current list, ascending. With N ≤ k all stay.
    static func survivors(logits: Tensor, classes n: Int, pixels: Int, k: Int) -> [Int] {
        guard n > k else { return Array(0..<n) }
        var keep = [Bool](repeating: false, count: n)
        var order = [Int](repeating: 0, count: n)
        let p = logits.data
        for j in 0..<pixels {
            for i in 0..<n { order[i] = i }
            // Partial selection of the k best: descending value, then ascending index (a stable descending sort).
            for r in 0..<k {
                var best = r
                for i in (r + 1)..<n {
                    let a = p[order[i] * pixels + j], b = p[order[best] * pixels + j]
                    if a > b || (a == b && order[i] < order[best]) { best = i }
                }
                order.swapAt(r, best)
                keep[order[r]] = true
            }
        }
        return keep.indices.filter { keep[$0] }
    }

    /// The whole network on a normalised input [3, S, S]. `candidates`: start from these classes instead of all
    /// (ascending vocabulary indices). `keepIntermediates`: keep every stage's tensors (tests).
    public func forward(input: Tensor, textBank: Tensor, candidates given: [Int]? = nil, keepIntermediates: Bool = false,
                        timings: inout [String: Double]) -> SEDIntermediates {
        let c = config, p = c.templateCount, e = c.embedDim
        let t0 = DispatchTime.now().uptimeNanoseconds
        var clock = t0
        func lap(_ name: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings[name, default: 0] += Double(now - clock) / 1e9
            clock = now
        }
        let features = visual.trunk(input, pool: pool, timings: &timings)
        let res5 = features[3]
        let dense = visual.denseProjection(res5.data)
        let image = RowNormalization.unitRows(dense)
        lap("backbone")
        let h = res5.height, w = res5.width, hw = h * w
        let t = textBank.shape[0] / p
        let candidates = given ?? Array(0..<t)
        let n0 = candidates.count
        let pools = workerPools()
        let cerK = options.cerK
        // Cost map and its embedding per candidate; head0 too when CER is on.
        let cost = keepIntermediates ? Tensor(uninitializedShape: [n0, hw, p]) : nil
        let embedded = Tensor(uninitializedShape: [n0, hw, c.costEmbedDim])
        let aux0 = Tensor(uninitializedShape: [n0, hw])
        ParallelConfig.forEachItem(n0) { worker, i in
            let pool = pools[worker]
            let bank = textBank.narrowed(dim: 0, start: candidates[i] * p, length: p)
            let corr = Ops.linear(image, weight: bank, out: pool.tensor("sed.corr", shape: [hw, p]))  // cosines [hw, P]
            if let cost { (cost.data + i * hw * p).update(from: corr.data, count: hw * p) }
            let (y, _, _) = aggregator.costConv(corr, batch: 1, height: h, width: w, pool: pool, slot: "sed.conv1")
            let slice = embedded.data + i * hw * c.costEmbedDim
            slice.update(from: y.data, count: hw * c.costEmbedDim)
            if cerK != nil {
                let planes = pool.tensor("sed.embed.nchw", shape: [1, c.costEmbedDim, h, w])
                SEDUpStage.transpose(y.data, rows: hw, cols: c.costEmbedDim, into: planes.data)
                aggregator.auxHeads[0](planes, pool: pool, out: aux0.data + i * hw)
            }
        }
        lap("head.cost")
        var current = candidates  // vocabulary indices of the classes in `x`
        var keepPositions = cerK.map { Self.survivors(logits: aux0, classes: n0, pixels: hw, k: $0) } ?? Array(0..<n0)
        var auxLogits = cerK == nil ? [] : [aux0]
        var survivors: [[Int]] = []
        // Appearance guidance (class-independent) from res4, res3, res2, NCHW [1, Cg, side, side].
        let appearance = (0..<3).map { i -> Tensor in
            let f = features[2 - i]
            let (g, _, _) = aggregator.guidanceProjections[i](f.data, batch: 1, height: f.height, width: f.width,
                                                              activation: .relu)
            return ChannelsLast.toNCHW(g, batch: 1, height: f.height, width: f.width, channels: g.shape[1])
        }
        current = keepPositions.map { current[$0] }
        survivors.append(current)
        var x = Ops.indexSelect(embedded, dim: 0, indices: keepPositions)
        // Correlation guidance of the stage-1 survivors: 80 → 32 → 16 → 8 channels at 2×, 4×, 8× the cost grid,
        // NCHW [N1, C, side, side].
        let n1 = current.count
        var corrGuidance: [Tensor] = (0..<3).map { i in
            Tensor(uninitializedShape: [n1, c.corrGuidanceDims[i], h << (i + 1), w << (i + 1)])
        }
        ParallelConfig.forEachItem(n1) { worker, i in
            let pool = pools[worker]
            let bank = textBank.narrowed(dim: 0, start: current[i] * p, length: p)
            let corr = Ops.linear(image, weight: bank, out: pool.tensor("sed.corr", shape: [hw, p]))
            let planes = pool.tensor("sed.corr.nchw", shape: [1, p, h, w])
            SEDUpStage.transpose(corr.data, rows: hw, cols: p, into: planes.data)
            for (level, g) in aggregator.correlationGuidance(planes, pool: pool).enumerated() {
                let dst = corrGuidance[level].narrowed(dim: 0, start: i, length: 1)
                dst.data.update(from: g.contiguous().data, count: g.count)
            }
        }
        lap("head.guidance")
        var mixed: [Tensor] = [], stageOutputs: [Tensor] = []
        var gh = h, gw = w
        var logits = Tensor(zeros: [0])
        for (s, stage) in aggregator.stages.enumerated() {
            let n = current.count
            stage.mix(x, classes: n, height: gh, width: gw, pools: pools)
            if keepIntermediates { mixed.append(x.copy()) }
            let oh = 2 * gh, ow = 2 * gw, pixels = oh * ow
            let y = Tensor(uninitializedShape: [n, pixels, stage.outDim])
            let last = s == aggregator.stages.count - 1
            let aux = Tensor(uninitializedShape: [n, pixels])
            let guidanceTerm = stage.guidanceTerm(appearance[s], pool: pools[0])
            let corr = corrGuidance[s]
            let (inH, inW) = (gh, gw)
            ParallelConfig.forEachItem(n) { worker, i in
                let pool = pools[worker]
                let xi = x.narrowed(dim: 0, start: i, length: 1).reshaped([inH * inW, stage.inDim])
                let yi = y.narrowed(dim: 0, start: i, length: 1).reshaped([pixels, stage.outDim])
                let zi = stage.fuse(xi, guidanceTerm: guidanceTerm, corr: corr.narrowed(dim: 0, start: i, length: 1),
                                    height: inH, width: inW, pool: pool, out: yi)
                if last {
                    aggregator.head(zi, pool: pool, out: aux.data + i * pixels)
                } else if cerK != nil {
                    aggregator.auxHeads[s + 1](zi, pool: pool, out: aux.data + i * pixels)
                }
            }
            if keepIntermediates { stageOutputs.append(y.copy()) }  // the next stage mixes y in place
            gh = oh
            gw = ow
            if last {
                logits = aux.reshaped([n, oh, ow])
                break
            }
            if let k = cerK {
                auxLogits.append(aux)
                keepPositions = Self.survivors(logits: aux, classes: n, pixels: pixels, k: k)
            } else {
                keepPositions = Array(0..<n)
            }
            current = keepPositions.map { current[$0] }
            survivors.append(current)
            x = keepPositions.count == n ? y : Ops.indexSelect(y, dim: 0, indices: keepPositions)
            for later in (s + 1)..<3 where keepPositions.count != n {
                corrGuidance[later] = Ops.indexSelect(corrGuidance[later], dim: 0, indices: keepPositions)
            }
            lap("head.stage\(s + 1)")
        }
        lap("head.stage3")
        timings["head"] = Double(clock - t0) / 1e9 - (timings["backbone"] ?? 0)
        lock.lock()
        lastClassCounts = [n0] + survivors.map(\.count)
        lock.unlock()
        return SEDIntermediates(features: features, dense: dense, candidates: candidates, cost: cost,
                                costEmbedding: keepIntermediates ? embedded : nil, survivors: survivors,
                                auxLogits: auxLogits, corrGuidance: keepIntermediates ? corrGuidance : [],
                                appearanceGuidance: appearance, mixed: mixed, stageOutputs: stageOutputs,
                                logits: logits, height: gh, width: gw)
    }

    public func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        let (current, generation) = currentText
        guard let bank = current else { throw VocaSegError(.internal, "SED: segment called before prepare(vocabulary:)") }
        let s = config.imageSize
        guard input.channels == 3, input.width == s, input.height == s else {
            throw VocaSegError(.internal, "SED: input is \(input.channels)×\(input.height)×\(input.width), expected 3×\(s)×\(s)")
        }
        guard input.originalWidth > 0, input.originalHeight > 0 else { throw VocaSegError(.input, "the frame has no pixels") }
        let t = bank.shape[0] / config.templateCount
        var candidates: [Int]?
        if options.cerK != nil, options.cerRefresh > 1, var previous = state as? SEDFrameState,
           previous.vocabularyCount == t, previous.textGeneration == generation,
           previous.framesSinceChoice + 1 < options.cerRefresh {
            var cut = false
            if let threshold = options.sceneCutThreshold,
               let d = SceneThumbnail.distance(previous.thumbnail, input.thumbnail ?? []) {
                cut = d > threshold
            }
            if !cut {
                candidates = previous.candidates
                previous.framesSinceChoice += 1
                state = previous
            }
        }
        var timings: [String: Double] = [:]
        let out = forward(input: Tensor(shape: [3, s, s], data: input.data), textBank: bank, candidates: candidates,
                          timings: &timings)
        if candidates == nil, options.cerK != nil, options.cerRefresh > 1 {
            state = SEDFrameState(candidates: out.survivors[0], framesSinceChoice: 0, thumbnail: input.thumbnail ?? [],
                                  vocabularyCount: t, textGeneration: generation)
        }
        let p0 = DispatchTime.now().uptimeNanoseconds
        let kept = out.survivors[2]
        let labels = SigmoidLabelMap.labelMap(logits: out.logits, selected: kept, outHeight: input.originalHeight,
                                              outWidth: input.originalWidth)
        timings["postprocess"] = Double(DispatchTime.now().uptimeNanoseconds - p0) / 1e9
        let payload: ClassSelection? = options.cerK == nil ? nil : ClassSelection(kept)
        return SegmentationResult(labels: labels, payload: payload, timings: timings)
    }
}
