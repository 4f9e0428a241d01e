import Foundation
import VocaSegCore

/// Sizes and fixed constants of one SED variant (spec §1.2). The released models are `.base` (ConvNeXt-B CLIP) and
/// `.large` (ConvNeXt-L CLIP), both evaluated at 768×768; tests use tiny variants decoded from the reference's
/// JSON (`Scripts/reference/sed_ref/config.py`, snake_case keys).
public struct SEDConfig: Sendable, Equatable, Codable, CLIPConvNeXtModelConfig {
    public static let familyName = "SED"
    public var name: String
    // CLIP ConvNeXt V1 trunk (timm) and its head.
    public var trunkDims: [Int]
    public var trunkDepths: [Int]
    public var embedDim: Int
    public var visualHead: CLIPConvNeXtConfig.Head
    // Text tower (frozen, exact GELU as open_clip's ConvNeXt models).
    public var textWidth: Int
    public var textHeads: Int
    public var textLayers: Int
    public var contextLength: Int = 77
    public var vocabSize: Int = 49408
    // Decoder ("Aggregator").
    /// Prompt templates; also conv1's input channels and the first correlation-guidance width (hard-coded 80).
    public var templateCount: Int = 80
    public var costEmbedDim: Int = 128
    public var costKernel: Int = 7
    public var guidanceProjDims: [Int] = [32, 16, 8]
    public var corrGuidanceDims: [Int] = [32, 16, 8]
    public var decoderDims: [Int] = [64, 32, 16]
    public var attentionHeads: Int = 4
    public var blockKernel: Int = 9
    // Input.
    /// The square network input every frame is squashed to (`clip_resolution`).
    public var imageSize: Int = 768
    public var minSizeTest: Int = 640
    public var maxSizeTest: Int = 2560
    /// CLIP's pixel statistics (on 0…255).
    public var pixelMean: [Float] = [122.7709383, 116.7460125, 104.09373615]
    public var pixelStd: [Float] = [68.5005327, 66.6321579, 70.3231630]
    public var trunkLNEps: Float = 1e-6
    public var textLNEps: Float = 1e-5
    public var blockLNEps: Float = 1e-6
    public var attentionLNEps: Float = 1e-5
    public var gnEps: Float = 1e-5

    // JSON names are the reference's (`Scripts/reference/sed_ref/config.py`); its derived fields are ignored.
    enum CodingKeys: String, CodingKey {
        case name, trunkDims = "trunk_dims", trunkDepths = "trunk_depths", embedDim = "embed_dim"
        case visualHead = "visual_head", textWidth = "text_width", textHeads = "text_heads"
        case textLayers = "text_layers", contextLength = "context_length", vocabSize = "vocab_size"
        case templateCount = "prompt_channels", costEmbedDim = "hidden_dim", costKernel = "corr_embed_kernel"
        case guidanceProjDims = "decoder_guidance_proj_dims", corrGuidanceDims = "corr_guidance_out_dims"
        case decoderDims = "decoder_dims", attentionHeads = "num_heads", blockKernel = "kernel_sizes"
        case imageSize = "clip_resolution", minSizeTest = "min_size_test", maxSizeTest = "max_size_test"
        case pixelMean = "pixel_mean", pixelStd = "pixel_std", trunkLNEps = "trunk_ln_eps"
        case textLNEps = "text_ln_eps", blockLNEps = "cnext_ln_eps", attentionLNEps = "attn_ln_eps"
        case gnEps = "gn_eps"
    }

    public init(name: String, trunkDims: [Int], trunkDepths: [Int], embedDim: Int,
                visualHead: CLIPConvNeXtConfig.Head, textWidth: Int, textHeads: Int, textLayers: Int) {
        self.name = name
        self.trunkDims = trunkDims
        self.trunkDepths = trunkDepths
        self.embedDim = embedDim
        self.visualHead = visualHead
        self.textWidth = textWidth
        self.textHeads = textHeads
        self.textLayers = textLayers
    }

    /// SED (B): `convnext_base_w_320` CLIP.
    public static let base = SEDConfig(
        name: "sed-b", trunkDims: [128, 256, 512, 1024], trunkDepths: [3, 3, 27, 3], embedDim: 640,
        visualHead: .linear, textWidth: 640, textHeads: 10, textLayers: 12)

