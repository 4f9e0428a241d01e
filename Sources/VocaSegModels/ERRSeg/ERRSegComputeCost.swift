import VocaSegCore

/// Multiply-accumulates per frame, for `vocaseg bench`'s GFLOP/s column.
///
/// The figures are the spec's FlopCounter measurements of the released architectures (../shared/specs/errseg.md
/// §6: B@640 visual 170.7 GMAC, decoder 116.5 / 174.1 GMAC at K = 32 / 48; L@768 visual 556.4, decoder 183.7 /
/// 273.5), which `Scripts/bench/compare.sh` re-measures with PyTorch's FlopCounterMode. The decoder is linear in K
/// (every ESCF/GUD op runs once per kept class, plus a small class-independent part) and every stage scales with the
/// input's area. Configurations other than B and L report nothing rather than a guess. These are the reference
/// model's counts: our decoder computes the class-independent guidance halves (SFM q and sr_k, CFM q and k, GUD's
/// first conv) once rather than per class, about 29 GFLOP less at B@640 with K = 32, so its GFLOP/s are effective.
extension ERRSegModel: ComputeCostReporting {
    public func multiplyAccumulatesPerFrame() -> [String: Double] {
        let reference: (size: Double, visual: Double, perClass: Double, fixed: Double)
        switch config.embedDim {
        case 640: reference = (640, 170.7e9, (174.1e9 - 116.5e9) / 16, 116.5e9 - 32 * (174.1e9 - 116.5e9) / 16)
        case 768: reference = (768, 556.4e9, (273.5e9 - 183.7e9) / 16, 183.7e9 - 32 * (273.5e9 - 183.7e9) / 16)
        default: return [:]
        }
        guard let t = currentTextEmbeddings?.shape[0] else { return [:] }
        let k = Double(classesKept(vocabularyCount: t))
        let area = (Double(config.imageSize) / reference.size) * (Double(config.imageSize) / reference.size)
        return ["backbone": reference.visual * area, "head": (reference.fixed + reference.perClass * k) * area]
    }
}
