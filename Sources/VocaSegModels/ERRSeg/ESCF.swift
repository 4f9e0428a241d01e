import Foundation
import VocaSegTensor

/// A Linear on concat([x, g]) split into its two input halves: W·[x; g] + b = Wx·x + (Wg·g + b). The guidance g is
/// the same for every class (SFM) or every location (CFM), so its half is computed once and broadcast.
struct SplitLinear {
    let x: LinearLayer   // no bias
    let g: LinearLayer   // carries the bias

    init(_ w: WeightScope, dim c: Int) {
        let weight = w.tensor("weight", [c, 2 * c])
        x = LinearLayer(weight: weight.narrowed(dim: 1, start: 0, length: c).contiguous(), bias: nil).packed()
        g = LinearLayer(weight: weight.narrowed(dim: 1, start: c, length: c).contiguous(), bias: w.tensor("bias", [c])).packed()
    }
}

/// The star MLP of the MiT blocks: fc3(ReLU6(fc1(y)) ⊙ fc2(y)). fc1 and fc2 read the same input, so they are
/// stacked into one GEMM of twice the width ([fc1; fc2], better blocking than two narrow GEMMs), gated in place,
/// and fc3 reads the gated half through a strided view.
struct StarMLP {
    let fc12: LinearLayer, fc3: LinearLayer
    let hidden: Int

    init(_ w: WeightScope, dim c: Int, hidden: Int) {
        let fc1 = LinearLayer(w.scope("fc1"), in: c, out: hidden)
        let fc2 = LinearLayer(w.scope("fc2"), in: c, out: hidden)
        fc12 = LinearLayer(weight: Ops.concat([fc1.weight, fc2.weight], dim: 0),
                           bias: Ops.concat([fc1.bias!, fc2.bias!], dim: 0)).packed()
        fc3 = LinearLayer(w.scope("fc3"), in: hidden, out: c).packed()
        self.hidden = hidden
    }

    func callAsFunction(_ y: Tensor, activation: Activation = .identity, pool: BufferPool, slot: String,
                        out: Tensor? = nil) -> Tensor {
        let c = y.shape[y.rank - 1], rows = y.count / c
        let h = pool.tensor(slot + ".h", shape: [rows, 2 * hidden])
        fc12(y.reshaped([rows, c]), out: h)
        Ops.relu6GateInPlace(h)
        return fc3(h.narrowed(dim: 1, start: 0, length: hidden), activation: activation,
                   out: out?.reshaped([rows, fc3.outFeatures])).reshaped(y.shape)
    }
}

/// SFM (`spatial_fusion.sa`): per class, attention over the h·w pixels with image guidance in q/k, keys and values
/// reduced by a k=s=R conv + LayerNorm; then the star MLP followed by a 7×7 depthwise conv. Pre-norm residuals.
struct SpatialFusion {
    let norm1: LayerNormLayer, norm2: LayerNormLayer
    let q: SplitLinear
    let srKx: LinearLayer, srKg: LinearLayer   // packed [2C, R·R·C] halves of sr_k; srKg has the bias
    let normK: LayerNormLayer
    let k: LinearLayer
    let srV: LinearLayer                       // packed [C, R·R·C] + bias
    let normV: LayerNormLayer
    let v: LinearLayer
    let proj: LinearLayer
    let mlp: StarMLP
    let dwWeight: Tensor, dwBias: Tensor
    let dim: Int, heads: Int, sr: Int

    /// `w` is `aggregator_layers.i.spatial_fusion.sa`.
    init(_ w: WeightScope, config cfg: ERRSegConfig, srRatio: Int) {
        let c = cfg.aggregatorDim, eps = cfg.decoderLNEps
        dim = c
        heads = cfg.aggregatorHeads
        sr = srRatio
        precondition(srRatio > 1, "SFM without spatial reduction is not used by ERR-Seg")
        norm1 = LayerNormLayer(w.scope("norm1"), dim: c, eps: eps)
        norm2 = LayerNormLayer(w.scope("norm2"), dim: c, eps: eps)
        let a = w.scope("attention")
        q = SplitLinear(a.scope("q"), dim: c)
        let srk = a.scope("sr_k")
        let srkW = srk.tensor("weight", [2 * c, 2 * c, srRatio, srRatio])
        srKx = LinearLayer(weight: ChannelsLast.packConvWeight(srkW.narrowed(dim: 1, start: 0, length: c).contiguous()),
                           bias: nil).packed()
        srKg = LinearLayer(weight: ChannelsLast.packConvWeight(srkW.narrowed(dim: 1, start: c, length: c).contiguous()),
                           bias: srk.tensor("bias", [2 * c])).packed()
        normK = LayerNormLayer(a.scope("norm_k"), dim: 2 * c, eps: eps)
        k = LinearLayer(a.scope("k"), in: 2 * c, out: c).packed()
        let srv = a.scope("sr_v")
        srV = LinearLayer(weight: ChannelsLast.packConvWeight(srv.tensor("weight", [c, c, srRatio, srRatio])),
                          bias: srv.tensor("bias", [c])).packed()
        normV = LayerNormLayer(a.scope("norm_v"), dim: c, eps: eps)
        v = LinearLayer(a.scope("v"), in: c, out: c).packed()
        proj = LinearLayer(a.scope("proj"), in: c, out: c).packed()
        mlp = StarMLP(w.scope("mlp"), dim: c, hidden: cfg.aggregatorMLPRatio * c)
        let dw = w.scope("mlp.dwconv.dwconv")
        dwWeight = ChannelsLast.packDepthwiseWeight(dw.tensor("weight", [c, 1, 7, 7]))
        dwBias = dw.tensor("bias", [c])
    }

