import Foundation

extension Ops {
    /// Mask-average pooling as in EOV-Seg / FC-CLIP `MaskPooling`: for features [C, H, W] and masks [N, h, w],
    /// out[n, c] = Σ_p m̂[n, p] · F[c, p] / (Σ_p m̂[n, p] + eps) with m̂ = (mask > 0) when `binarize` (the models'
    /// setting), else the mask values themselves. Masks of another size are first resized to H×W with bilinear
    /// interpolation (align_corners false), as the original does before thresholding. `normalize: false` gives the
    /// plain masked sum (EOV-Seg's `einsum('nhw,chw->nc')` on binary masks). Returns [N, C].
    /// An empty mask gives a zero row.
    public static func maskPool(features: Tensor, masks: Tensor, binarize: Bool = true, normalize: Bool = true,
                         eps: Float = 1e-8) -> Tensor {
        opCheck(features.rank == 3 && masks.rank == 3, "maskPool: features [C, H, W], masks [N, H, W]")
        let c = features.shape[0], h = features.shape[1], w = features.shape[2]
        var m = masks
        if masks.shape[1] != h || masks.shape[2] != w {
            m = interpolateBilinear(masks, size: (h, w), alignCorners: false)
        }
        let n = m.shape[0], hw = h * w
        let f = features.contiguous()
        // Normalised weights [N, HW], then one GEMM: out = W · Fᵀ.
        let weights = Tensor(uninitializedShape: [n, hw])
        let src = m.contiguous()
        let sp = src.data, wp = weights.data
        parallelPlanes(n) { i in
            let s = sp + i * hw, o = wp + i * hw
            var total: Float = 0
            for p in 0..<hw {
                let v: Float = binarize ? (s[p] > 0 ? 1 : 0) : s[p]
                o[p] = v
                total += v
            }
            if normalize {
                // Divide the weights, as the original does (mask / denorm before the einsum).
                let denom = total + eps
                for p in 0..<hw { o[p] = o[p] / denom }
            }
        }
        let out = Tensor(uninitializedShape: [n, c])
        if n > 0 && c > 0 {
            if hw == 0 {
                out.data.initialize(repeating: 0, count: n * c)
            } else {
                BLAS.sgemm(transB: true, m: n, n: c, k: hw, a: wp, lda: hw, b: f.data, ldb: hw, c: out.data, ldc: c)
            }
        }
        withExtendedLifetime((f, src, weights)) {}
        return out
    }
}
