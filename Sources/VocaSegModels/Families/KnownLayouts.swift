import VocaSegCheckpoint

/// Checkpoint layouts this build recognises but cannot run yet, so that such a file is refused with one clear
/// line instead of failing on a wall of missing keys. A family that gets ported leaves this list for `ModelFamilies.all`.
enum KnownLayouts {
    struct Layout {
        let family: String
        let variant: String?
        let backbone: String?
        let tensorCount: Int?
        let signature: CheckpointSignature
        /// Any key under this prefix (nil: the signature decides).
        let keyPrefix: String?
    }

    static let layouts: [Layout] = [
        Layout(family: "EOV-Seg", variant: "L", backbone: "convnext_large_d_320 + ViT-B-16", tensorCount: 1121,
               signature: CheckpointSignature(keys: ["cnn_backbone.clip_model.visual.trunk.stem.0.weight"], firstDimension: 192),
               keyPrefix: nil),
        Layout(family: "EOV-Seg", variant: "S", backbone: "RN50 + ViT-B-16", tensorCount: 1067,
               signature: CheckpointSignature(keys: ["cnn_backbone.clip_model.visual.conv1.weight"], firstDimension: 32),
               keyPrefix: nil),
        Layout(family: "EOV-Seg", variant: "M", backbone: "RN50x4 + ViT-B-16", tensorCount: 1247,
               signature: CheckpointSignature(keys: ["cnn_backbone.clip_model.visual.conv1.weight"], firstDimension: 40),
               keyPrefix: nil),
        // SED and CAT-Seg keep CLIP inside the predictor; they share this prefix, so the layout names both.
        Layout(family: "SED or CAT-Seg", variant: nil, backbone: nil, tensorCount: nil,
               signature: CheckpointSignature(keys: []), keyPrefix: "sem_seg_head.predictor.clip_model."),
    ]

    static func recognize(_ checkpoint: Checkpoint) -> CheckpointRecognition? {
        for layout in layouts {
            var evidence = layout.signature.match(checkpoint)
            if evidence == nil, let prefix = layout.keyPrefix,
               let key = checkpoint.names.first(where: { $0.hasPrefix(prefix) }) {
                evidence = "\(key) \(checkpoint[key]?.shape ?? [])"
            }
            if let evidence {
                return CheckpointRecognition(family: layout.family, variant: layout.variant, backbone: layout.backbone,
                                             expectedTensorCount: layout.tensorCount, evidence: evidence, supported: false)
            }
        }
        return nil
    }
}
