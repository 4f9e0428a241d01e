import Foundation
import VocaSegCore

/// Turns `--model NAME|PATH` and `--weights` into a ready model.
public enum ModelLoader {
    /// Model names the CLI knows, with the checkpoint file each expects in the model directory.
    public static let knownModels: [String: String] = [
        "errseg-b": "errseg-b/model_final.pth",
        "errseg-l": "errseg-l/model_final.pth",
    ]

    /// The model directory: `$VOCASEG_MODELS`, else `$XDG_DATA_HOME/vocaseg/models`, else
    /// `~/.local/share/vocaseg/models` (where `Scripts/setup.sh` puts the tokenizer vocabulary).
    public static var modelDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["VOCASEG_MODELS"], !dir.isEmpty { return dir }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (data as NSString).appendingPathComponent("vocaseg/models")
    }

    /// Checks the model name before anything is decoded, so that a typo is a usage error at once.
    static func validateName(_ spec: String) throws {
        if knownModels[spec] != nil || spec.hasSuffix(".pth") || spec.hasSuffix(".safetensors")
            || spec.contains("/")
        {
            return
        }
        throw VocaSegError(.usage, "unknown model \"\(spec)\": use one of \(knownModels.keys.sorted().joined(separator: ", ")) or a checkpoint path")
    }

    /// Loads the model. Until the ERR-Seg port lands, no segmentation model is built in: this says so (exit 4)
    /// rather than substituting anything.
    public static func load(options: SegmentOptions) throws -> SegmentationModel {
        let spec = options.model
        try validateName(spec)
        throw VocaSegError(.model, "no segmentation model is available in this build yet: the ERR-Seg port (CLIP ConvNeXt + ERR-Seg head) has not landed, so \"\(spec)\" cannot be loaded")
    }
}
