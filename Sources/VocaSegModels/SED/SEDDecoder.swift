import Foundation
import VocaSegTensor

/// One decoder stage `decoderN` (SED's `Up`): ConvNeXt block (`cnext`, 9×9 depthwise) on each class, class
/// attention across classes (`attention`), then per class the 2×2 transposed conv (`up`), the concat
/// [up, appearance guidance, correlation guidance] and the DoubleConv (`conv.double_conv`: 3×3 conv without bias,
/// GroupNorm(C/16), ReLU, twice).
struct SEDUpStage {
    let block: ConvNeXtBlockWeights
    let attention: ClassLinearAttention
    let up: TransposedConv2x2
    let conv1: ChannelsLastConv, norm1: ChannelsLastGroupNorm
    let conv2: ChannelsLastConv, norm2: ChannelsLastGroupNorm
    let inDim: Int, upDim: Int, guidanceDim: Int, corrDim: Int, outDim: Int

    init(_ w: WeightScope, config c: SEDConfig, stage i: Int) {
        let dim = c.stageInputDims[i], k = c.blockKernel
        inDim = dim
        upDim = c.upDims[i]
        guidanceDim = c.guidanceProjDims[i]
        corrDim = c.corrGuidanceDims[i]
        outDim = c.decoderDims[i]
        let cn = w.scope("cnext")
        block = .prepared(
            dwWeight: cn.tensor("dwconv.weight", [dim, 1, k, k]), dwBias: cn.tensor("dwconv.bias", [dim]),
            normWeight: cn.tensor("norm.weight", [dim]), normBias: cn.tensor("norm.bias", [dim]),
            fc1Weight: cn.tensor("pwconv1.weight", [4 * dim, dim]), fc1Bias: cn.tensor("pwconv1.bias", [4 * dim]),
            fc2Weight: cn.tensor("pwconv2.weight", [dim, 4 * dim]), fc2Bias: cn.tensor("pwconv2.bias", [dim]),
            gamma: cn.tensor("gamma", [dim]), eps: c.blockLNEps)
        attention = ClassLinearAttention(w.scope("attention"), dim: dim, heads: c.attentionHeads, lnEps: c.attentionLNEps)
        up = TransposedConv2x2(w.scope("up"), in: dim, out: upDim)
        let dc = w.scope("conv.double_conv"), cat = upDim + guidanceDim + corrDim
        conv1 = ChannelsLastConv(dc.scope("0"), in: cat, out: outDim, kernel: 3, stride: 1, padding: 1, bias: false)
        norm1 = ChannelsLastGroupNorm(dc.scope("1"), channels: outDim, groups: outDim / 16, eps: c.gnEps)
        conv2 = ChannelsLastConv(dc.scope("3"), in: outDim, out: outDim, kernel: 3, stride: 1, padding: 1, bias: false)
        norm2 = ChannelsLastGroupNorm(dc.scope("4"), channels: outDim, groups: outDim / 16, eps: c.gnEps)
    }

    /// The class-wise part before upsampling, in place on x [N, H·W, C]: ConvNeXt block per class, then the class
    /// attention.
    func mix(_ x: Tensor, classes n: Int, height h: Int, width w: Int, pools: [BufferPool]) {
        ParallelConfig.forEachItem(n) { worker, t in
            Ops.convNeXtBlockChannelsLast(x.narrowed(dim: 0, start: t, length: 1).reshaped([h * w, inDim]),
                                          height: h, width: w, block, pool: pools[worker])
        }
        attention.forward(x, classes: n, pixels: h * w, pools: pools)
    }

