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
    public static func makeModel(name: String, weights: Weights, tokenizerPath: String, imageSize: Int? = nil,
                                 options: ERRSegOptions = ERRSegOptions()) throws -> SegmentationModel {
        guard var config = configs[name] else {
            throw VocaSegError(.usage, "unknown model \"\(name)\": use one of \(names.joined(separator: ", "))")
        }
        if let imageSize { config.imageSize = imageSize }
        try config.validate()
        let tokenizer = try CLIPTokenizer(vocabularyPath: tokenizerPath)
        switch weights {
        case .checkpoint(let path):
            return try ERRSegModel.load(checkpointPath: path, config: config, tokenizer: tokenizer, options: options)
        case .random(let seed):
            return try ERRSegModel.random(config: config, seed: seed, tokenizer: tokenizer, options: options)
        }
    }
}
