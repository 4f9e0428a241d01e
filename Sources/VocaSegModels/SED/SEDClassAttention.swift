import Foundation
import VocaSegTensor

// SED's class attention works on channels-last per-class maps ([H·W, C], C contiguous), so that its Linear layers
// work on rows without transposes; the ConvNeXt blocks before it keep the same layout.

/// SED's `ClassTransformerLayer` at evaluation (pooling 1×1, no text guidance): for every pixel, the sequence of
/// its classes goes through pre-norm linear attention (`AttentionLayer` q/k/v, elu+1 feature maps) and an MLP,
/// then the result is added to the input once more: out = x + (x + attn + mlp), the official double residual.
struct ClassLinearAttention {
    let norm1: LayerNormLayer, norm2: LayerNormLayer
    let q: LinearLayer, k: LinearLayer, v: LinearLayer
    let fc1: LinearLayer, fc2: LinearLayer
    let heads: Int
    let dim: Int
    /// `LinearAttention`'s eps.
    static let eps: Float = 1e-6

    /// `w` is the `decoderN.attention` scope.
    init(_ w: WeightScope, dim: Int, heads: Int, lnEps: Float) {
        norm1 = LayerNormLayer(w.scope("norm1"), dim: dim, eps: lnEps)
        norm2 = LayerNormLayer(w.scope("norm2"), dim: dim, eps: lnEps)
        let a = w.scope("attention")
        q = LinearLayer(a.scope("q"), in: dim, out: dim)
        k = LinearLayer(a.scope("k"), in: dim, out: dim)
        v = LinearLayer(a.scope("v"), in: dim, out: dim)
        fc1 = LinearLayer(w.scope("MLP.0"), in: dim, out: 4 * dim)
        fc2 = LinearLayer(w.scope("MLP.2"), in: 4 * dim, out: dim)
        self.heads = heads
        self.dim = dim
    }

    /// x [N, P, C] (N classes, P pixels, contiguous), updated in place. Pixels are independent, so they run in
    /// blocks on the workers; a block gathers its pixels of every class ([N·B, C], class-major).
    func forward(_ x: Tensor, classes n: Int, pixels: Int, pools: [BufferPool]) {
        let c = dim
        opCheck(x.isContiguous && x.count == n * pixels * c, "ClassLinearAttention: input \(x.shape) for \(n)×\(pixels)×\(c)")
        guard n > 0, pixels > 0 else { return }
        let block = max(1, min(pixels, 2048 / n))
        let blocks = (pixels + block - 1) / block
        ParallelConfig.forEachItem(blocks) { worker, bi in
            let pool = pools[worker]
            let p0 = bi * block, bp = min(block, pixels - p0), rows = n * bp
            let xb = pool.tensor("cattn.x", shape: [rows, c])
            for t in 0..<n {
                (xb.data + t * bp * c).update(from: x.data + (t * pixels + p0) * c, count: bp * c)
            }
            let xn = norm1(xb, out: pool.tensor("cattn.norm", shape: [rows, c]))
            let qb = q(xn, out: pool.tensor("cattn.q", shape: [rows, c]))
            let kb = k(xn, out: pool.tensor("cattn.k", shape: [rows, c]))
            let vb = v(xn, out: pool.tensor("cattn.v", shape: [rows, c]))
            Self.eluPlusOne(qb)
            Self.eluPlusOne(kb)
            // xp = xb + attention, written over q's rows once each pixel's sums are taken.
            let attended = pool.tensor("cattn.out", shape: [rows, c])
            Self.linearAttention(q: qb, k: kb, v: vb, out: attended, classes: n, pixels: bp, dim: c, heads: heads)
            Ops.addInPlace(attended, xb)
            let hidden = fc1(norm2(attended, out: xn), activation: .relu, out: pool.tensor("cattn.hidden", shape: [rows, 4 * c]))
            fc2(hidden, out: attended, accumulate: true)
            for t in 0..<n {
                let dst = x.data + (t * pixels + p0) * c
                let a = attended.data + t * bp * c
                for j in 0..<(bp * c) { dst[j] += a[j] }
            }
        }
    }

    /// elu(x) + 1: x + 1 above zero, exp(x) at or below.
    static func eluPlusOne(_ t: Tensor) {
        let p = t.data
        for i in 0..<t.count { p[i] = p[i] > 0 ? p[i] + 1 : expf(p[i]) }
    }

    /// `LinearAttention` per pixel and head over the N classes (rows t·P + j): V/N, KV = Σ_s K_s V_sᵀ,
    /// Z_l = 1 / (Q_l · Σ_s K_s + eps), out_l = (Q_l KV) Z_l N.
    static func linearAttention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, classes n: Int, pixels: Int, dim c: Int,
                                heads: Int) {
        let d = c / heads
        let length = Float(n)
        var kv = [Float](repeating: 0, count: d * d)
        var ksum = [Float](repeating: 0, count: d)
        for j in 0..<pixels {
            for h in 0..<heads {
                let off = h * d
                for i in 0..<(d * d) { kv[i] = 0 }
                for i in 0..<d { ksum[i] = 0 }
                for s in 0..<n {
                    let kr = k.data + (s * pixels + j) * c + off, vr = v.data + (s * pixels + j) * c + off
                    for a in 0..<d {
                        let ka = kr[a]
                        ksum[a] += ka
                        for b in 0..<d { kv[a * d + b] += ka * (vr[b] / length) }
                    }
                }
                for l in 0..<n {
                    let qr = q.data + (l * pixels + j) * c + off
                    let o = out.data + (l * pixels + j) * c + off
                    var denominator: Float = 0
                    for a in 0..<d { denominator += qr[a] * ksum[a] }
                    let z = 1 / (denominator + eps)
                    for b in 0..<d { o[b] = 0 }
                    for a in 0..<d {
                        let qa = qr[a]
                        for b in 0..<d { o[b] += qa * kv[a * d + b] }
                    }
                    for b in 0..<d { o[b] = o[b] * z * length }
                }
            }
        }
    }
}