    /// One class's upsampling and fusion: x [H·W, C], guidance [4·H·W, Cg] (shared), corr [4·H·W, Cc] → out
    /// [4·H·W, Cout].
    func fuse(_ x: Tensor, guidance: Tensor, corr: Tensor, height h: Int, width w: Int, pool: BufferPool, out: Tensor) {
        let oh = 2 * h, ow = 2 * w, pixels = oh * ow, cat = upDim + guidanceDim + corrDim
        let upped = up(x, height: h, width: w, pool: pool, slot: "sed.up", out: pool.tensor("sed.up.out", shape: [pixels, upDim]))
        let joined = pool.tensor("sed.cat", shape: [pixels, cat])
        for p in 0..<pixels {
            let d = joined.data + p * cat
            d.update(from: upped.data + p * upDim, count: upDim)
            (d + upDim).update(from: guidance.data + p * guidanceDim, count: guidanceDim)
            (d + upDim + guidanceDim).update(from: corr.data + p * corrDim, count: corrDim)
        }
        let (y, _, _) = conv1(joined, batch: 1, height: oh, width: ow, pool: pool, slot: "sed.dc1")
        norm1.reluInPlace(y)
        let (z, _, _) = conv2(y, batch: 1, height: oh, width: ow, pool: pool, slot: "sed.dc2")
        norm2.reluInPlace(z)
        opCheck(out.isContiguous && out.count == z.count, "SED stage output \(out.shape) for \(z.shape)")
        out.data.update(from: z.data, count: z.count)
    }
}

/// A 3×3 conv to one channel (`head0`, `head1`, `head2`, `head`): a class's map [H·W, C] → logits [H·W].
struct SEDMaskHead {
    let conv: ChannelsLastConv

    init(_ w: WeightScope, in cin: Int) {
        conv = ChannelsLastConv(w, in: cin, out: 1, kernel: 3, stride: 1, padding: 1)
    }

    func callAsFunction(_ x: Tensor, height h: Int, width w: Int, pool: BufferPool, out: UnsafeMutablePointer<Float>) {
        let (y, _, _) = conv(x, batch: 1, height: h, width: w, pool: pool, slot: "sed.head")
        out.update(from: y.data, count: h * w)
    }
}

/// SED's decoder (`sem_seg_head.predictor.transformer`, the official "Aggregator"), from the cosine cost map to
/// the per-class logits, with category early rejection between stages.
struct SEDAggregator {
    let config: SEDConfig
    /// `conv1`: cost map (80 templates) → cost embedding, 7×7.
    let costConv: ChannelsLastConv
    /// `decoder_guidance_projection.{0,1,2}.0`: res4, res3, res2 → 32, 16, 8 (3×3 + ReLU).
    let guidanceProjections: [ChannelsLastConv]
    /// `decoder_corr_guidance_projection.{0,1,2}.0`: 80 → 32 → 16 → 8 (2×2 transposed + ReLU), chained.
    let corrGuidance: [TransposedConv2x2]
    let stages: [SEDUpStage]
    /// head0 … head2 (auxiliary, used by CER) and the final `head`.
    let auxHeads: [SEDMaskHead]
    let head: SEDMaskHead

    /// `w` is the `transformer` scope.
    init(_ w: WeightScope, config c: SEDConfig) {
        config = c
        costConv = ChannelsLastConv(w.scope("conv1"), in: c.templateCount, out: c.costEmbedDim, kernel: c.costKernel,
                                    stride: 1, padding: c.costKernel / 2)
        guidanceProjections = (0..<3).map {
            ChannelsLastConv(w.scope("decoder_guidance_projection.\($0).0"), in: c.guidanceInputDims[$0],
                             out: c.guidanceProjDims[$0], kernel: 3, stride: 1, padding: 1)
        }
        let corrIn = [c.templateCount] + Array(c.corrGuidanceDims.prefix(2))
        corrGuidance = (0..<3).map {
            TransposedConv2x2(w.scope("decoder_corr_guidance_projection.\($0).0"), in: corrIn[$0],
                              out: c.corrGuidanceDims[$0], activation: .relu)
        }
        stages = (0..<3).map { SEDUpStage(w.scope("decoder\($0 + 1)"), config: c, stage: $0) }
        auxHeads = (0..<3).map { SEDMaskHead(w.scope("head\($0)"), in: c.stageInputDims[$0]) }
        head = SEDMaskHead(w.scope("head"), in: c.decoderDims[2])
    }
}
