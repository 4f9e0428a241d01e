import Foundation
import VocaSegCheckpoint
import VocaSegCore
import VocaSegModels

/// Turns `--model NAME|PATH` and `--weights` into a ready model.
public enum ModelLoader {
    /// Model names the CLI knows, with the checkpoint file each expects in the model directory.
    public static let knownModels: [String: String] = [
        "errseg-b": "errseg-b/model_final.pth",
        "errseg-l": "errseg-l/model_final.pth",
    ]
    static let downloadPage = "https://huggingface.co/lchen1019/ERR-Seg"

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

    /// Checks the model name before anything is decoded, so that a typo is a usage error at once.
    static func validateName(_ spec: String) throws {
        if knownModels[spec] != nil || isPath(spec) { return }
        throw VocaSegError(.usage, "unknown model \"\(spec)\": use one of \(knownModels.keys.sorted().joined(separator: ", ")) or a checkpoint path")
    }

    /// Loads the model named by `options.model` with the weights `options.weights` asks for.
    public static func load(options: SegmentOptions) throws -> SegmentationModel {
        let spec = options.model
        try validateName(spec)
        var errOptions = ERRSegOptions()
        errOptions.classesKept = options.crmK
        // Video default: keep the CRM's selection for 8 inferred frames (a scene cut re-selects at once). Measured
        // on the sample clip: selection changes 42 → 3 and pixels changing label between frames 36.7% → 28.4%, at
        // no measurable cost (the selection itself takes milliseconds). `--crm-refresh 1` is the paper's behaviour.
        errOptions.crmRefresh = options.crmRefresh ?? 8
        errOptions.resizeMode = ERRSegOptions.ResizeMode(rawValue: options.resize) ?? .official

        let name: String
        let weights: ModelRegistry.Weights
        if isPath(spec) {
            guard FileManager.default.fileExists(atPath: spec) else {
                throw VocaSegError(.model, "checkpoint does not exist", path: spec)
            }
            // B or L from the tensor shapes; nothing is read but the pickle and the headers.
            let id = ModelIdentification.identify(try CheckpointFile.open(path: spec))
            guard id.family == "ERR-Seg", let variant = id.variant else {
                throw VocaSegError(.model, "not an ERR-Seg checkpoint (\(id.evidence)); this build runs ERR-Seg B and L", path: spec)
            }
            name = variant == "L" ? "errseg-l" : "errseg-b"
            weights = options.weights == .random ? .random(seed: 0) : .checkpoint(path: spec)
        } else {
            name = spec
            if options.weights == .random {
                weights = .random(seed: 0)
            } else {
                let path = (modelDirectory as NSString).appendingPathComponent(knownModels[spec]!)
                guard FileManager.default.fileExists(atPath: path) else {
                    throw VocaSegError(.model, "no weights for \(spec): download model_final.pth for ERR-Seg \(spec == "errseg-l" ? "L" : "B") from \(downloadPage) (or run Scripts/fetch-weights.sh \(spec)) and put it there, or pass --model PATH, or --weights random for a speed check", path: path)
                }
                weights = .checkpoint(path: path)
            }
        }
        let tokenizer = CLIPTokenizer.defaultVocabularyPath()
        guard FileManager.default.fileExists(atPath: tokenizer) else {
            throw VocaSegError(.model, "the CLIP tokenizer vocabulary is missing: run Scripts/setup.sh (it puts it there)", path: tokenizer)
        }
        let model = try ModelRegistry.makeModel(name: name, weights: weights, tokenizerPath: tokenizer,
                                                imageSize: options.size, options: errOptions,
                                                textCacheDirectory: TextEmbeddingCache.defaultDirectory())
        // Sliding mode wraps the model: windows plus a global view, probabilities merged as CAT-Seg does.
        return try options.sliding.wrap(model)
    }
}
