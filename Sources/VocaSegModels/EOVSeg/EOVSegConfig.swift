import Foundation
import VocaSegCore

/// Sizes and settings of one EOV-Seg variant (spec `eovseg.md` §1–§2). The released S, M and L presets are below;
/// the reference writes a `tiny` configuration with the same fields (`config.json` beside the tiny goldens, snake
/// case), which decodes into this type.
public struct EOVSegConfig: Sendable, Equatable, Codable {
    public enum Backbone: String, Sendable, Codable {
        /// open_clip `ModifiedResNet` (RN50, RN50x4) with its attention pool.
        case resnet
        /// timm ConvNeXt trunk in open_clip's `TimmModel` with the MLP head (convnext_large_d_320).
        case convnext
    }

    public var name: String
    public var backbone: Backbone

    // CNN CLIP, ResNet: stem width w (planes w, 2w, 4w, 8w; res channels 4w … 32w), blocks per layer, attention
    // pool heads and the pretraining grid of its positional embedding (image_size / 32).
    public var resnetWidth: Int
    public var resnetLayers: [Int]
    public var attnpoolHeads: Int
    public var attnpoolGrid: Int

    // CNN CLIP, ConvNeXt: stage widths and depths (head: LayerNorm2d → fc1 C5→2D → GELU → fc2 2D→D, no bias).
    public var convnextDims: [Int]
    public var convnextDepths: [Int]

    /// D: the CNN CLIP's embedding width (text projection, attention-pool / head output, class embeddings).
    public var embedDim: Int

    // The CNN CLIP's text tower (the text classifier).
    public var textWidth: Int
    public var textHeads: Int
    public var textLayers: Int
    public var contextLength: Int
    public var vocabSize: Int
    /// OpenAI RN towers use QuickGELU; the LAION ConvNeXt-L-d tower exact GELU.
    public var textQuickGELU: Bool

    // ViT CLIP spatial branch: patch embedding, `ln_pre` and transformer block 0 only (always QuickGELU).
    public var vitWidth: Int
    public var vitHeads: Int
    public var vitPatch: Int
    /// Side of the pretraining grid of its positional embedding (224 / 16 = 14).
    public var vitGrid: Int
    public var vitMLPDim: Int

    // Trained parts.
    /// AGG_DIM of the lite aggregator.
    public var aggDim: Int
    /// HIDDEN_DIM of the decoder (F0, kernels, queries).
    public var hiddenDim: Int
    public var numQueries: Int
    public var numStages: Int
    public var ffnDim: Int
    /// Heads of `s_atten` (self-attention over the queries).
    public var queryHeads: Int
    /// Taps of the dynamic depthwise channel conv.
    public var dynamicKernel: Int

    // Inference settings.
    public var ensembleAlpha: Float
    public var ensembleBeta: Float
    public var ensembleOnValidMask: Bool
    public var objectMaskThreshold: Float
    public var overlapThreshold: Float
    public var shortEdge: Int
    public var maxSize: Int
    public var sizeDivisibility: Int
    public var pixelMean: [Float]
    public var pixelStd: [Float]

    enum CodingKeys: String, CodingKey {
        case name, backbone
        case resnetWidth = "resnet_width", resnetLayers = "resnet_layers", attnpoolHeads = "attnpool_heads"
        case attnpoolGrid = "attnpool_grid"
        case convnextDims = "convnext_dims", convnextDepths = "convnext_depths"
        case embedDim = "embed_dim"
        case textWidth = "text_width", textHeads = "text_heads", textLayers = "text_layers"
        case contextLength = "context_length", vocabSize = "vocab_size", textQuickGELU = "text_quick_gelu"
        case vitWidth = "vit_width", vitHeads = "vit_heads", vitPatch = "vit_patch", vitGrid = "vit_grid"
        case vitMLPDim = "vit_mlp_dim"
        case aggDim = "agg_dim", hiddenDim = "hidden_dim", numQueries = "num_queries", numStages = "num_stages"
        case ffnDim = "ffn_dim", queryHeads = "query_heads", dynamicKernel = "dynamic_kernel"
        case ensembleAlpha = "ensemble_alpha", ensembleBeta = "ensemble_beta"
        case ensembleOnValidMask = "ensemble_on_valid_mask"
        case objectMaskThreshold = "object_mask_threshold", overlapThreshold = "overlap_threshold"
        case shortEdge = "short_edge", maxSize = "max_size", sizeDivisibility = "size_divisibility"
        case pixelMean = "pixel_mean", pixelStd = "pixel_std"
    }

    /// Channels of res2 … res5.
    public var featureChannels: [Int] {
        switch backbone {
        case .resnet: return [4, 8, 16, 32].map { $0 * resnetWidth }
        case .convnext: return convnextDims
        }
    }

