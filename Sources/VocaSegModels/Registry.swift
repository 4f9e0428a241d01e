import Foundation
import VocaSegCore

/// The models this module can build, by the names the CLI uses.
public enum ModelRegistry {
    /// Built-in model names and their configurations.
    public static let configs: [String: ERRSegConfig] = ["errseg-b": .base, "errseg-l": .large]

    public static var names: [String] { configs.keys.sorted() }

    /// Where a built-in model's weights come from.
    public enum Weights: Sendable, Equatable {
        /// The official `model_final.pth` (or a safetensors conversion) at this path.
        case checkpoint(path: String)
        /// Seeded random weights: the output is meaningless (for pipeline and speed checks).
        case random(seed: UInt64)
    }

    /// Builds a model. `name` is a built-in name (`errseg-b`, `errseg-l`); `imageSize` overrides the config's
    /// square input size (a multiple of 32); `tokenizerPath` is the CLIP BPE vocabulary (needed to encode classes).
    /// `textCacheDirectory`: where text embeddings are kept between runs (nil: no disk cache).
    public static func makeModel(name: String, weights: Weights, tokenizerPath: String, imageSize: Int? = nil,
                                 options: ERRSegOptions = ERRSegOptions(),
                                 textCacheDirectory: String? = nil) throws -> SegmentationModel {
        guard var config = configs[name] else {
            throw VocaSegError(.usage, "unknown model \"\(name)\": use one of \(names.joined(separator: ", "))")
        }
        if let imageSize { config.imageSize = imageSize }
        try config.validate()
        let tokenizer = try CLIPTokenizer(vocabularyPath: tokenizerPath)
        let model: ERRSegModel
        let identity: String
        switch weights {
        case .checkpoint(let path):
            model = try ERRSegModel.load(checkpointPath: path, config: config, tokenizer: tokenizer, options: options)
            identity = textCacheDirectory.map { TextEmbeddingCache.fileIdentity(path: path, cacheDirectory: $0) } ?? ""
        case .random(let seed):
            model = try ERRSegModel.random(config: config, seed: seed, tokenizer: tokenizer, options: options)
            identity = "random:seed\(seed):\(name)"
        }
        if let textCacheDirectory {
            model.textEmbeddingCache = TextEmbeddingCache(directory: textCacheDirectory, weightsIdentity: identity)
        }
        return model
    }
}
