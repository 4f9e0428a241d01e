import Foundation
import VocaSegTensor

/// One decoder stage, `light_weight_decoder.mask_heads.s` (YOSO's `CrossAttenHead`, spec §2.6): queries pool the
/// pixels under their hard masks, mix with their old kernels through dynamic 3-tap channel convs, attend to each
/// other, go through an FFN, and give new mask logits M' = mk·F. The class branch (pooling of F and Vu, TDEE,
/// class_embed, logits) runs only when asked, since only the last stage's classes are used at inference.
struct LightweightDecoderHead {
    let hidden: Int
    let heads: Int
    let taps: Int
    let fAttenLinear: LinearLayer, fAttenNorm: LayerNormLayer, fAttenResidualNorm: LayerNormLayer
    let kAttenLinear: LinearLayer, kAttenNorm: LayerNormLayer, kAttenResidualNorm: LayerNormLayer
    let inProj: LinearLayer, outProj: LinearLayer, sAttenNorm: LayerNormLayer
    let ffn1: LinearLayer, ffn2: LinearLayer, ffnNorm: LayerNormLayer
    let maskFC: LinearLayer, maskFCNorm: LayerNormLayer, fcMask: LinearLayer
    let poolNorm: LayerNormLayer, poolProj: LinearLayer
    let spatialPoolNorm: LayerNormLayer, spatialPoolProj: LinearLayer
    let tdee: LightweightDecoderTDEE
    let classEmbed: [LinearLayer]
    /// `logit_scale` (raw; exp and clamp at 100 in the logits).
    let logitScale: Float

    init(_ w: WeightScope, hidden c: Int, heads: Int, taps: Int, ffnDim: Int, vitWidth: Int, embedDim: Int) {
        hidden = c
        self.heads = heads
        self.taps = taps
        func ln(_ name: String, _ dim: Int = c) -> LayerNormLayer { LayerNormLayer(w.scope(name), dim: dim, eps: 1e-5) }
        fAttenLinear = LinearLayer(w.scope("f_atten.weight_linear"), in: c, out: taps)
        fAttenNorm = ln("f_atten.norm")
        fAttenResidualNorm = ln("f_atten_norm")
        kAttenLinear = LinearLayer(w.scope("k_atten.weight_linear"), in: c, out: taps)
        kAttenNorm = ln("k_atten.norm")
        kAttenResidualNorm = ln("k_atten_norm")
        let s = w.scope("s_atten")
        inProj = LinearLayer(weight: s.tensor("in_proj_weight", [3 * c, c]), bias: s.tensor("in_proj_bias", [3 * c]))
        outProj = LinearLayer(s.scope("out_proj"), in: c, out: c)
        sAttenNorm = ln("s_atten_norm")
        ffn1 = LinearLayer(w.scope("ffn.layers.0.0"), in: c, out: ffnDim)
        ffn2 = LinearLayer(w.scope("ffn.layers.1"), in: ffnDim, out: c)
        ffnNorm = ln("ffn_norm")
        maskFC = LinearLayer(w.scope("mask_fcs.0"), in: c, out: c, bias: false)
        maskFCNorm = ln("mask_fcs.1")
        fcMask = LinearLayer(w.scope("fc_mask"), in: c, out: c)
        poolNorm = ln("_mask_pooling_proj.0")
        poolProj = LinearLayer(w.scope("_mask_pooling_proj.1"), in: c, out: c)
        spatialPoolNorm = ln("_spatial_mask_pooling_proj.0", vitWidth)
        spatialPoolProj = LinearLayer(w.scope("_spatial_mask_pooling_proj.1"), in: vitWidth, out: c)
        tdee = LightweightDecoderTDEE(w.scope("tdee"), channels: c)
        classEmbed = [LinearLayer(w.scope("class_embed.layers.0"), in: c, out: c),
                      LinearLayer(w.scope("class_embed.layers.1"), in: c, out: c),
                      LinearLayer(w.scope("class_embed.layers.2"), in: c, out: embedDim)]
        logitScale = w.tensor("logit_scale", []).toArray()[0]  // toArray: a pointer read would outlive the temporary
    }

