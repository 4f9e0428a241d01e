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
        // CAT-Seg keeps CLIP inside the predictor as SED does; SED's family claims its files first (by its
        // decoder's `head0`), so what is left under this prefix is CAT-Seg's.
        Layout(family: "CAT-Seg", variant: nil, backbone: nil, tensorCount: nil,
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
