import Foundation
import VocaSegTensor

/// One GUD stage (`up_decoderN`): up_conv (1×1 conv, or 2×2 stride-2 transposed conv), concat [x, guidance]
/// (guidance shared by all classes), then 2 × (3×3 conv without bias → GroupNorm(C/8) → ReLU). NCHW, batch = K.
struct UpDecoder {
    let upWeight: Tensor, upBias: Tensor
    let transposed: Bool
    let conv1: Tensor, gn1Weight: Tensor, gn1Bias: Tensor
    let conv2: Tensor, gn2Weight: Tensor, gn2Bias: Tensor
    let outDim: Int, groups: Int, eps: Float

    init(_ w: WeightScope, inDim: Int, outDim: Int, guidanceDim: Int, transposed: Bool, eps: Float) {
        let up = w.scope("up_conv")
        upWeight = transposed ? up.tensor("weight", [inDim, outDim, 2, 2]) : up.tensor("weight", [outDim, inDim, 1, 1])
        upBias = up.tensor("bias", [outDim])
        self.transposed = transposed
        let tf = w.scope("textual_fusion")
        conv1 = tf.tensor("0.weight", [outDim, outDim + guidanceDim, 3, 3])
        gn1Weight = tf.tensor("1.weight", [outDim])
        gn1Bias = tf.tensor("1.bias", [outDim])
        conv2 = tf.tensor("3.weight", [outDim, outDim, 3, 3])
        gn2Weight = tf.tensor("4.weight", [outDim])
        gn2Bias = tf.tensor("4.bias", [outDim])
        self.outDim = outDim
        groups = outDim / 8
        self.eps = eps
    }

    /// x [K, Cin, H, W], guidance [1, Cg, H', W'] → [K, out, H', W'].
    func forward(_ x: Tensor, guidance: Tensor, pool: BufferPool) -> Tensor {
        var clock = SectionProfile.start()
        let up = transposed
            ? Ops.convTranspose2d(x, weight: upWeight, bias: upBias, stride: 2, pool: pool)
            : Ops.conv2d(x, weight: upWeight, bias: upBias, pool: pool)
        let k = up.shape[0], h = up.shape[2], w = up.shape[3]
        let cg = guidance.shape[1]
        precondition(guidance.shape[2] == h && guidance.shape[3] == w, "GUD: guidance \(guidance.shape) vs \(up.shape)")
        let plane = h * w
        let cat = Tensor(uninitializedShape: [k, outDim + cg, h, w])
        let g = guidance.contiguous()
        ChannelsLast.parallelRanges(k) { range in
            for i in range {
                let dst = cat.data + i * (outDim + cg) * plane
                dst.update(from: up.data + i * outDim * plane, count: outDim * plane)
                (dst + outDim * plane).update(from: g.data, count: cg * plane)
            }
        }
        SectionProfile.lap("gud\(outDim).up+concat", &clock)
        var y = Ops.conv2d(cat, weight: conv1, padding: 1, pool: pool)
        SectionProfile.lap("gud\(outDim).conv1", &clock)
        y = Ops.groupNorm(y, groups: groups, weight: gn1Weight, bias: gn1Bias, eps: eps, activation: .relu)
        SectionProfile.lap("gud\(outDim).gn", &clock)
        y = Ops.conv2d(y, weight: conv2, padding: 1, pool: pool)
        SectionProfile.lap("gud\(outDim).conv2", &clock)
        y = Ops.groupNorm(y, groups: groups, weight: gn2Weight, bias: gn2Bias, eps: eps, activation: .relu)
        SectionProfile.lap("gud\(outDim).gn", &clock)
        return y
    }
}

/// The three GUD stages and the 1×1 head: X [K, C, h, w] → logits [K, 4h, 4w].
struct GradualUpsamplingDecoder {
    let stages: [UpDecoder]
    let headWeight: Tensor, headBias: Tensor

    /// `w` is the decoder scope.
    init(_ w: WeightScope, config c: ERRSegConfig) {
        let d = c.decoderDims, g = c.decoderGuidanceProjDims
        stages = [
            UpDecoder(w.scope("up_decoder1"), inDim: c.aggregatorDim, outDim: d[0], guidanceDim: g[0], transposed: false, eps: c.gnEps),
            UpDecoder(w.scope("up_decoder2"), inDim: d[0], outDim: d[1], guidanceDim: g[1], transposed: true, eps: c.gnEps),
            UpDecoder(w.scope("up_decoder3"), inDim: d[1], outDim: d[2], guidanceDim: g[2], transposed: true, eps: c.gnEps),
        ]
        headWeight = w.scope("head").tensor("weight", [1, d[2], 1, 1])
        headBias = w.scope("head").tensor("bias", [1])
    }

    /// Returns the three stage outputs and the selected-class logits [K, H, W].
    func forward(_ x: Tensor, guidance: [Tensor], pool: BufferPool) -> (stages: [Tensor], logits: Tensor) {
        var outs: [Tensor] = []
        var y = x
        for (stage, g) in zip(stages, guidance) {
            y = stage.forward(y, guidance: g, pool: pool)
            outs.append(y)
        }
        let logits = Ops.conv2d(y, weight: headWeight, bias: headBias)
        return (outs, logits.reshaped([logits.shape[0], logits.shape[2], logits.shape[3]]))
    }
}