    /// x [K, h·w, C] (contiguous, updated in place); gimg [h·w, C]. The guidance halves of q and sr_k are computed
    /// once; then every class runs the whole block on its own (`ParallelConfig.forEachItem`), so its intermediates
    /// (a few MB) stay in cache and the mid-sized GEMMs run single-threaded without synchronisation. `pools` holds
    /// one scratch pool per worker.
    func forward(_ x: Tensor, gimg: Tensor, height h: Int, width w: Int, pools: [BufferPool]) {
        let kc = x.shape[0], n = h * w, c = dim
        var clock = SectionProfile.start()
        let shared = pools[0]
        let gq = q.g(gimg, out: shared.tensor("sfm.gq", shape: [n, c]))
        let (pg, rh, rw) = ChannelsLast.im2col(gimg, batch: 1, height: h, width: w, channels: c, kernel: sr, stride: sr,
                                               padding: 0, out: shared.tensor("sfm.gpatches", shape: [n / (sr * sr), sr * sr * c]))
        let m = rh * rw
        let gk = srKg(pg, out: shared.tensor("sfm.gk", shape: [m, 2 * c]))
        SectionProfile.lap("sfm.guidance", &clock)
        ParallelConfig.forEachItem(kc) { worker, i in
            let pool = pools[worker]
            var t = SectionProfile.start()
            let xi = x.narrowed(dim: 0, start: i, length: 1).reshaped([n, c])
            let xn = norm1(xi, out: pool.tensor("sfm.xn", shape: [n, c]))
            let query = pool.tensor("sfm.query", shape: [1, n, c])
            query.data.update(from: gq.data, count: n * c)
            q.x(xn, out: query.reshaped([n, c]), accumulate: true)
            SectionProfile.lap("sfm.class.norm1+q", &t)
            // Keys and values on the R×R-reduced grid.
            let (px, _, _) = ChannelsLast.im2col(xn, batch: 1, height: h, width: w, channels: c, kernel: sr, stride: sr,
                                                 padding: 0, out: pool.tensor("sfm.patches", shape: [m, sr * sr * c]))
            let zk = pool.tensor("sfm.zk", shape: [m, 2 * c])
            zk.data.update(from: gk.data, count: m * 2 * c)
            srKx(px, out: zk, accumulate: true)
            normK(zk, out: zk)
            let key = k(zk, out: pool.tensor("sfm.key", shape: [m, c]))
            let zv = srV(px, out: pool.tensor("sfm.zv", shape: [m, c]))
            normV(zv, out: zv)
            let value = v(zv, out: pool.tensor("sfm.value", shape: [m, c]))
            SectionProfile.lap("sfm.class.keys+values", &t)
            let attn = Ops.attention(query: query, key: key.reshaped([1, m, c]), value: value.reshaped([1, m, c]),
                                     heads: heads, out: pool.tensor("sfm.attn", shape: [1, n, c]))
            SectionProfile.lap("sfm.class.attention", &t)
            proj(attn.reshaped([n, c]), out: xi, accumulate: true)
            SectionProfile.lap("sfm.class.proj", &t)
            // MLP + depthwise conv.
            let y = norm2(xi, out: pool.tensor("sfm.y", shape: [n, c]))
            let o = mlp(y, pool: pool, slot: "sfm.mlp", out: pool.tensor("sfm.mlp.out", shape: [n, c]))
            SectionProfile.lap("sfm.class.norm2+mlp", &t)
            ChannelsLast.depthwiseConv(o, batch: 1, height: h, width: w, channels: c, weight: dwWeight, bias: dwBias,
                                       kernel: 7, out: xi, accumulate: true)
            SectionProfile.lap("sfm.class.dwconv", &t)
        }
        SectionProfile.lap("sfm.classes", &clock)
    }
}

