import Foundation
import VocaSegTensor

// SED's class attention works on channels-last per-class maps ([H·W, C], C contiguous), so that its Linear layers
// work on rows without transposes; the ConvNeXt blocks before it keep the same layout.

/// SED's `ClassTransformerLayer` at evaluation (pooling 1×1, no text guidance): for every pixel, the sequence of
/// its classes goes through pre-norm linear attention (`AttentionLayer` q/k/v, elu+1 feature maps) and an MLP,
/// then the result is added to the input once more: out = x + (x + attn + mlp), the official double residual.
struct ClassLinearAttention {
    let norm1: LayerNormLayer, norm2: LayerNormLayer
    /// `attention.{q,k,v}` as one layer: weight [3C, C] (q, k, v rows), packed for the small-width kernel.
    let qkv: LinearLayer
    let fc1: LinearLayer, fc2: LinearLayer
    let heads: Int
    let dim: Int
    /// `LinearAttention`'s eps.
    static let eps: Float = 1e-6
    /// Rows (classes × pixels) per work item.
    static let blockRows = 8192

    /// `w` is the `decoderN.attention` scope.
    init(_ w: WeightScope, dim: Int, heads: Int, lnEps: Float) {
        norm1 = LayerNormLayer(w.scope("norm1"), dim: dim, eps: lnEps)
        norm2 = LayerNormLayer(w.scope("norm2"), dim: dim, eps: lnEps)
        let a = w.scope("attention")
        let parts = ["q", "k", "v"].map { LinearLayer(a.scope($0), in: dim, out: dim) }
        qkv = LinearLayer(weight: Ops.concat(parts.map(\.weight), dim: 0).contiguous(),
                          bias: Ops.concat(parts.map { $0.bias! }, dim: 0).contiguous()).packed()
        fc1 = LinearLayer(w.scope("MLP.0"), in: dim, out: 4 * dim).packed()
        fc2 = LinearLayer(w.scope("MLP.2"), in: 4 * dim, out: dim).packed()
        self.heads = heads
        self.dim = dim
    }

    /// x [N, P, C] (N classes, P pixels, contiguous), updated in place. Pixels are independent, so they run in
    /// blocks on the workers; a block gathers its pixels of every class ([N·B, C], class-major).
    func forward(_ x: Tensor, classes n: Int, pixels: Int, pools: [BufferPool]) {
        let c = dim
        opCheck(x.isContiguous && x.count == n * pixels * c, "ClassLinearAttention: input \(x.shape) for \(n)×\(pixels)×\(c)")
        guard n > 0, pixels > 0 else { return }
        let block = max(1, min(pixels, Self.blockRows / n))
        let blocks = (pixels + block - 1) / block
        ParallelConfig.forEachItem(blocks) { worker, bi in
            var clock = SectionProfile.start()
            let pool = pools[worker]
            let p0 = bi * block, bp = min(block, pixels - p0), rows = n * bp
            let xb = pool.tensor("cattn.x", shape: [rows, c])
            for t in 0..<n {
                (xb.data + t * bp * c).update(from: x.data + (t * pixels + p0) * c, count: bp * c)
            }
            let xn = norm1(xb, out: pool.tensor("cattn.norm", shape: [rows, c]))
            let projected = qkv(xn, out: pool.tensor("cattn.qkv", shape: [rows, 3 * c]))
            Self.featureMaps(projected, rows: rows, dim: c, length: n)
            SectionProfile.lap("sed.attention\(c).norm+qkv", &clock)
            let attended = pool.tensor("cattn.out", shape: [rows, c])
            Self.linearAttention(qkv: projected, out: attended, classes: n, pixels: bp, dim: c, heads: heads)
            SectionProfile.lap("sed.attention\(c).linear", &clock)
            // x_pool = x + attention + MLP(LN(x + attention)); the layer returns x + x_pool.
            Ops.addInPlace(attended, xb)
            let hidden = fc1(norm2(attended, out: xn), activation: .relu, out: pool.tensor("cattn.hidden", shape: [rows, 4 * c]))
            fc2(hidden, out: attended, accumulate: true)
            for t in 0..<n {
                let dst = x.data + (t * pixels + p0) * c
                let a = attended.data + t * bp * c
                for j in 0..<(bp * c) { dst[j] += a[j] }
            }
            SectionProfile.lap("sed.attention\(c).mlp", &clock)
        }
    }

    /// On rows [q | k | v] of width 3C: q and k through elu(x) + 1 (x + 1 above zero, exp(x) at or below), and v
    /// divided by the sequence length, as `LinearAttention` does before its sums.
    static func featureMaps(_ t: Tensor, rows: Int, dim c: Int, length n: Int) {
        let length = Float(n)
        for r in 0..<rows {
            let p = t.data + r * 3 * c
            for i in 0..<(2 * c) { p[i] = p[i] > 0 ? p[i] + 1 : expf(p[i]) }
            for i in (2 * c)..<(3 * c) { p[i] /= length }
        }
    }

    /// `LinearAttention` per pixel and head over the N classes (rows t·P + j of [q | k | v/N]):
    /// KV = Σ_s K_s V_sᵀ, Z_l = 1 / (Q_l · Σ_s K_s + eps), out_l = (Q_l KV) Z_l N.
    static func linearAttention(qkv: Tensor, out: Tensor, classes n: Int, pixels: Int, dim c: Int, heads: Int) {
        let d = c / heads, stride = 3 * c
        let length = Float(n)
        let kv = UnsafeMutablePointer<Float>.allocate(capacity: d * d)
        let ksum = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer {
            kv.deallocate()
            ksum.deallocate()
        }
        for j in 0..<pixels {
            for h in 0..<heads {
                let off = h * d
                kv.initialize(repeating: 0, count: d * d)
                ksum.initialize(repeating: 0, count: d)
                for s in 0..<n {
                    let row = qkv.data + (s * pixels + j) * stride
                    let kr = row + c + off, vr = row + 2 * c + off
                    for a in 0..<d {
                        let ka = kr[a]
                        ksum[a] += ka
                        let kva = kv + a * d
                        for b in 0..<d { kva[b] += ka * vr[b] }
                    }
                }
                for l in 0..<n {
                    let qr = qkv.data + (l * pixels + j) * stride + off
                    let o = out.data + (l * pixels + j) * c + off
                    var denominator: Float = 0
                    for a in 0..<d { denominator += qr[a] * ksum[a] }
                    let scale = length / (denominator + eps)
                    o.initialize(repeating: 0, count: d)
                    for a in 0..<d {
                        let qa = qr[a], kva = kv + a * d
                        for b in 0..<d { o[b] += qa * kva[b] }
                    }
                    for b in 0..<d { o[b] *= scale }
                }
            }
        }
    }
}
