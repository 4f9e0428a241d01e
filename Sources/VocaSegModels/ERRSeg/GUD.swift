import Foundation
import VocaSegTensor

/// One GUD stage (`up_decoderN`): up_conv (1×1 conv, or 2×2 stride-2 transposed conv), concat [x, guidance]
/// (guidance shared by all classes), then 2 × (3×3 conv without bias → GroupNorm(C/8) → ReLU). NCHW, batch = K.
///
/// The first 3×3 conv is linear in its input channels, so conv([x, g]) = conv_x(x) + conv_g(g): the guidance half
/// (a third of that conv's work) is computed once for all classes and added, and the concat is never built.
struct UpDecoder {
    let upWeight: Tensor, upBias: Tensor
    let transposed: Bool
    let conv1X: Tensor, conv1G: Tensor   // textual_fusion.0 split along its input channels: [x | guidance]
    let gn1Weight: Tensor, gn1Bias: Tensor
    let conv2: Tensor, gn2Weight: Tensor, gn2Bias: Tensor
    let outDim: Int, groups: Int, eps: Float

    init(_ w: WeightScope, inDim: Int, outDim: Int, guidanceDim: Int, transposed: Bool, eps: Float) {
        let up = w.scope("up_conv")
        upWeight = transposed ? up.tensor("weight", [inDim, outDim, 2, 2]) : up.tensor("weight", [outDim, inDim, 1, 1])
        upBias = up.tensor("bias", [outDim])
        self.transposed = transposed
        let tf = w.scope("textual_fusion")
        let conv1 = tf.tensor("0.weight", [outDim, outDim + guidanceDim, 3, 3])
        conv1X = conv1.narrowed(dim: 1, start: 0, length: outDim).contiguous()
        conv1G = conv1.narrowed(dim: 1, start: outDim, length: guidanceDim).contiguous()
        gn1Weight = tf.tensor("1.weight", [outDim])
        gn1Bias = tf.tensor("1.bias", [outDim])
        conv2 = tf.tensor("3.weight", [outDim, outDim, 3, 3])
        gn2Weight = tf.tensor("4.weight", [outDim])
        gn2Bias = tf.tensor("4.bias", [outDim])
        self.outDim = outDim
        groups = outDim / 8
        self.eps = eps
    }

    /// x [K, Cin, H, W], guidance [1, Cg, H', W'] → [K, out, H', W']. Classes run as independent items
    /// (`ParallelConfig.forEachItem`): each one's planes stay in cache and its convs run single-threaded.
    func forward(_ x: Tensor, guidance: Tensor, pools: [BufferPool]) -> Tensor {
        var clock = SectionProfile.start()
        let k = x.shape[0], h = x.shape[2], w = x.shape[3]
        let guided = Ops.conv2d(guidance, weight: conv1G, padding: 1, pool: pools[0])  // [1, out, H', W']
        let oh = guided.shape[2], ow = guided.shape[3]
        precondition(oh == (transposed ? 2 * h : h) && ow == (transposed ? 2 * w : w),
                     "GUD: guidance \(guidance.shape) vs input \(x.shape)")
        SectionProfile.lap("gud\(outDim).guidance", &clock)
        // Pooled: the last stage's output is 52 MB at K = 32, which malloc would map and fault in again every frame.
        let result = pools[0].tensor("gud\(outDim).result", shape: [k, outDim, oh, ow])
        let src = x.contiguous()
        ParallelConfig.forEachItem(k) { worker, i in
            let pool = pools[worker]
            var t = SectionProfile.start()
            let xi = src.narrowed(dim: 0, start: i, length: 1)
            let up = transposed
                ? Ops.convTranspose2d(xi, weight: upWeight, bias: upBias, stride: 2, pool: pool)
                : Ops.conv2d(xi, weight: upWeight, bias: upBias, pool: pool)
            SectionProfile.lap("gud\(outDim).class.up", &t)
            let plane = [1, outDim, oh, ow]
            let y = Ops.conv2d(up, weight: conv1X, padding: 1, pool: pool, out: pool.tensor("gud.conv1", shape: plane))
            SectionProfile.lap("gud\(outDim).class.conv1", &t)
            Ops.addInPlace(y, guided)
            Ops.groupNorm(y, groups: groups, weight: gn1Weight, bias: gn1Bias, eps: eps, activation: .relu, out: y)
            SectionProfile.lap("gud\(outDim).class.add+gn", &t)
            let z = Ops.conv2d(y, weight: conv2, padding: 1, pool: pool, out: pool.tensor("gud.conv2", shape: plane))
            SectionProfile.lap("gud\(outDim).class.conv2", &t)
            // The second GroupNorm writes this class's slice of the stage output directly.
            Ops.groupNorm(z, groups: groups, weight: gn2Weight, bias: gn2Bias, eps: eps, activation: .relu,
                          out: result.narrowed(dim: 0, start: i, length: 1))
            SectionProfile.lap("gud\(outDim).class.gn", &t)
        }
        withExtendedLifetime(src) {}
        SectionProfile.lap("gud\(outDim).classes", &clock)
        return result
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
    func forward(_ x: Tensor, guidance: [Tensor], pools: [BufferPool]) -> (stages: [Tensor], logits: Tensor) {
        var outs: [Tensor] = []
        var y = x
        for (stage, g) in zip(stages, guidance) {
            y = stage.forward(y, guidance: g, pools: pools)
            outs.append(y)
        }
        let logits = Ops.conv2d(y, weight: headWeight, bias: headBias)
        return (outs, logits.reshaped([logits.shape[0], logits.shape[2], logits.shape[3]]))
    }
}
