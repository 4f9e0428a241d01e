import Foundation

/// Elementwise arithmetic. Binary ops take tensors of the same shape, or a right-hand side whose shape equals a
/// trailing part of the left-hand shape (broadcast over the leading dimensions, e.g. [C] against [N, H, W, C]).
extension Ops {
    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor { binary(a, b, +) }
    public static func sub(_ a: Tensor, _ b: Tensor) -> Tensor { binary(a, b, -) }
    public static func mul(_ a: Tensor, _ b: Tensor) -> Tensor { binary(a, b, *) }

    /// a += b in place (a contiguous, owned by the caller).
    public static func addInPlace(_ a: Tensor, _ b: Tensor) { binaryInPlace(a, b, +) }
    /// a ⊙= b in place.
    public static func mulInPlace(_ a: Tensor, _ b: Tensor) { binaryInPlace(a, b, *) }

    /// s·x as a new tensor.
    public static func scale(_ x: Tensor, _ s: Float) -> Tensor {
        let out = x.copy()
        scaleInPlace(out, s)
        return out
    }

    public static func scaleInPlace(_ x: Tensor, _ s: Float) {
        opCheck(x.isContiguous, "scaleInPlace: tensor must be contiguous")
        let sv = SIMD8<Float>(repeating: s)
        chunked(x.count) { start, n in SIMDMath.map(x.data + start, x.data + start, count: n) { $0 * sv } }
    }

    /// The gate of a "star" MLP computed by one stacked GEMM: `h` is [rows, 2H] holding [u | v]; the first half
    /// becomes ReLU6(u) ⊙ v in place (one pass over data still in cache, instead of an activation pass and a
    /// multiply pass over two separate outputs).
    public static func relu6GateInPlace(_ h: Tensor) {
        opCheck(h.rank == 2 && h.isContiguous && h.shape[1] % 2 == 0, "relu6GateInPlace: expected contiguous [rows, 2H]")
        let rows = h.shape[0], half = h.shape[1] / 2
        let zero = SIMD8<Float>(repeating: 0), six = SIMD8<Float>(repeating: 6)
        Parallel.forRanges(rows, grain: max(1, 8192 / max(half, 1))) { range in
            for r in range {
                let u = h.data + r * 2 * half, v = UnsafePointer(u + half)
                var j = 0
                while j + 8 <= half {
                    SIMDMath.store(SIMDMath.clamp(SIMDMath.load(u + j), zero, six) * SIMDMath.load(v + j), u + j)
                    j += 8
                }
                while j < half { u[j] = Swift.min(Swift.max(u[j], 0), 6) * v[j]; j += 1 }
            }
        }
    }

    /// Clamps in place to [lo, hi] (ERR-Seg clamps its guidance maps to ±16).
    public static func clampInPlace(_ x: Tensor, min lo: Float, max hi: Float) {
        opCheck(x.isContiguous, "clampInPlace: tensor must be contiguous")
        let l = SIMD8<Float>(repeating: lo), h = SIMD8<Float>(repeating: hi)
        chunked(x.count) { start, n in
            SIMDMath.map(x.data + start, x.data + start, count: n) { SIMDMath.clamp($0, l, h) }
        }
    }

    public static func clamp(_ x: Tensor, min lo: Float, max hi: Float) -> Tensor {
        let out = x.copy()
        clampInPlace(out, min: lo, max: hi)
        return out
    }

    /// x[n, c, …] += bias[c] in place on a contiguous channels-first tensor ([N, C, spatial…] or [C, spatial…]
    /// with `channelDim` saying where C is), optionally followed by an activation in the same pass.
    public static func addChannelBiasInPlace(_ x: Tensor, bias: Tensor, channelDim: Int = 1,
                                             activation: Activation = .identity) {
        opCheck(x.isContiguous, "addChannelBiasInPlace: tensor must be contiguous")
        let c = x.shape[channelDim]
        opCheck(bias.count == c, "addChannelBiasInPlace: bias has \(bias.count) values for \(c) channels")
        let inner = x.shape[(channelDim + 1)...].reduce(1, *)
        let planes = x.count / max(inner, 1)
        let b = bias.contiguous()
        Parallel.forRanges(planes, grain: max(1, 16384 / max(inner, 1))) { r in
            for plane in r {
                let bv = SIMD8<Float>(repeating: b.data[plane % c])
                let p = x.data + plane * inner
                SIMDMath.map(p, p, count: inner) { $0 + bv }
                if activation != .identity { activation.apply(p, p, count: inner) }
            }
        }
        withExtendedLifetime(b) {}
    }

