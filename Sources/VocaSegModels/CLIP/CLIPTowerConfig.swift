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

/// Sizes of an open_clip `ModifiedResNet` visual tower (OpenAI RN50, RN50x4, …) and its attention pool.
public struct CLIPModifiedResNetConfig: Sendable, Equatable {
    /// Stem width w: layer planes are w, 2w, 4w, 8w and the stage outputs (×4 expansion) 4w … 32w channels.
    public var width: Int
    /// Bottlenecks per layer (4 entries).
    public var layers: [Int]
    /// Heads of the attention pool over the 32w-channel res5 tokens.
    public var heads: Int
    /// Side of the pretraining grid of the attention pool's positional embedding (image size / 32).
    public var grid: Int
    /// Output width of `attnpool.c_proj`.
    public var embedDim: Int
    /// BatchNorm eps (PyTorch's default).
    public var bnEps: Float = 1e-5

    public init(width: Int, layers: [Int], heads: Int, grid: Int, embedDim: Int) {
        self.width = width
        self.layers = layers
        self.heads = heads
        self.grid = grid
        self.embedDim = embedDim
    }

    /// Channels of res2 … res5.
    public var stageChannels: [Int] { [4, 8, 16, 32].map { $0 * width } }
}
