import Foundation

/// Normalisation layers: LayerNorm over the last dimension, channels-first LayerNorm2d, GroupNorm, and folding a
/// BatchNorm into the preceding convolution at load time. Statistics use the biased variance, as PyTorch.
extension Ops {
    /// `nn.LayerNorm` over the last dimension: (x − mean)/√(var + eps)·weight + bias.
    /// `out` (optional, contiguous, same shape) lets the caller write straight into a GEMM input buffer; it may be
    /// `x` itself for an in-place norm.
    @discardableResult
    public static func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, out: Tensor? = nil) -> Tensor {
        let c = x.shape.last ?? 1
        opCheck(weight == nil || weight!.count == c, "layerNorm: weight has \(weight!.count) values for \(c)")
        opCheck(bias == nil || bias!.count == c, "layerNorm: bias has \(bias!.count) values for \(c)")
        let src = x.contiguous()
        let y: Tensor
        if let out {
            opCheck(out.isContiguous && out.shape == x.shape, "layerNorm: out \(out.shape) vs \(x.shape)")
            y = out
        } else {
            y = Tensor(uninitializedShape: x.shape)
        }
        let w = weight?.contiguous(), b = bias?.contiguous()
        let rows = c == 0 ? 0 : x.count / c
        let sp = src.data, dp = y.data, wp = w?.data, bp = b?.data
        Parallel.forRanges(rows, grain: max(1, 8192 / max(c, 1))) { r in
            for row in r { normalizeRow(sp + row * c, dp + row * c, c, eps: eps, weight: wp, bias: bp) }
        }
        withExtendedLifetime((src, w, b)) {}
        return y
    }

    /// Normalises one contiguous row (two passes: mean, then centred sum of squares, for accuracy).
    @inline(__always)
    static func normalizeRow(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ c: Int, eps: Float,
                             weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?) {
        let (mean, variance) = rowMoments(s, c)
        let inv = 1 / (variance + eps).squareRoot()
        let mv = SIMD8<Float>(repeating: mean), iv = SIMD8<Float>(repeating: inv)
        var j = 0
        switch (weight, bias) {
        case let (w?, b?):
            while j + 8 <= c {
                let n = (SIMDMath.load(s + j) - mv) * iv
                SIMDMath.store(SIMDMath.load(b + j).addingProduct(n, SIMDMath.load(w + j)), d + j)
                j += 8
            }
            while j < c { d[j] = (s[j] - mean) * inv * w[j] + b[j]; j += 1 }
        default:
            while j + 8 <= c {
                SIMDMath.store((SIMDMath.load(s + j) - mv) * iv, d + j)
                j += 8
            }
            while j < c { d[j] = (s[j] - mean) * inv; j += 1 }
            if let w = weight { for t in 0..<c { d[t] *= w[t] } }
            if let b = bias { for t in 0..<c { d[t] += b[t] } }
        }
    }

    /// Mean and biased variance of a contiguous row, two-pass with 2×8 accumulator lanes.
    @inline(__always)
    static func rowMoments(_ s: UnsafePointer<Float>, _ c: Int) -> (Float, Float) {
        var a0 = SIMD8<Float>(repeating: 0), a1 = SIMD8<Float>(repeating: 0)
        var j = 0
        while j + 16 <= c { a0 += SIMDMath.load(s + j); a1 += SIMDMath.load(s + j + 8); j += 16 }
        while j + 8 <= c { a0 += SIMDMath.load(s + j); j += 8 }
        var sum = (a0 + a1).sum()
        while j < c { sum += s[j]; j += 1 }
        let mean = sum / Float(c)
        let mv = SIMD8<Float>(repeating: mean)
        a0 = .init(repeating: 0); a1 = .init(repeating: 0)
        j = 0
        while j + 16 <= c {
            let d0 = SIMDMath.load(s + j) - mv, d1 = SIMDMath.load(s + j + 8) - mv
            a0 = a0.addingProduct(d0, d0); a1 = a1.addingProduct(d1, d1)
            j += 16
        }
        while j + 8 <= c { let d0 = SIMDMath.load(s + j) - mv; a0 = a0.addingProduct(d0, d0); j += 8 }
        var sq = (a0 + a1).sum()
        while j < c { let t = s[j] - mean; sq += t * t; j += 1 }
        return (mean, sq / Float(c))
    }

    /// timm's `LayerNorm2d`: on [N, C, H, W] (or [C, H, W]) normalise each pixel over C, without permuting.
    /// Pixels are processed in tiles along the contiguous H·W axis, so every inner loop is unit-stride.
    public static func layerNorm2d(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, out: Tensor? = nil) -> Tensor {
        opCheck(x.rank == 3 || x.rank == 4, "layerNorm2d: expected [N, C, H, W], got \(x.shape)")
        let n = x.rank == 4 ? x.shape[0] : 1
        let c = x.shape[x.rank - 3], hw = x.shape[x.rank - 2] * x.shape[x.rank - 1]
        opCheck(weight == nil || weight!.count == c, "layerNorm2d: weight size")
        opCheck(bias == nil || bias!.count == c, "layerNorm2d: bias size")
        let src = x.contiguous()
        let y: Tensor
        if let out {
            opCheck(out.isContiguous && out.shape == x.shape, "layerNorm2d: out \(out.shape) vs \(x.shape)")
            y = out
        } else {
            y = Tensor(uninitializedShape: x.shape)
        }
        let w = weight?.contiguous(), b = bias?.contiguous()
        let tile = 256
        let tilesPerImage = (hw + tile - 1) / tile
        let sp = src.data, dp = y.data, wp = w?.data, bp = b?.data
        Parallel.forRanges(n * tilesPerImage) { r in
            let mean = UnsafeMutablePointer<Float>.allocate(capacity: tile)
            let inv = UnsafeMutablePointer<Float>.allocate(capacity: tile)
            defer { mean.deallocate(); inv.deallocate() }
            for item in r {
                let img = item / tilesPerImage, p0 = (item % tilesPerImage) * tile
                let len = min(tile, hw - p0)
                let s = sp + img * c * hw + p0, d = dp + img * c * hw + p0
                mean.initialize(repeating: 0, count: len)
                inv.initialize(repeating: 0, count: len)
                for ch in 0..<c { addRow(s + ch * hw, into: mean, len) }
                let invC = 1 / Float(c)
                for j in 0..<len { mean[j] *= invC }
                for ch in 0..<c { addSquaredDeviation(s + ch * hw, mean: mean, into: inv, len) }
                for j in 0..<len { inv[j] = 1 / (inv[j] * invC + eps).squareRoot() }
                for ch in 0..<c {
                    let g = wp?[ch] ?? 1, o = bp?[ch] ?? 0
                    let row = s + ch * hw, dst = d + ch * hw
                    let gv = SIMD8<Float>(repeating: g), ov = SIMD8<Float>(repeating: o)
                    var j = 0
                    while j + 8 <= len {
                        let v = (SIMDMath.load(row + j) - SIMDMath.load(mean + j)) * SIMDMath.load(inv + j)
                        SIMDMath.store(ov.addingProduct(v, gv), dst + j)
                        j += 8
                    }
                    while j < len { dst[j] = (row[j] - mean[j]) * inv[j] * g + o; j += 1 }
                }
            }
        }
        withExtendedLifetime((src, w, b)) {}
        return y
    }

    @inline(__always)
    static func addRow(_ s: UnsafePointer<Float>, into acc: UnsafeMutablePointer<Float>, _ len: Int) {
        var j = 0
        while j + 8 <= len { SIMDMath.store(SIMDMath.load(acc + j) + SIMDMath.load(s + j), acc + j); j += 8 }
        while j < len { acc[j] += s[j]; j += 1 }
    }

    @inline(__always)
    static func addSquaredDeviation(_ s: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                                    into acc: UnsafeMutablePointer<Float>, _ len: Int) {
        var j = 0
        while j + 8 <= len {
            let dv = SIMDMath.load(s + j) - SIMDMath.load(mean + j)
            SIMDMath.store(SIMDMath.load(acc + j).addingProduct(dv, dv), acc + j)
            j += 8
        }
        while j < len { let t = s[j] - mean[j]; acc[j] += t * t; j += 1 }
    }

    /// `nn.GroupNorm(groups, C)` on [N, C, spatial…]: statistics per (sample, group) over C/groups channels and all
    /// positions, then a per-channel affine; optionally followed by an activation in the same pass (GN → ReLU).
    /// `out` (contiguous, x's shape) receives the result if given; it may be x itself.
    @discardableResult
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float,
                                 activation: Activation = .identity, out: Tensor? = nil) -> Tensor {
        opCheck(x.rank >= 2, "groupNorm: expected [N, C, …], got \(x.shape)")
        let n = x.shape[0], c = x.shape[1]
        opCheck(groups > 0 && c % groups == 0, "groupNorm: \(c) channels not divisible into \(groups) groups")
        let inner = x.shape[2...].reduce(1, *)
        let cg = c / groups
        let src = x.contiguous()
        opCheck(out == nil || (out!.shape == x.shape && out!.isContiguous),
                     "groupNorm: out must be contiguous \(x.shape), got \(out!.shape)")
        let y = out ?? Tensor(uninitializedShape: x.shape)
        let w = weight?.contiguous(), b = bias?.contiguous()
        let sp = src.data, dp = y.data, wp = w?.data, bp = b?.data
        // Mean and variance per (sample, group): sums per channel row in float lanes, accumulated across rows in
        // Double so that groups of ~10⁵ elements keep full float accuracy.
        let stats = UnsafeMutablePointer<Float>.allocate(capacity: 2 * max(n * groups, 1))
        defer { stats.deallocate() }
        Parallel.forRanges(n * groups) { r in
            for item in r {
                let base = sp + item * cg * inner
                var sum = 0.0
                for ch in 0..<cg { sum += Double(rowSum(base + ch * inner, inner)) }
                let count = Double(cg * inner)
                let mean = Float(sum / count)
                var sq = 0.0
                for ch in 0..<cg { sq += Double(rowSquaredDeviation(base + ch * inner, mean: mean, inner)) }
                stats[2 * item] = mean
                stats[2 * item + 1] = 1 / (Float(sq / count) + eps).squareRoot()
            }
        }
        Parallel.forRanges(n * c, grain: max(1, 16384 / max(inner, 1))) { r in
            for plane in r {
                let ch = plane % c, item = (plane / c) * groups + ch / cg
                let mean = stats[2 * item], inv = stats[2 * item + 1]
                let scale = inv * (wp?[ch] ?? 1), shift = (bp?[ch] ?? 0) - mean * scale
                let sv = SIMD8<Float>(repeating: scale), hv = SIMD8<Float>(repeating: shift)
                let s = sp + plane * inner, d = dp + plane * inner
                var j = 0
                while j + 8 <= inner { SIMDMath.store(hv.addingProduct(SIMDMath.load(s + j), sv), d + j); j += 8 }
                while j < inner { d[j] = s[j] * scale + shift; j += 1 }
                if activation != .identity { activation.apply(d, d, count: inner) }
            }
        }
        withExtendedLifetime((src, w, b)) {}
        return y
    }

    @inline(__always)
    static func rowSum(_ s: UnsafePointer<Float>, _ len: Int) -> Float {
        var a0 = SIMD8<Float>(repeating: 0), a1 = SIMD8<Float>(repeating: 0)
        var j = 0
        while j + 16 <= len { a0 += SIMDMath.load(s + j); a1 += SIMDMath.load(s + j + 8); j += 16 }
        while j + 8 <= len { a0 += SIMDMath.load(s + j); j += 8 }
        var sum = (a0 + a1).sum()
        while j < len { sum += s[j]; j += 1 }
        return sum
    }

    @inline(__always)
    static func rowSquaredDeviation(_ s: UnsafePointer<Float>, mean: Float, _ len: Int) -> Float {
        let mv = SIMD8<Float>(repeating: mean)
        var a0 = SIMD8<Float>(repeating: 0), a1 = SIMD8<Float>(repeating: 0)
        var j = 0
        while j + 16 <= len {
            let d0 = SIMDMath.load(s + j) - mv, d1 = SIMDMath.load(s + j + 8) - mv
            a0 = a0.addingProduct(d0, d0); a1 = a1.addingProduct(d1, d1)
            j += 16
        }
        while j + 8 <= len { let d0 = SIMDMath.load(s + j) - mv; a0 = a0.addingProduct(d0, d0); j += 8 }
        var sq = (a0 + a1).sum()
        while j < len { let t = s[j] - mean; sq += t * t; j += 1 }
        return sq
    }

    /// Folds an eval-mode BatchNorm that follows a convolution into the convolution (load time):
    /// W' = W·γ/√(var + eps) per output channel, b' = (b − mean)·γ/√(var + eps) + β.
    /// `convWeight` is [Cout, …]; `convBias` may be nil (treated as 0).
    public static func foldBatchNorm(convWeight: Tensor, convBias: Tensor?, gamma: Tensor, beta: Tensor, mean: Tensor,
                                     variance: Tensor, eps: Float) -> (weight: Tensor, bias: Tensor) {
        let cout = convWeight.shape[0]
        opCheck(gamma.count == cout && beta.count == cout && mean.count == cout && variance.count == cout,
                     "foldBatchNorm: BatchNorm has \(gamma.count) channels, conv has \(cout)")
        let w = convWeight.copy()
        let per = w.count / max(cout, 1)
        let g = gamma.toArray(), be = beta.toArray(), mu = mean.toArray(), v = variance.toArray()
        let b0 = convBias?.toArray() ?? [Float](repeating: 0, count: cout)
        var newBias = [Float](repeating: 0, count: cout)
        for o in 0..<cout {
            // Computed in Double then rounded once, so the folded weights are as close as float allows.
            let s = Double(g[o]) / (Double(v[o]) + Double(eps)).squareRoot()
            for i in 0..<per { w.data[o * per + i] = Float(Double(w.data[o * per + i]) * s) }
            newBias[o] = Float((Double(b0[o]) - Double(mu[o])) * s + Double(be[o]))
        }
        return (w, Tensor(shape: [cout], data: newBias))
    }
}
