import Foundation
import VocaSegCore

/// Sizes and fixed constants of one ERR-Seg variant (spec §1.1). The released models are `.base` (ConvNeXt-B CLIP,
/// 640 px) and `.large` (ConvNeXt-L CLIP, 768 px); tests use a tiny variant decoded from the reference's JSON
/// (`Scripts/reference/errseg_ref/config.py`, snake_case keys).
public struct ERRSegConfig: Sendable, Equatable, Codable, CLIPConvNeXtModelConfig {
    public static let familyName = "ERR-Seg"
    /// B: linear; L: MLP (see `CLIPConvNeXtConfig.Head`).
    public typealias VisualHead = CLIPConvNeXtConfig.Head

    public var name: String
    // CLIP ConvNeXt V1 trunk (timm).
    public var trunkDims: [Int]
    public var trunkDepths: [Int]
    public var embedDim: Int
    public var visualHead: VisualHead
    // Text tower.
    public var textWidth: Int
    public var textHeads: Int
    public var textLayers: Int
    public var contextLength: Int = 77
    public var vocabSize: Int = 49408
    // Decoder.
    public var corrFPNInterDim: Int = 256
    public var corrFPNFusionDim: Int = 128
    public var guidanceFPNInterDim: Int = 256
    public var guidanceFPNFusionDim: Int = 128
    public var decoderGuidanceProjDims: [Int] = [32, 16, 8]
    public var textGuidanceProjDim: Int = 128
    public var aggregatorDim: Int = 128
    public var aggregatorHeads: Int = 4
    public var aggregatorSRRatios: [Int] = [2, 2, 2, 2]
    public var aggregatorMLPRatio: Int = 3
    public var cfmPool: Int = 2
    public var decoderDims: [Int] = [64, 32, 16]
    // Input and inference.
    public var imageSize: Int
    public var minSizeTest: Int = 800
    public var maxSizeTest: Int = 1333
    public var pixelMean: [Float] = [123.675, 116.280, 103.530]
    public var pixelStd: [Float] = [58.395, 57.120, 57.375]
    public var promptTemplate: String = "A photo of a {} in the scene"
    /// K, the number of classes the CRM keeps (not a weight: any K ≤ T works with the same checkpoint).
    public var sampleClassesNum: Int = 32
    public var crmTop: Int = 3
    public var crmRankWeights: [Float] = [1.0, 0.1, 0.01]
    public var guidanceClamp: Float = 16
    public var trunkLNEps: Float = 1e-6
    public var textLNEps: Float = 1e-5
    public var decoderLNEps: Float = 1e-5
    public var gnEps: Float = 1e-5

    enum CodingKeys: String, CodingKey {
        case name, trunkDims = "trunk_dims", trunkDepths = "trunk_depths", embedDim = "embed_dim"
        case visualHead = "visual_head", textWidth = "text_width", textHeads = "text_heads"
        case textLayers = "text_layers", contextLength = "context_length", vocabSize = "vocab_size"
        case corrFPNInterDim = "corr_fpn_inter_dim", corrFPNFusionDim = "corr_fpn_fusion_dim"
        case guidanceFPNInterDim = "guidance_fpn_inter_dim", guidanceFPNFusionDim = "guidance_fpn_fusion_dim"
        case decoderGuidanceProjDims = "decoder_guidance_proj_dims", textGuidanceProjDim = "text_guidance_proj_dim"
        case aggregatorDim = "aggregator_dim", aggregatorHeads = "aggregator_heads"
        case aggregatorSRRatios = "aggregator_sr_ratios", aggregatorMLPRatio = "aggregator_mlp_ratio"
        case cfmPool = "cfm_pool", decoderDims = "decoder_dims", imageSize = "image_size"
        case minSizeTest = "min_size_test", maxSizeTest = "max_size_test", pixelMean = "pixel_mean"
        case pixelStd = "pixel_std", promptTemplate = "prompt_template", sampleClassesNum = "sample_classes_num"
        case crmTop = "crm_top", crmRankWeights = "crm_rank_weights", guidanceClamp = "guidance_clamp"
        case trunkLNEps = "trunk_ln_eps", textLNEps = "text_ln_eps", decoderLNEps = "decoder_ln_eps", gnEps = "gn_eps"
    }

    public init(name: String, trunkDims: [Int], trunkDepths: [Int], embedDim: Int, visualHead: VisualHead,
                textWidth: Int, textHeads: Int, textLayers: Int, imageSize: Int) {
        self.name = name
        self.trunkDims = trunkDims
        self.trunkDepths = trunkDepths
        self.embedDim = embedDim
        self.visualHead = visualHead
        self.textWidth = textWidth
        self.textHeads = textHeads
        self.textLayers = textLayers
        self.imageSize = imageSize
    }

    /// ERR-Seg (B): `convnext_base_w_320` CLIP, evaluated at 640×640.
    public static let base = ERRSegConfig(
        name: "errseg-b", trunkDims: [128, 256, 512, 1024], trunkDepths: [3, 3, 27, 3], embedDim: 640,
        visualHead: .linear, textWidth: 640, textHeads: 10, textLayers: 12, imageSize: 640)

