import VocaSegTensor

/// The inputs of EOV-Seg's hard decisions, supplied from outside instead of computed: for the parity check's
/// "shared decisions" run only (Scripts/parity/eovseg.sh), never in production.
///
/// Every `> 0` threshold on mask logits (each decoder stage's mask-sum pooling, the class branch's mask means,
/// the CLIP pool's attention mask and `ENSEMBLE_ON_VALID_MASK`) is discontinuous. fp32 rounding, which differs
/// between any two implementations (and between the reference in fp32 and in fp64), moves a few of the millions of
/// mask logits across zero, and each stage amplifies the moved pixels. Giving both implementations the reference's
/// threshold inputs isolates the arithmetic, which must then agree to the tolerances; the free-running
/// comparison is judged against the reference's own fp32-versus-fp64 difference.
public struct EOVSegDecisions {
    /// The masks stage i thresholds: M0, then M'0, M'1, … ([Q, H/4, W/4] each).
    public var stageInputs: [Tensor]
    /// The last stage's masks as the class branch thresholds them ([Q, H/4, W/4]).
    public var classMasks: Tensor
    /// Mc, the masks at the CLIP feature size as its attention pool and the valid-mask rule threshold them.
    public var clipMasks: Tensor

    public init(stageInputs: [Tensor], classMasks: Tensor, clipMasks: Tensor) {
        self.stageInputs = stageInputs
        self.classMasks = classMasks
        self.clipMasks = clipMasks
    }
}