/// CFM (`class_fusion`): 2×2 average pool, then at every pooled location a MiT block over the K class tokens
/// (text guidance in q/k, no reduction, MLP ending in ReLU6), upsampled back (align_corners=True) and added.
struct ClassFusion {
    let norm1: LayerNormLayer, norm2: LayerNormLayer
    let q: SplitLinear, k: SplitLinear
    let v: LinearLayer, proj: LinearLayer
    let mlp: StarMLP
    let dim: Int, heads: Int, pool: Int

    /// `w` is `aggregator_layers.i.class_fusion`.
    init(_ w: WeightScope, config cfg: ERRSegConfig) {
        let c = cfg.aggregatorDim, eps = cfg.decoderLNEps
        let sa = w.scope("sa")
        dim = c
        heads = cfg.aggregatorHeads
        pool = cfg.cfmPool
        norm1 = LayerNormLayer(sa.scope("norm1"), dim: c, eps: eps)
        norm2 = LayerNormLayer(sa.scope("norm2"), dim: c, eps: eps)
        let a = sa.scope("attention")
        q = SplitLinear(a.scope("q"), dim: c)
        k = SplitLinear(a.scope("k"), dim: c)
        v = LinearLayer(a.scope("v"), in: c, out: c).packed()
        proj = LinearLayer(a.scope("proj"), in: c, out: c).packed()
        mlp = StarMLP(sa.scope("mlp"), dim: c, hidden: cfg.aggregatorMLPRatio * c)
    }

    /// x [K, h·w, C] (updated in place); gtxt [K, C]. The text-guidance halves of q and k are computed once; the
    /// pooled locations are then processed in chunks of about 1600 tokens, one chunk per worker
    /// (`ParallelConfig.forEachItem`), so each chunk's intermediates stay in cache.
    func forward(_ x: Tensor, gtxt: Tensor, height h: Int, width w: Int, pools: [BufferPool]) {
        let kc = x.shape[0], c = dim
        let ph = h / pool, pw = w / pool, l = ph * pw
        var clock = SectionProfile.start()
        let pooled = ChannelsLast.avgPool(x, batch: kc, height: h, width: w, channels: c, pool: pool)
        let seq = pooled.reshaped([kc, l, c]).permuted([1, 0, 2]).contiguous()  // [L, K, C]
        let gq = q.g(gtxt), gk = k.g(gtxt)  // [K, C], biases included
        SectionProfile.lap("cfm.pool+transpose", &clock)
        let perChunk = max(1, 1600 / max(kc, 1))
        ParallelConfig.forEachItem((l + perChunk - 1) / perChunk) { worker, item in
            let buffers = pools[worker]
            let l0 = item * perChunk, n = min(perChunk, l - l0)
            let s = seq.narrowed(dim: 0, start: l0, length: n)  // [n, K, C], contiguous
            let xn = norm1(s, out: buffers.tensor("cfm.xn", shape: [n, kc, c]))
            let query = q.x(xn, out: buffers.tensor("cfm.query", shape: [n, kc, c]))
            Ops.addInPlace(query, gq)
            let key = k.x(xn, out: buffers.tensor("cfm.key", shape: [n, kc, c]))
            Ops.addInPlace(key, gk)
            let value = v(xn, out: buffers.tensor("cfm.value", shape: [n, kc, c]))
            let attn = Ops.attention(query: query, key: key, value: value, heads: heads,
                                     out: buffers.tensor("cfm.attn", shape: [n, kc, c]))
            proj(attn, out: s, accumulate: true)
            let y = norm2(s, out: buffers.tensor("cfm.y", shape: [n, kc, c]))
            let o = mlp(y, activation: .relu6, pool: buffers, slot: "cfm.mlp",
                        out: buffers.tensor("cfm.mlp.out", shape: [n, kc, c]))
            Ops.addInPlace(s, o)
        }
        SectionProfile.lap("cfm.locations", &clock)
        let back = seq.permuted([1, 0, 2]).contiguous()  // [K, L, C]
        ChannelsLast.resizeBilinear(back, batch: kc, height: ph, width: pw, channels: c, outHeight: h, outWidth: w,
                                    alignCorners: true, addInto: x)
        SectionProfile.lap("cfm.transpose+upsample", &clock)
    }
}

/// One ESCF block (`aggregator_layers.i`): SFM then CFM.
struct ESCFBlock {
    let spatial: SpatialFusion
    let classes: ClassFusion

    init(_ w: WeightScope, config: ERRSegConfig, srRatio: Int) {
        spatial = SpatialFusion(w.scope("spatial_fusion.sa"), config: config, srRatio: srRatio)
        classes = ClassFusion(w.scope("class_fusion"), config: config)
    }
}