    /// ERR-Seg (L): `convnext_large_d_320` CLIP, evaluated at 768×768 (as the official eval.sh does).
    public static let large = ERRSegConfig(
        name: "errseg-l", trunkDims: [192, 384, 768, 1536], trunkDepths: [3, 3, 27, 3], embedDim: 768,
        visualHead: .mlp, textWidth: 768, textHeads: 12, textLayers: 16, imageSize: 768)

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let b = ERRSegConfig.base
        func get<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        name = try get(.name, "custom")
        trunkDims = try c.decode([Int].self, forKey: .trunkDims)
        trunkDepths = try c.decode([Int].self, forKey: .trunkDepths)
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        visualHead = try get(.visualHead, VisualHead.linear)
        textWidth = try c.decode(Int.self, forKey: .textWidth)
        textHeads = try c.decode(Int.self, forKey: .textHeads)
        textLayers = try c.decode(Int.self, forKey: .textLayers)
        contextLength = try get(.contextLength, b.contextLength)
        vocabSize = try get(.vocabSize, b.vocabSize)
        corrFPNInterDim = try get(.corrFPNInterDim, b.corrFPNInterDim)
        corrFPNFusionDim = try get(.corrFPNFusionDim, b.corrFPNFusionDim)
        guidanceFPNInterDim = try get(.guidanceFPNInterDim, b.guidanceFPNInterDim)
        guidanceFPNFusionDim = try get(.guidanceFPNFusionDim, b.guidanceFPNFusionDim)
        decoderGuidanceProjDims = try get(.decoderGuidanceProjDims, b.decoderGuidanceProjDims)
        textGuidanceProjDim = try get(.textGuidanceProjDim, b.textGuidanceProjDim)
        aggregatorDim = try get(.aggregatorDim, b.aggregatorDim)
        aggregatorHeads = try get(.aggregatorHeads, b.aggregatorHeads)
        aggregatorSRRatios = try get(.aggregatorSRRatios, b.aggregatorSRRatios)
        aggregatorMLPRatio = try get(.aggregatorMLPRatio, b.aggregatorMLPRatio)
        cfmPool = try get(.cfmPool, b.cfmPool)
        decoderDims = try get(.decoderDims, b.decoderDims)
        imageSize = try get(.imageSize, b.imageSize)
        minSizeTest = try get(.minSizeTest, b.minSizeTest)
        maxSizeTest = try get(.maxSizeTest, b.maxSizeTest)
        pixelMean = try get(.pixelMean, b.pixelMean)
        pixelStd = try get(.pixelStd, b.pixelStd)
        promptTemplate = try get(.promptTemplate, b.promptTemplate)
        sampleClassesNum = try get(.sampleClassesNum, b.sampleClassesNum)
        crmTop = try get(.crmTop, b.crmTop)
        crmRankWeights = try get(.crmRankWeights, b.crmRankWeights)
        guidanceClamp = try get(.guidanceClamp, b.guidanceClamp)
        trunkLNEps = try get(.trunkLNEps, b.trunkLNEps)
        textLNEps = try get(.textLNEps, b.textLNEps)
        decoderLNEps = try get(.decoderLNEps, b.decoderLNEps)
        gnEps = try get(.gnEps, b.gnEps)
    }

    /// os32, os16, os8, os4 channel counts (IMAGE_GUIDANCE_DIMS).
    public var imageGuidanceDims: [Int] { trunkDims.reversed() }
    /// os16, os8, os4 channel counts (DECODER_GUIDANCE_DIMS).
    public var decoderGuidanceDims: [Int] { Array(trunkDims[0..<3].reversed()) }
    /// Side of the os16 grid the decoder works on (40 for B at 640).
    public var os16Size: Int { imageSize / 16 }

    /// Checks that the sizes fit together; throws `VocaSegError(.model)` naming the first problem.
    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw VocaSegError(.model, "ERR-Seg config \"\(name)\": \(message)") }
        }
        try require(trunkDims.count == 4 && trunkDepths.count == 4, "trunk_dims and trunk_depths need 4 entries")
        try require(trunkDims.allSatisfy { $0 > 0 } && trunkDepths.allSatisfy { $0 >= 1 }, "trunk sizes must be positive")
        try require(embedDim > 0 && textWidth > 0 && textLayers >= 1, "embedding and text sizes must be positive")
        try require(textHeads > 0 && textWidth % textHeads == 0, "text_width must be divisible by text_heads")
        try require(corrFPNFusionDim == aggregatorDim && guidanceFPNFusionDim == aggregatorDim
                    && textGuidanceProjDim == aggregatorDim, "cost, image and text guidance must have aggregator width")
        try require(aggregatorHeads > 0 && aggregatorDim % aggregatorHeads == 0, "aggregator_dim % aggregator_heads")
        try require(!aggregatorSRRatios.isEmpty && aggregatorSRRatios.allSatisfy { $0 >= 1 }, "bad aggregator_sr_ratios")
        try require(decoderDims.count == 3 && decoderDims.allSatisfy { $0 > 0 && $0 % 8 == 0 },
                    "decoder_dims needs 3 multiples of 8 (GroupNorm uses C/8 groups)")
        try require(decoderGuidanceProjDims.count == 3, "decoder_guidance_proj_dims needs 3 entries")
        try require(imageSize >= 32 && imageSize % 32 == 0, "image_size must be a multiple of 32")
        for r in aggregatorSRRatios + [cfmPool] {
            try require(r >= 1 && os16Size % r == 0, "the os16 grid \(os16Size) is not divisible by \(r)")
        }
        try require(contextLength >= 2 && vocabSize > 49407 || vocabSize > 0, "bad vocabulary size")
        try require(pixelMean.count == 3 && pixelStd.count == 3 && pixelStd.allSatisfy { $0 > 0 }, "bad pixel mean/std")
        try require(crmTop >= 1 && crmRankWeights.count >= crmTop, "crm_rank_weights needs crm_top entries")
        try require(sampleClassesNum >= 1, "sample_classes_num must be at least 1")
        try require(promptTemplate.contains("{}"), "prompt_template must contain {}")
    }
}