    /// SED (L): `convnext_large_d_320` CLIP.
    public static let large = SEDConfig(
        name: "sed-l", trunkDims: [192, 384, 768, 1536], trunkDepths: [3, 3, 27, 3], embedDim: 768,
        visualHead: .mlp, textWidth: 768, textHeads: 12, textLayers: 16)

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let b = SEDConfig.base
        func get<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        name = try get(.name, "custom")
        trunkDims = try c.decode([Int].self, forKey: .trunkDims)
        trunkDepths = try c.decode([Int].self, forKey: .trunkDepths)
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        visualHead = try get(.visualHead, CLIPConvNeXtConfig.Head.linear)
        textWidth = try c.decode(Int.self, forKey: .textWidth)
        textHeads = try c.decode(Int.self, forKey: .textHeads)
        textLayers = try c.decode(Int.self, forKey: .textLayers)
        contextLength = try get(.contextLength, b.contextLength)
        vocabSize = try get(.vocabSize, b.vocabSize)
        templateCount = try get(.templateCount, b.templateCount)
        costEmbedDim = try get(.costEmbedDim, b.costEmbedDim)
        costKernel = try get(.costKernel, b.costKernel)
        guidanceProjDims = try get(.guidanceProjDims, b.guidanceProjDims)
        // The correlation guidance has the appearance guidance's widths (the official `Up` sets them equal).
        corrGuidanceDims = guidanceProjDims
        decoderDims = try get(.decoderDims, b.decoderDims)
        attentionHeads = try get(.attentionHeads, b.attentionHeads)
        let kernels = try get(.blockKernel, [b.blockKernel, b.blockKernel, b.blockKernel])
        guard let kernel = kernels.first, kernels.allSatisfy({ $0 == kernel }) else {
            throw DecodingError.dataCorruptedError(forKey: .blockKernel, in: c,
                                                   debugDescription: "kernel_sizes must be one size for all stages")
        }
        blockKernel = kernel
        imageSize = try get(.imageSize, b.imageSize)
        minSizeTest = try get(.minSizeTest, b.minSizeTest)
        maxSizeTest = try get(.maxSizeTest, b.maxSizeTest)
        pixelMean = try get(.pixelMean, b.pixelMean)
        pixelStd = try get(.pixelStd, b.pixelStd)
        trunkLNEps = try get(.trunkLNEps, b.trunkLNEps)
        textLNEps = try get(.textLNEps, b.textLNEps)
        blockLNEps = try get(.blockLNEps, b.blockLNEps)
        attentionLNEps = try get(.attentionLNEps, b.attentionLNEps)
        gnEps = try get(.gnEps, b.gnEps)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(trunkDims, forKey: .trunkDims)
        try c.encode(trunkDepths, forKey: .trunkDepths)
        try c.encode(embedDim, forKey: .embedDim)
        try c.encode(visualHead, forKey: .visualHead)
        try c.encode(textWidth, forKey: .textWidth)
        try c.encode(textHeads, forKey: .textHeads)
        try c.encode(textLayers, forKey: .textLayers)
        try c.encode(templateCount, forKey: .templateCount)
        try c.encode(costEmbedDim, forKey: .costEmbedDim)
        try c.encode(guidanceProjDims, forKey: .guidanceProjDims)
        try c.encode(decoderDims, forKey: .decoderDims)
        try c.encode(attentionHeads, forKey: .attentionHeads)
        try c.encode([blockKernel, blockKernel, blockKernel], forKey: .blockKernel)
        try c.encode(imageSize, forKey: .imageSize)
    }

    /// Appearance guidance inputs: res4, res3, res2 channels (the trunk's os16, os8, os4 stages).
    public var guidanceInputDims: [Int] { [trunkDims[2], trunkDims[1], trunkDims[0]] }
    /// Side of the cost map (res5 grid): 24 at 768.
    public var costSize: Int { imageSize / 32 }
    /// Width entering each decoder stage: the cost embedding, then each stage's output.
    public var stageInputDims: [Int] { [costEmbedDim] + Array(decoderDims.prefix(2)) }
    /// Channels of each stage's transposed-conv upsampling (`up`): the stage width less its appearance guidance,
    /// so that up + appearance + correlation guidance is the stage width + correlation guidance (160, 80, 40 for B).
    public var upDims: [Int] { (0..<3).map { stageInputDims[$0] - guidanceProjDims[$0] } }

    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw VocaSegError(.model, "SED config \"\(name)\": \(message)") }
        }
        try require(trunkDims.count == 4 && trunkDepths.count == 4, "trunk_dims and trunk_depths need 4 entries")
        try require(trunkDims.allSatisfy { $0 > 0 } && trunkDepths.allSatisfy { $0 >= 1 }, "trunk sizes must be positive")
        try require(embedDim > 0 && textWidth > 0 && textLayers >= 1, "embedding and text sizes must be positive")
        try require(textHeads > 0 && textWidth % textHeads == 0, "text_width must be divisible by text_heads")
        try require(templateCount == SEDTemplates.imagenet.count, "template_count must be \(SEDTemplates.imagenet.count)")
        try require(guidanceProjDims.count == 3 && corrGuidanceDims.count == 3 && decoderDims.count == 3,
                    "guidance, correlation-guidance and decoder widths need 3 entries each")
        try require(decoderDims.allSatisfy { $0 > 0 && $0 % 16 == 0 }, "decoder_dims must be multiples of 16 (GroupNorm C/16)")
        try require(([costEmbedDim] + decoderDims).allSatisfy { $0 % attentionHeads == 0 },
                    "every decoder width must be divisible by attention_heads")
        try require((0..<3).allSatisfy { stageInputDims[$0] > guidanceProjDims[$0] }, "each stage must be wider than its guidance")
        try require(blockKernel % 2 == 1 && costKernel % 2 == 1, "kernels must be odd")
        try require(imageSize >= 32 && imageSize % 32 == 0, "image_size must be a multiple of 32")
        try require(pixelMean.count == 3 && pixelStd.count == 3 && pixelStd.allSatisfy { $0 > 0 }, "bad pixel mean/std")
    }
}
