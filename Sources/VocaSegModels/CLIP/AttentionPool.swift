import Foundation
import VocaSegTensor

/// open_clip `AttentionPool2d` (`visual.attnpool` of the ModifiedResNet): a positional embedding over the
/// pretraining grid (row 0 for the mean token), separate q/k/v projections with bias, multi-head attention and
/// `c_proj`. Dense open-vocabulary models (FC-CLIP, EOV-Seg) do not run it over the whole image but once per mask.
public struct CLIPAttentionPool: @unchecked Sendable {
    let positionalEmbedding: Tensor  // [grid² + 1, C]
    let qProj: LinearLayer
    let kProj: LinearLayer
    let vProj: LinearLayer
    let cProj: LinearLayer
    let heads: Int
    let grid: Int
    let channels: Int

    /// `w` is the `...visual.attnpool` scope.
    init(_ w: WeightScope, channels: Int, heads: Int, grid: Int, outDim: Int) {
        positionalEmbedding = w.tensor("positional_embedding", [grid * grid + 1, channels])
        qProj = LinearLayer(w.scope("q_proj"), in: channels, out: channels)
        kProj = LinearLayer(w.scope("k_proj"), in: channels, out: channels)
        vProj = LinearLayer(w.scope("v_proj"), in: channels, out: channels)
        cProj = LinearLayer(w.scope("c_proj"), in: channels, out: outDim)
        self.heads = heads
        self.grid = grid
        self.channels = channels
    }

    public var outDim: Int { cProj.outFeatures }

    /// The attention pool restricted to masks, as EOV-Seg's `visual_prediction_forward_resnet` (from FC-CLIP):
    /// - keys and values are the h·w tokens of `res5` [1, C, h, w] plus the spatial positional embedding resized
    ///   bilinearly (align_corners false) from grid×grid to h×w; every position takes part (padding included) and
    ///   the mean token does not;
    /// - the one query is the mean of the tokens (without positions) plus positional row 0, repeated per mask;
    /// - query q may attend to position p only where `maskLogits[q, p] > 0` (`maskLogits` [Q, h, w]).
    /// Returns [Q, outDim]. An empty mask gives a NaN row, as PyTorch's softmax over all −∞ does; callers that
    /// ensemble on valid masks neutralise it.
    public func maskedPool(res5: Tensor, maskLogits: Tensor) -> Tensor {
        opCheck(res5.rank == 4 && res5.shape[0] == 1 && res5.shape[1] == channels,
                "maskedPool: res5 must be [1, \(channels), h, w], got \(res5.shape)")
        let h = res5.shape[2], w = res5.shape[3], hw = h * w
        opCheck(maskLogits.rank == 3 && maskLogits.shape[1] == h && maskLogits.shape[2] == w,
                "maskedPool: mask logits must be [Q, \(h), \(w)], got \(maskLogits.shape)")
        opCheck(hw > 0, "maskedPool: empty feature map")
        let q = maskLogits.shape[0], c = channels
        if q == 0 { return Tensor(zeros: [0, outDim]) }

        let tokens = res5.reshaped([c, hw]).transposed(0, 1).contiguous()  // [HW, C]
        // Query: mean over all positions in double (torch reduces in float with pairwise sums; double is at least
        // as close to the exact mean), plus positional row 0.
        let query = Tensor(uninitializedShape: [1, c])
        var sums = [Double](repeating: 0, count: c)
        for p in 0..<hw {
            let row = tokens.data + p * c
            for ch in 0..<c { sums[ch] += Double(row[ch]) }
        }
        for ch in 0..<c { query.data[ch] = Float(sums[ch] / Double(hw)) + positionalEmbedding.data[ch] }

        Ops.addInPlace(tokens, CLIPPositionalEmbedding.spatial(positionalEmbedding, grid: grid, height: h, width: w))
        let keys = kProj(tokens), values = vProj(tokens)                   // [HW, C]
        // All queries are the same vector: project it once and repeat the projected row.
        let projected = qProj(query)
        let queries = Tensor(uninitializedShape: [1, q, c])
        for i in 0..<q { (queries.data + i * c).update(from: projected.data, count: c) }
        withExtendedLifetime(projected) {}

        // Additive mask: 0 where the mask logit is > 0, −∞ elsewhere (NaN logits are not > 0, so forbidden too).
        let logits = maskLogits.contiguous()
        let mask = Tensor(uninitializedShape: [q, hw])
        for i in 0..<(q * hw) { mask.data[i] = logits.data[i] > 0 ? 0 : -Float.infinity }
        withExtendedLifetime(logits) {}

        let attended = Ops.attention(query: queries, key: keys.reshaped([1, hw, c]), value: values.reshaped([1, hw, c]),
                                     heads: heads, mask: mask)
        return cProj(attended.reshaped([q, c]))
    }
}