    /// Layer scale + residual for channels-last data: x += γ ⊙ f, with γ over the last dimension (ConvNeXt).
    /// `x` is updated in place; `f` has x's shape.
    public static func addScaledResidualInPlace(_ x: Tensor, _ f: Tensor, gamma: Tensor) {
        opCheck(x.isContiguous && x.shape == f.shape, "addScaledResidualInPlace: shapes \(x.shape) vs \(f.shape)")
        let c = x.shape.last ?? 1
        opCheck(gamma.count == c, "addScaledResidualInPlace: γ has \(gamma.count) values for \(c) channels")
        let fc = f.contiguous(), g = gamma.contiguous()
        let rows = x.count / max(c, 1)
        Parallel.forRanges(rows, grain: max(1, 16384 / max(c, 1))) { r in
            for row in r {
                let xp = x.data + row * c, fp = fc.data + row * c
                var i = 0
                while i + 8 <= c {
                    SIMDMath.store(SIMDMath.load(xp + i).addingProduct(SIMDMath.load(g.data + i), SIMDMath.load(fp + i)),
                                   xp + i)
                    i += 8
                }
                while i < c { xp[i] += g.data[i] * fp[i]; i += 1 }
            }
        }
        withExtendedLifetime((fc, g)) {}
    }

    // MARK: - Helpers

    /// Splits `count` contiguous elements into parallel pieces aligned to 64 floats.
    @inline(__always)
    static func chunked(_ count: Int, _ body: (_ start: Int, _ n: Int) -> Void) {
        let blocks = (count + 63) / 64
        Parallel.forRanges(blocks, grain: 256) { r in
            let start = r.lowerBound * 64, end = min(count, r.upperBound * 64)
            body(start, end - start)
        }
    }

    /// Length of the repeating right-hand pattern: b.count when b's shape is a suffix of a's shape.
    static func broadcastPeriod(_ a: Tensor, _ b: Tensor, _ name: String) -> Int {
        if a.shape == b.shape { return a.count }
        let suffix = Array(a.shape.suffix(b.rank))
        let bShape = b.shape.drop { $0 == 1 }  // leading 1s in b broadcast trivially
        opCheck(Array(a.shape.suffix(bShape.count)) == Array(bShape) || suffix == b.shape,
                     "\(name): cannot broadcast \(b.shape) against \(a.shape)")
        return b.count
    }

    @inline(__always)
    static func binary(_ a: Tensor, _ b: Tensor, _ op: @escaping (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>) -> Tensor {
        let out = a.copy()
        binaryInPlace(out, b, op)
        return out
    }

    @inline(__always)
    static func binaryInPlace(_ a: Tensor, _ b: Tensor, _ op: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>) {
        opCheck(a.isContiguous, "in-place elementwise op: left operand must be contiguous")
        let period = broadcastPeriod(a, b, "elementwise")
        let bc = b.contiguous()
        let ap = a.data, bp = bc.data
        if period == a.count {
            chunked(a.count) { start, n in
                var i = 0
                while i + 8 <= n {
                    SIMDMath.store(op(SIMDMath.load(ap + start + i), SIMDMath.load(bp + start + i)), ap + start + i)
                    i += 8
                }
                while i < n {
                    let r = op(SIMD8(repeating: ap[start + i]), SIMD8(repeating: bp[start + i]))
                    ap[start + i] = r[0]
                    i += 1
                }
            }
        } else {
            let rows = a.count / max(period, 1)
            Parallel.forRanges(rows, grain: max(1, 16384 / max(period, 1))) { r in
                for row in r {
                    let p = ap + row * period
                    var i = 0
                    while i + 8 <= period {
                        SIMDMath.store(op(SIMDMath.load(p + i), SIMDMath.load(bp + i)), p + i)
                        i += 8
                    }
                    while i < period {
                        p[i] = op(SIMD8(repeating: p[i]), SIMD8(repeating: bp[i]))[0]
                        i += 1
                    }
                }
            }
        }
        withExtendedLifetime(bc) {}
    }
}