    /// features F [C, HW], kernels K [Q, C], masks M [Q, H, W] → (K' [Q, C], M' [Q, H, W]).
    func update(features f: Tensor, kernels k: Tensor, masks m: Tensor) -> (kernels: Tensor, masks: Tensor) {
        let q = k.shape[0], c = hidden, h = m.shape[1], w = m.shape[2]
        opCheck(f.shape == [c, h * w] && k.shape == [q, c] && m.shape[0] == q,
                     "decoder stage: features \(f.shape), kernels \(k.shape), masks \(m.shape)")
        // Hm = (sigmoid(M) > 0.5) as the original writes it, then a mask SUM of F: [Q, C].
        let hard = Self.hardMasks(m)
        var pooled = Ops.maskPool(features: f.reshaped([c, h, w]), masks: hard, binarize: false, normalize: false)
        pooled = fAttenResidualNorm(Ops.add(pooled, fAttenNorm(Self.dynamicChannelConv(fAttenLinear(k), pooled))))
        // k_atten's kernels come from the OLD K too; the new K is built from the pooled features.
        let k1 = kAttenResidualNorm(Ops.add(pooled, kAttenNorm(Self.dynamicChannelConv(kAttenLinear(k), pooled))))
        let qkv = inProj(k1).reshaped([1, q, 3 * c])
        let attn = Ops.attention(query: qkv.narrowed(dim: 2, start: 0, length: c),
                                 key: qkv.narrowed(dim: 2, start: c, length: c),
                                 value: qkv.narrowed(dim: 2, start: 2 * c, length: c), heads: heads)
        let k2 = sAttenNorm(Ops.add(k1, outProj(attn.reshaped([q, c]))))
        let o = ffnNorm(Ops.add(k2, ffn2(ffn1(k2, activation: .relu))))
        let mk = fcMask(Ops.relu(maskFCNorm(maskFC(o))))
        let newMasks = Ops.matmul(mk, f).reshaped([q, h, w])
        return (o, newMasks)
    }

    /// The class branch on this stage's outputs: kernels O [Q, C], masks M' [Q, H, W], features F [C, HW],
    /// upscaled ViT features Vu [vitWidth, HW] → logits [Q, K+1] (void last).
    func classify(kernels o: Tensor, masks m: Tensor, features f: Tensor, spatial vu: Tensor, textClassifier: Tensor,
                  synonymCounts: [Int]) -> Tensor {
        let h = m.shape[1], w = m.shape[2]
        // Binary (M' > 0) mask means, eps 1e-8; an empty mask pools to zeros and the LayerNorm gives its bias.
        let fs = Ops.maskPool(features: f.reshaped([hidden, h, w]), masks: m)
        let fv = Ops.maskPool(features: vu.reshaped([vu.shape[0], h, w]), masks: m)
        let es = poolProj(poolNorm(fs))
        let ev = spatialPoolProj(spatialPoolNorm(fv))
        let et = tdee(update: es, input: ev)
        var z = Ops.add(et, o)
        z = classEmbed[0](z, activation: .relu)
        z = classEmbed[1](z, activation: .relu)
        z = classEmbed[2](z)
        return EOVSegClassification.classificationLogits(embeddings: z, textClassifier: textClassifier,
                                                         logitScale: logitScale, synonymCounts: synonymCounts)
    }

    /// 1 where sigmoid(M) > 0.5, else 0 (differs from M > 0 only for |M| below float resolution around 0.5).
    static func hardMasks(_ m: Tensor) -> Tensor {
        let src = m.contiguous()
        let out = Tensor(uninitializedShape: m.shape)
        let n = m.count
        ChannelsLast.parallelRanges(n, grain: 4096) { r in
            for i in r { out.data[i] = 1 / (1 + expf(-src.data[i])) > 0.5 ? 1 : 0 }
        }
        withExtendedLifetime(src) {}
        return out
    }

    /// `DyDepthwiseConvAtten`'s conv: per query n, a 1-D cross-correlation of x[n, :] along channels with its own
    /// kernel kernels[n, :] (taps t, zero padding t/2): out[n, c] = Σ_j kernels[n, j]·x[n, c + j − t/2].
    static func dynamicChannelConv(_ kernels: Tensor, _ x: Tensor) -> Tensor {
        let q = x.shape[0], c = x.shape[1], t = kernels.shape[1]
        opCheck(kernels.shape[0] == q && t % 2 == 1, "dynamic channel conv: kernels \(kernels.shape), x \(x.shape)")
        let kk = kernels.contiguous(), xx = x.contiguous()
        let out = Tensor(uninitializedShape: [q, c])
        let pad = t / 2
        for n in 0..<q {
            let kr = kk.data + n * t, xr = xx.data + n * c, o = out.data + n * c
            for ch in 0..<c {
                var s: Float = 0
                for j in 0..<t {
                    let src = ch + j - pad
                    if src >= 0 && src < c { s += kr[j] * xr[src] }
                }
                o[ch] = s
            }
        }
        withExtendedLifetime((kk, xx)) {}
        return out
    }
}
