import Foundation
import VocaSegTensor

/// One decoder stage `decoderN` (SED's `Up`): ConvNeXt block (`cnext`, 9×9 depthwise) on each class, class
/// attention across classes (`attention`), then per class the 2×2 transposed conv (`up`), the concat
/// [up, appearance guidance, correlation guidance] and the DoubleConv (`conv.double_conv`: 3×3 conv without bias,
/// GroupNorm(C/16), ReLU, twice).
struct SEDUpStage {
    let block: ConvNeXtBlockWeights
    let attention: ClassLinearAttention
    /// `up` as stored: [Cin, Cup, 2, 2] and [Cup].
    let upWeight: Tensor, upBias: Tensor
    /// The first DoubleConv conv split along its input channels: the per-class part [up, corr] and the
    /// appearance-guidance part, which is the same for every class (convolved once per stage, then added).
    let conv1Class: Tensor, conv1Guidance: Tensor
    let norm1Weight: Tensor, norm1Bias: Tensor
    let conv2: Tensor, norm2Weight: Tensor, norm2Bias: Tensor
    let groups: Int, gnEps: Float
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
        upWeight = w.tensor("up.weight", [dim, upDim, 2, 2])
        upBias = w.tensor("up.bias", [upDim])
        let dc = w.scope("conv.double_conv")
        // The official concat is [up, appearance guidance, correlation guidance].
        let conv1 = dc.tensor("0.weight", [outDim, upDim + guidanceDim + corrDim, 3, 3])
        conv1Class = Ops.concat([conv1.narrowed(dim: 1, start: 0, length: upDim),
                                 conv1.narrowed(dim: 1, start: upDim + guidanceDim, length: corrDim)], dim: 1).contiguous()
        conv1Guidance = conv1.narrowed(dim: 1, start: upDim, length: guidanceDim).contiguous()
        norm1Weight = dc.tensor("1.weight", [outDim])
        norm1Bias = dc.tensor("1.bias", [outDim])
        conv2 = dc.tensor("3.weight", [outDim, outDim, 3, 3])
        norm2Weight = dc.tensor("4.weight", [outDim])
        norm2Bias = dc.tensor("4.bias", [outDim])
        groups = outDim / 16
        gnEps = c.gnEps
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

    /// The appearance guidance's share of the first DoubleConv conv, [1, Cout, 2H, 2W], from the guidance
    /// [1, Cg, 2H, 2W] (NCHW).
    func guidanceTerm(_ guidance: Tensor, pool: BufferPool) -> Tensor {
        Ops.conv2d(guidance, weight: conv1Guidance, padding: 1, pool: pool)
    }

    /// One class's upsampling and fusion (NCHW, where the engine's direct 3×3 and 2×2 kernels work): x [H·W, C]
    /// channels-last, corr [1, Cc, 2H, 2W], the guidance term → the stage output written channels-last into
    /// `out` [4·H·W, Cout]; returns the output NCHW ([1, Cout, 2H, 2W], pooled) for the head.
    @discardableResult
    func fuse(_ x: Tensor, guidanceTerm: Tensor, corr: Tensor, height h: Int, width w: Int, pool: BufferPool,
              out: Tensor) -> Tensor {
        var clock = SectionProfile.start()
        let oh = 2 * h, ow = 2 * w, plane = oh * ow
        let xi = pool.tensor("sed.x", shape: [1, inDim, h, w])
        Self.transpose(x.data, rows: h * w, cols: inDim, into: xi.data)
        let upped = Ops.convTranspose2d(xi, weight: upWeight, bias: upBias, stride: 2, pool: pool)
        let joined = pool.tensor("sed.cat", shape: [1, upDim + corrDim, oh, ow])
        joined.data.update(from: upped.contiguous().data, count: upDim * plane)
        (joined.data + upDim * plane).update(from: corr.contiguous().data, count: corrDim * plane)
        SectionProfile.lap("sed.fuse\(outDim).up", &clock)
        let y = Ops.conv2d(joined, weight: conv1Class, padding: 1, pool: pool,
                           out: pool.tensor("sed.dc1", shape: [1, outDim, oh, ow]))
        Ops.addInPlace(y, guidanceTerm)
        SectionProfile.lap("sed.fuse\(outDim).conv1", &clock)
        Ops.groupNorm(y, groups: groups, weight: norm1Weight, bias: norm1Bias, eps: gnEps, activation: .relu, out: y)
        let z = Ops.conv2d(y, weight: conv2, padding: 1, pool: pool, out: pool.tensor("sed.dc2", shape: [1, outDim, oh, ow]))
        SectionProfile.lap("sed.fuse\(outDim).gn+conv2", &clock)
        Ops.groupNorm(z, groups: groups, weight: norm2Weight, bias: norm2Bias, eps: gnEps, activation: .relu, out: z)
        opCheck(out.isContiguous && out.count == z.count, "SED stage output \(out.shape) for \(z.shape)")
        Self.transpose(z.data, rows: outDim, cols: plane, into: out.data)
        SectionProfile.lap("sed.fuse\(outDim).gn+out", &clock)
        return z
    }

    /// [rows, cols] → [cols, rows].
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
        let tile = 32
        for r0 in stride(from: 0, to: rows, by: tile) {
            for c0 in stride(from: 0, to: cols, by: tile) {
                for r in r0..<min(rows, r0 + tile) {
                    for c in c0..<min(cols, c0 + tile) { dst[c * rows + r] = src[r * cols + c] }
                }
            }
        }
    }
}

/// A 3×3 conv to one channel (`head0`, `head1`, `head2`, `head`) on one class's NCHW map → logits [H·W].
struct SEDMaskHead {
    let weight: Tensor, bias: Tensor

    init(_ w: WeightScope, in cin: Int) {
        weight = w.tensor("weight", [1, cin, 3, 3])
        bias = w.tensor("bias", [1])
    }

    /// x [1, C, H, W] → `out` (H·W floats).
    func callAsFunction(_ x: Tensor, pool: BufferPool, out: UnsafeMutablePointer<Float>) {
        let h = x.shape[2], w = x.shape[3]
        let y = Ops.conv2d(x, weight: weight, bias: bias, padding: 1, pool: pool, out: pool.tensor("sed.head", shape: [1, 1, h, w]))
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
    /// `decoder_corr_guidance_projection.{0,1,2}.0`: 80 → 32 → 16 → 8 (2×2 transposed + ReLU), chained; weights
    /// [Cin, Cout, 2, 2] and biases as stored.
    let corrGuidance: [(weight: Tensor, bias: Tensor)]
    let stages: [SEDUpStage]

    /// One class's correlation guidance from its cost map (NCHW [1, P, h, w]): the three levels, NCHW.
    func correlationGuidance(_ corr: Tensor, pool: BufferPool) -> [Tensor] {
        var g = corr
        return corrGuidance.map { layer in
            g = Ops.convTranspose2d(g, weight: layer.weight, bias: layer.bias, stride: 2, pool: pool)
            Ops.activateInPlace(g, .relu)
            return g
        }
    }
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
            let g = w.scope("decoder_corr_guidance_projection.\($0).0")
            return (g.tensor("weight", [corrIn[$0], c.corrGuidanceDims[$0], 2, 2]), g.tensor("bias", [c.corrGuidanceDims[$0]]))
        }
        stages = (0..<3).map { SEDUpStage(w.scope("decoder\($0 + 1)"), config: c, stage: $0) }
        auxHeads = (0..<3).map { SEDMaskHead(w.scope("head\($0)"), in: c.stageInputDims[$0]) }
        head = SEDMaskHead(w.scope("head"), in: c.decoderDims[2])
    }
}