    /// Output channels of the aggregator's laterals and deformable layers: [AGG, C2/2, C3/2, C4/2, C5/2].
    public var aggregatorChannels: [Int] { [aggDim] + featureChannels.map { $0 / 2 } }

    public static func decode(jsonAt path: String) throws -> EOVSegConfig {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(EOVSegConfig.self, from: data)
    }

    /// Checks what the code relies on; throws a usage-level model error naming the field.
    public func validate() throws {
        func need(_ ok: Bool, _ what: String) throws {
            if !ok { throw VocaSegError(.model, "EOV-Seg config \(name): \(what)") }
        }
        try need(embedDim > 0 && hiddenDim > 0 && aggDim > 0, "widths must be positive")
        try need(textWidth % textHeads == 0, "text width \(textWidth) not divisible by \(textHeads) heads")
        try need(vitWidth % vitHeads == 0, "ViT width \(vitWidth) not divisible by \(vitHeads) heads")
        try need(hiddenDim % queryHeads == 0, "hidden width \(hiddenDim) not divisible by \(queryHeads) heads")
        try need(sizeDivisibility % 32 == 0 && sizeDivisibility > 0, "size divisibility must be a multiple of 32")
        try need(pixelMean.count == 3 && pixelStd.count == 3, "pixel mean and std need 3 values")
        switch backbone {
        case .resnet:
            try need(resnetLayers.count == 4, "resnet_layers needs 4 entries")
            try need((32 * resnetWidth) % attnpoolHeads == 0, "attention-pool width not divisible by its heads")
        case .convnext:
            try need(convnextDims.count == 4 && convnextDepths.count == 4, "convnext dims/depths need 4 entries")
        }
    }

    // MARK: Released variants (spec §1.1, §2.0, §2.2, §2.3, key lists).

    private static func base(name: String, backbone: Backbone, embedDim: Int, aggDim: Int, textWidth: Int,
                             textHeads: Int, textLayers: Int, textQuickGELU: Bool, ensembleOnValidMask: Bool,
                             resnetWidth: Int = 0, resnetLayers: [Int] = [], attnpoolHeads: Int = 0,
                             attnpoolGrid: Int = 0, convnextDims: [Int] = [], convnextDepths: [Int] = []) -> EOVSegConfig {
        EOVSegConfig(
            name: name, backbone: backbone,
            resnetWidth: resnetWidth, resnetLayers: resnetLayers, attnpoolHeads: attnpoolHeads, attnpoolGrid: attnpoolGrid,
            convnextDims: convnextDims, convnextDepths: convnextDepths,
            embedDim: embedDim,
            textWidth: textWidth, textHeads: textHeads, textLayers: textLayers, contextLength: 77, vocabSize: 49408,
            textQuickGELU: textQuickGELU,
            vitWidth: 768, vitHeads: 12, vitPatch: 16, vitGrid: 14, vitMLPDim: 3072,
            aggDim: aggDim, hiddenDim: 256, numQueries: 100, numStages: 3, ffnDim: 2048, queryHeads: 8, dynamicKernel: 3,
            ensembleAlpha: 0.4, ensembleBeta: 0.8, ensembleOnValidMask: ensembleOnValidMask,
            objectMaskThreshold: 0.0, overlapThreshold: 0.8,
            shortEdge: 640, maxSize: 2560, sizeDivisibility: 32,
            pixelMean: [123.675, 116.280, 103.530], pixelStd: [58.395, 57.120, 57.375])
    }

    /// S: CLIP RN50 (OpenAI) + ViT-B/16.
    public static let small = base(name: "eovseg-s", backbone: .resnet, embedDim: 1024, aggDim: 128, textWidth: 512,
                                   textHeads: 8, textLayers: 12, textQuickGELU: true, ensembleOnValidMask: true,
                                   resnetWidth: 64, resnetLayers: [3, 4, 6, 3], attnpoolHeads: 32, attnpoolGrid: 7)
    /// M: CLIP RN50x4 (OpenAI) + ViT-B/16.
    public static let medium = base(name: "eovseg-m", backbone: .resnet, embedDim: 640, aggDim: 128, textWidth: 640,
                                    textHeads: 10, textLayers: 12, textQuickGELU: true, ensembleOnValidMask: true,
                                    resnetWidth: 80, resnetLayers: [4, 6, 10, 6], attnpoolHeads: 40, attnpoolGrid: 9)
    /// L: CLIP ConvNeXt-L-d 320 (LAION) + ViT-B/16.
    public static let large = base(name: "eovseg-l", backbone: .convnext, embedDim: 768, aggDim: 96, textWidth: 768,
                                   textHeads: 12, textLayers: 16, textQuickGELU: false, ensembleOnValidMask: false,
                                   convnextDims: [192, 384, 768, 1536], convnextDepths: [3, 3, 27, 3])
}
