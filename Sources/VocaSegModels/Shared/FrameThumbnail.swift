import VocaSegCore

/// What a family's preprocessing hands its inference step besides the pixels when it reuses a per-frame class
/// choice across frames (ERR-Seg's CRM selection, SED's CER candidates): a 16×16 grey thumbnail
/// (`SceneThumbnail`), compared with the one of the frame the choice was made on to notice scene cuts.
struct FrameThumbnail: ModelPayload {
    var thumbnail: [UInt8]
}

extension PreprocessedFrame {
    /// The scene-cut thumbnail, when the family's preprocessing made one.
    var thumbnail: [UInt8]? {
        get { (payload as? FrameThumbnail)?.thumbnail }
        set { payload = newValue.map(FrameThumbnail.init) }
    }
}
