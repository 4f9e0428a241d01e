import VocaSegCore

/// What ERR-Seg's preprocessing hands its inference step besides the pixels: a 16×16 grey thumbnail, compared
/// with the previous selection's to notice scene cuts (a cut re-runs the CRM selection at once).
struct ERRSegFrameSignature: ModelPayload {
    var thumbnail: [UInt8]
}

extension PreprocessedFrame {
    /// ERR-Seg's scene-cut thumbnail, when this frame was preprocessed by ERR-Seg.
    var thumbnail: [UInt8]? {
        get { (payload as? ERRSegFrameSignature)?.thumbnail }
        set { payload = newValue.map(ERRSegFrameSignature.init) }
    }
}
