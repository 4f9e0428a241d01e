import VocaSegTensor

/// Sizes of an open_clip text tower. Families differ in activation (ERR-Seg's ConvNeXt CLIPs use exact GELU,
/// OpenAI's ViT-B/16 QuickGELU) and all text towers are causal; the same block serves non-causal vision towers.
public struct CLIPTextConfig: Sendable, Equatable {
    public var width: Int
    public var heads: Int
    public var layers: Int
    public var contextLength = 77
    public var vocabSize = 49408
    /// Output width E of `text_projection` [width, E].
    public var embedDim: Int
    public var activation: Activation = .gelu
    public var causal = true
    public var lnEps: Float = 1e-5

    public init(width: Int, heads: Int, layers: Int, embedDim: Int, activation: Activation = .gelu,
                causal: Bool = true) {
        self.width = width
        self.heads = heads
        self.layers = layers
        self.embedDim = embedDim
        self.activation = activation
        self.causal = causal
    }
}

/// Sizes of an open_clip ConvNeXt visual tower (timm trunk + CLIP head).
public struct CLIPConvNeXtConfig: Sendable, Equatable {
    public enum Head: String, Sendable, Codable {
        /// `head.proj` Linear C→E without bias (convnext_base_w).
        case linear
        /// `head.mlp.fc1` C→2E (bias) → GELU → `fc2` 2E→E (no bias) (convnext_large_d).
        case mlp
    }

    /// Channels of the four stages (os4, os8, os16, os32).
    public var dims: [Int]
    public var depths: [Int]
    public var embedDim: Int
    public var head: Head
    public var lnEps: Float = 1e-6

    public init(dims: [Int], depths: [Int], embedDim: Int, head: Head, lnEps: Float = 1e-6) {
        self.dims = dims
        self.depths = depths
        self.embedDim = embedDim
        self.head = head
        self.lnEps = lnEps
    }
}
