import Foundation
import VocaSegTensor

/// One `DeformLayer` of the lite aggregator (spec §2.4): a modulated deformable 3×3 conv whose offsets and mask
/// come from a plain 3×3 conv of the same input, BatchNorm + ReLU, then a 4×4 stride-2 transposed conv that
/// doubles the size, BatchNorm + ReLU. Both BatchNorms are folded into the convolution before them.
struct LiteAggregatorDeformLayer {
    let offsetConv: LiteAggregatorConv
    /// `dcn.weight` with `dcn_bn` folded in (the DCN has no bias of its own, the fold gives one).
    let dcnWeight: Tensor, dcnBias: Tensor
    /// `up_sample.weight` [c_out, c_out, 4, 4] with `up_bn` folded in.
    let upWeight: Tensor, upBias: Tensor

    init(_ w: WeightScope, in cin: Int, out cout: Int) {
        offsetConv = LiteAggregatorConv(w.scope("dcn_offset"), in: cin, out: 27, kernel: 3)
        let dcnBN = BatchNormWeights(w.scope("dcn_bn"), channels: cout)
        (dcnWeight, dcnBias) = dcnBN.fold(convWeight: w.tensor("dcn.weight", [cout, cin, 3, 3]))
        let upBN = BatchNormWeights(w.scope("up_bn"), channels: cout)
        (upWeight, upBias) = upBN.foldTransposed(convWeight: w.tensor("up_sample.weight", [cout, cout, 4, 4]))
    }

    /// x [1, c_in, H, W] → [1, c_out, 2H, 2W].
    func callAsFunction(_ x: Tensor) -> Tensor {
        let om = offsetConv(x)
        // Channels 0..<18 are the offsets, read by the kernel as interleaved (dy, dx) per tap (DCNv2 layout, whatever
        // the original names them); channels 18..<27 are the mask logits of the 9 taps.
        let offset = om.narrowed(dim: 1, start: 0, length: 18).contiguous()
        let mask = Ops.sigmoid(om.narrowed(dim: 1, start: 18, length: 9).contiguous())
        let y = Ops.deformConv2d(input: x, offset: offset, weight: dcnWeight, bias: dcnBias, mask: mask,
                                 padding: (1, 1))
        Ops.activateInPlace(y, .relu)
        let up = Ops.convTranspose2d(y, weight: upWeight, bias: upBias, stride: 2, padding: 1)
        Ops.activateInPlace(up, .relu)
        return up
    }
}
