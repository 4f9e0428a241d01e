import Foundation
import VocaSegCheckpoint
import VocaSegCore
import VocaSegModels

/// Turns `--model NAME|PATH`, `--weights`, `--task` and the family settings into a ready model, asking the family
/// registry (`ModelFamilies`) for everything model-specific.
public enum ModelLoader {
    /// The model directory: `$VOCASEG_MODELS`, else `$XDG_DATA_HOME/vocaseg/models`, else
    /// `~/.local/share/vocaseg/models` (where `Scripts/setup.sh` puts the tokenizer vocabulary).
    public static var modelDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["VOCASEG_MODELS"], !dir.isEmpty { return dir }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (data as NSString).appendingPathComponent("vocaseg/models")
    }

    static func isPath(_ spec: String) -> Bool {
        spec.hasSuffix(".pth") || spec.hasSuffix(".safetensors") || spec.contains("/")
    }

    /// Checks the model name, task and settings before anything is decoded, so that a typo is a usage error at once.
    static func validate(_ options: SegmentOptions) throws {
        let spec = options.model
        if isPath(spec) {
            try ModelFamilies.validate(settings: options.modelSettings, for: nil)
            return
        }
        guard let (family, _) = ModelFamilies.variant(named: spec) else {
            throw VocaSegError(.usage, "unknown model \"\(spec)\": use one of \(ModelFamilies.variantNames.joined(separator: ", ")) or a checkpoint path")
        }
        try ModelFamilies.validate(settings: options.modelSettings, for: family)
        _ = try family.task(options.task)
    }

    /// Whether the model `options` name runs a panoptic task (a checkpoint path is recognised from its keys).
    public static func runsPanoptic(_ options: SegmentOptions) throws -> Bool {
        try validate(options)
        let (family, _) = try resolve(options.model)
        return try family.task(options.task) == .panoptic
    }

    /// The family and variant `options.model` names, opening a checkpoint path to recognise it (keys and shapes
    /// only; no tensor data is read).
    static func resolve(_ spec: String) throws -> (family: any ModelFamily, variant: ModelVariant) {
        if let named = ModelFamilies.variant(named: spec) { return named }
        guard FileManager.default.fileExists(atPath: spec) else {
            throw VocaSegError(.model, "checkpoint does not exist", path: spec)
        }
        return try ModelFamilies.resolve(checkpoint: try CheckpointFile.open(path: spec))
    }

    /// Loads the model named by `options.model` with the weights `options.weights` asks for.
    public static func load(options: SegmentOptions) throws -> SegmentationModel {
        try validate(options)
        let (family, variant) = try resolve(options.model)
        try ModelFamilies.validate(settings: options.modelSettings, for: family)
        let weights: ModelWeights
        if options.weights == .random {
            weights = .random(seed: 0)
        } else if isPath(options.model) {
            weights = .checkpoint(path: options.model)
        } else {
            let path = (modelDirectory as NSString).appendingPathComponent(variant.defaultFile)
            guard FileManager.default.fileExists(atPath: path) else {
                throw VocaSegError(.model, "no weights for \(variant.name): \(variant.downloadHint) and put it there, or pass --model PATH, or --weights random for a speed check", path: path)
            }
            weights = .checkpoint(path: path)
        }
        let tokenizer = CLIPTokenizer.defaultVocabularyPath()
        guard FileManager.default.fileExists(atPath: tokenizer) else {
            throw VocaSegError(.model, "the CLIP tokenizer vocabulary is missing: run Scripts/setup.sh (it puts it there)", path: tokenizer)
        }
        let request = ModelBuildRequest(variant: variant, weights: weights, tokenizerPath: tokenizer,
                                        imageSize: options.size, settings: options.modelSettings,
                                        task: try family.task(options.task),
                                        textCacheDirectory: TextEmbeddingCache.defaultDirectory())
        // Sliding mode wraps the model: windows plus a global view, probabilities merged as CAT-Seg does.
        let model = try options.sliding.wrap(try family.makeModel(request))
        // bf16 scopes the whole per-frame call (every window of a sliding frame); `notices` says when it cannot.
        return options.precision == .bf16 ? ReducedPrecisionModel.wrap(model).model : model
    }

    /// One-line notices about the settings for this vocabulary (e.g. a K larger than the vocabulary).
    static func notices(options: SegmentOptions, vocabularySize: Int) -> [String] {
        let family = ModelFamilies.variant(named: options.model)?.family
        let precision = options.precision == .bf16 ? ReducedPrecisionModel.unavailableNotice().map { [$0] } ?? [] : []
        return (family.map { [$0] } ?? ModelFamilies.all).flatMap {
            $0.notices(settings: options.modelSettings, vocabularySize: vocabularySize)
        } + precision
    }
}
