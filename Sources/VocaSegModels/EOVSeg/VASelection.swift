import Foundation
import VocaSegTensor

/// Vocabulary-Aware Selection, `light_weight_decoder.vas` (spec §2.5): a per-pixel scalar gate from how sharply the
/// pixel's embedding picks one text row. The original takes softmax over all T rows (synonyms and void) and then
/// the max; that max is 1 / Σ_n exp(s_n − max s), computed here in one pass per pixel without a T×HW softmax.
struct VocabularyAwareSelection {
    /// `guide_fc` D→D.
    let guideFC: LinearLayer
    /// `embed_conv.depthwise` 3×3 with its BatchNorm folded in, then GELU.
    let depthwiseWeight: Tensor, depthwiseBias: Tensor
    /// `embed_conv.pointwise` 1×1 hidden→D with its BatchNorm folded in, then GELU.
    let pointwise: LiteAggregatorConv
    let scale: Float, offset: Float
    let embedDim: Int

    /// `w` is the `light_weight_decoder.vas` scope.
    init(_ w: WeightScope, hiddenDim: Int, embedDim: Int) {
        self.embedDim = embedDim
        guideFC = LinearLayer(w.scope("guide_fc"), in: embedDim, out: embedDim)
        let e = w.scope("embed_conv")
        (depthwiseWeight, depthwiseBias) = BatchNormWeights(e.scope("depthwise.norm"), channels: hiddenDim)
            .fold(convWeight: e.tensor("depthwise.weight", [hiddenDim, 1, 3, 3]))
        let (pw, pb) = BatchNormWeights(e.scope("pointwise.norm"), channels: embedDim)
            .fold(convWeight: e.tensor("pointwise.weight", [embedDim, hiddenDim, 1, 1]))
        pointwise = LiteAggregatorConv(weight: pw, bias: pb, padding: 0, activation: .gelu)
        scale = w.tensor("scale", [1, 1, 1, 1]).toArray()[0]
        offset = w.tensor("offset", [1, 1, 1, 1]).toArray()[0]
    }

    /// G = guide_fc(TC) [T, D]: depends on the vocabulary only, so the caller may cache it.
    func guide(textClassifier: Tensor) -> Tensor {
        opCheck(textClassifier.rank == 2 && textClassifier.shape[1] == embedDim,
                     "VAS: text classifier \(textClassifier.shape), expected [T, \(embedDim)]")
        return guideFC(textClassifier)
    }

    /// F0 [1, hidden, H, W] and G [T, D] → (F = F0 · gate [1, hidden, H, W], gate [1, 1, H, W]).
    func callAsFunction(_ f0: Tensor, guide g: Tensor) -> (features: Tensor, gate: Tensor) {
        opCheck(f0.rank == 4 && f0.shape[0] == 1 && f0.shape[1] == depthwiseWeight.shape[0],
                     "VAS: features \(f0.shape)")
        opCheck(g.rank == 2 && g.shape[1] == embedDim && g.shape[0] > 0, "VAS: guide \(g.shape)")
        let h = f0.shape[2], w = f0.shape[3], hw = h * w
        let dw = Ops.depthwiseConv2d(f0, weight: depthwiseWeight, bias: depthwiseBias, padding: 1, activation: .gelu)
        let e = pointwise(dw)  // [1, D, H, W]
        let gate = Tensor(uninitializedShape: [1, 1, h, w])
        Self.maxSoftmax(embeddings: e.contiguous(), guide: g.contiguous(), pixels: hw, into: gate.data)
        let gp = gate.data
        for p in 0..<hw { gp[p] = gp[p] * scale + offset }
        let src = f0.contiguous()
        let out = Tensor(uninitializedShape: f0.shape)
        let channels = f0.shape[1]
        ChannelsLast.parallelRanges(channels) { range in
            for c in range {
                let s = src.data + c * hw, o = out.data + c * hw
                for p in 0..<hw { o[p] = s[p] * gp[p] }
            }
        }
        withExtendedLifetime(src) {}
        return (out, gate)
    }

    /// a(p) = max_n softmax_n(<E(:,p), G_n>/√D) = 1 / Σ_n exp(s_n − max s), for embeddings [D, HW] (channels
    /// first) in tiles of pixels: one GEMM gives the tile's [pixels, T] scores, then one reduction per row.
    static func maxSoftmax(embeddings e: Tensor, guide g: Tensor, pixels hw: Int, into out: UnsafeMutablePointer<Float>) {
        let d = g.shape[1], t = g.shape[0]
        let invSqrtD = 1 / Float(d).squareRoot()
        let tile = max(1, min(hw, (1 << 20) / t))
        let scores = TensorStorage(count: tile * t)
        var p0 = 0
        while p0 < hw {
            let n = min(tile, hw - p0)
            BLAS.sgemm(transA: true, transB: true, m: n, n: t, k: d, a: e.data + p0, lda: hw, b: g.data, ldb: d,
                       c: scores.pointer, ldc: t)
            let base = scores.pointer, start = p0
            ChannelsLast.parallelRanges(n, grain: 64) { rows in
                for r in rows {
                    let s = base + r * t
                    var m = -Float.infinity
                    for j in 0..<t { m = max(m, s[j] * invSqrtD) }
                    var sum: Float = 0
                    for j in 0..<t { sum += expf(s[j] * invSqrtD - m) }
                    out[start + r] = 1 / sum
                }
            }
            p0 += n
        }
        withExtendedLifetime((e, g, scores)) {}
    }
}
