import Foundation
import VocaSegCheckpoint
import VocaSegCore

/// EOV-Seg's registry entry: S, M and L, recognised from the CNN CLIP's first weight, panoptic by default and
/// semantic from the same forward pass (spec §4.3).
public struct EOVSegFamily: ModelFamily {
    public init() {}

    public let name = "EOV-Seg"
    public let tasks: [SegmentationTask] = [.panoptic, .semantic]
    public let options: [FamilyOption] = []

    /// The authors' README links each checkpoint on Google Drive (spec §1.1); these machines cannot reach it.
    static func driveHint(_ variant: String, _ id: String) -> String {
        "download the EOV-Seg (\(variant)) checkpoint from https://drive.google.com/file/d/\(id) (linked in the authors' README, github.com/nhw649/EOV-Seg)"
    }

    static let configs: [String: EOVSegConfig] = ["eovseg-s": .small, "eovseg-m": .medium, "eovseg-l": .large]

    public let variants = [
        ModelVariant(name: "eovseg-s", label: "S", backbone: "CLIP RN50 + ViT-B/16", expectedTensorCount: 1067,
                     defaultFile: "eovseg-s/model_final.pth", downloadHint: driveHint("S", "1UgLrRxpi4l30F8zTqhEv7cEW23TCGv3h")),
        ModelVariant(name: "eovseg-m", label: "M", backbone: "CLIP RN50x4 + ViT-B/16", expectedTensorCount: 1247,
                     defaultFile: "eovseg-m/model_final.pth", downloadHint: driveHint("M", "1--SYgaWs8_Ry2ouXBJO8FfSWH7D-Pejk")),
        ModelVariant(name: "eovseg-l", label: "L", backbone: "CLIP ConvNeXt-L (convnext_large_d_320) + ViT-B/16",
                     expectedTensorCount: 1121, defaultFile: "eovseg-l/model_final.pth",
                     downloadHint: driveHint("L", "1dVfHpzmCOlV6hLfUpd3nHXz62wdB7RY2")),
    ]

    /// RN50's stem starts with 32 filters, RN50x4's with 40 (w/2); L has a ConvNeXt stem of 192.
    static let signatures: [(label: String, signature: CheckpointSignature)] = [
        ("S", CheckpointSignature(keys: ["cnn_backbone.clip_model.visual.conv1.weight"], firstDimension: 32)),
        ("M", CheckpointSignature(keys: ["cnn_backbone.clip_model.visual.conv1.weight"], firstDimension: 40)),
        ("L", CheckpointSignature(keys: ["cnn_backbone.clip_model.visual.trunk.stem.0.weight"], firstDimension: 192)),
    ]

    public func recognize(_ checkpoint: Checkpoint) -> CheckpointRecognition? {
        for (label, signature) in Self.signatures {
            guard let evidence = signature.match(checkpoint),
                  let variant = variants.first(where: { $0.label == label }) else { continue }
            return CheckpointRecognition(family: name, variant: label, backbone: variant.backbone,
                                         expectedTensorCount: variant.expectedTensorCount, evidence: evidence,
                                         supported: true)
        }
        return nil
    }

    public func makeModel(_ request: ModelBuildRequest) throws -> SegmentationModel {
        guard let config = Self.configs[request.variant.name] else {
            throw VocaSegError(.internal, "EOV-Seg has no variant \(request.variant.name)")
        }
        if request.imageSize != nil {
            throw VocaSegError(.usage, "--size does not apply to EOV-Seg: it resizes the short side to \(config.shortEdge) as its official test mapper")
        }
        let tokenizer = try CLIPTokenizer(vocabularyPath: request.tokenizerPath)
        let model: EOVSegModel
        let identity: String
        switch request.weights {
        case .checkpoint(let path):
            model = try EOVSegModel.load(checkpointPath: path, config: config, tokenizer: tokenizer, task: request.task)
            identity = request.textCacheDirectory.map { TextEmbeddingCache.fileIdentity(path: path, cacheDirectory: $0) } ?? ""
        case .random(let seed):
            model = try EOVSegModel.random(config: config, seed: seed, tokenizer: tokenizer, task: request.task)
            identity = "random:seed\(seed):\(request.variant.name)"
        }
        if let directory = request.textCacheDirectory {
            model.textEmbeddingCache = TextEmbeddingCache(directory: directory, weightsIdentity: identity)
        }
        return model
    }
}
