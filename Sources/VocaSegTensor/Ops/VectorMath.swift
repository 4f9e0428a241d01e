import Foundation

/// Eight-lane float math used by the activation and normalisation kernels. Everything here is branch-free and
/// built from adds, multiplies and integer bit operations only (no float→int conversion instructions), so that it
/// compiles to plain AVX2 code; see the `-target-cpu` note in Package.swift. The functions are `@_transparent`:
/// with `@inline(__always)` the optimiser still left `exp` out of line in the softmax loop (a call, a reload of
/// every constant and a `vzeroupper` per eight floats: 14% of ERR-Seg's SFM attention time).
enum SIMDMath {
    typealias V = SIMD8<Float>

    /// 1.5·2²³: adding it to |t| < 2²² rounds t to an integer and leaves that integer in the low mantissa bits.
    @usableFromInline static let roundingMagic: Float = 12_582_912

    /// e^x. Range reduction x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two parts so r is exact), Taylor
    /// polynomial to degree 7 for e^r (truncation error < 2e-8 relative), and 2ⁿ assembled in the exponent field.
    /// Inputs below −87.33 (including −∞) give 0; inputs above 88.37 are capped at e^88.37 ≈ 2.5e38.
    @_transparent
    static func exp(_ x: V) -> V {
        let lo = V(repeating: -87.33), hi = V(repeating: 88.37)
        let xc = clamp(x, lo, hi)
        let magic = V(repeating: roundingMagic)
        let t = magic.addingProduct(xc, V(repeating: 1.442_695_04))  // xc·log2(e), rounded, in the low bits
        let n = t - magic
        var r = xc.addingProduct(n, V(repeating: -0.693_359_375))      // high part of ln2 (exact in float)
        r = r.addingProduct(n, V(repeating: 2.121_944_4e-4))            // low part: ln2 − 0.693359375 = −2.1219e-4
        var p = V(repeating: 1.0 / 5040)
        p = V(repeating: 1.0 / 720).addingProduct(p, r)
        p = V(repeating: 1.0 / 120).addingProduct(p, r)
        p = V(repeating: 1.0 / 24).addingProduct(p, r)
        p = V(repeating: 1.0 / 6).addingProduct(p, r)
        p = V(repeating: 0.5).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        let bits = unsafeBitCast(t, to: SIMD8<UInt32>.self)
        let scale = unsafeBitCast((bits &<< 23) &+ SIMD8<UInt32>(repeating: 127 << 23), to: V.self)
        var result = p * scale
        result.replace(with: 0, where: x .< lo)
        return result
    }

    /// erf(x) by Abramowitz & Stegun 7.1.26: 1 − t·(a1 + t·(a2 + …))·e^(−x²) with t = 1/(1 + p·|x|), sign restored.
    /// Absolute error ≤ 1.5e-7, the same formula PyTorch's vectorised CPU `erf` uses.
    @_transparent
    static func erf(_ x: V) -> V {
        let ax = abs(x)  // lane-wise magnitude via sign-bit clear below
        let t = 1 / V(repeating: 1).addingProduct(ax, V(repeating: 0.327_591_1))
        var poly = V(repeating: 1.061_405_429)
        poly = V(repeating: -1.453_152_027).addingProduct(poly, t)
        poly = V(repeating: 1.421_413_741).addingProduct(poly, t)
        poly = V(repeating: -0.284_496_736).addingProduct(poly, t)
        poly = V(repeating: 0.254_829_592).addingProduct(poly, t)
        let e = exp(-(ax * ax))
        let magnitude = V(repeating: 1) - (poly * t) * e
        return copySign(magnitude, of: x)
    }

    // The standard library's `pointwiseMin/Max`, `clamped` and `max()` on SIMD8 are not inlined (they become calls
    // to generic specialisations running lane by lane); masked `replacing` compiles to single vminps/vmaxps.
    @_transparent
    static func max(_ a: V, _ b: V) -> V { a.replacing(with: b, where: a .< b) }

    @_transparent
    static func min(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .< a) }

    @_transparent
    static func clamp(_ x: V, _ lo: V, _ hi: V) -> V { min(max(x, lo), hi) }

    @_transparent
    static func horizontalMax(_ v: V) -> Float {
        let a = max(v, V(lowHalf: v.highHalf, highHalf: v.lowHalf))  // lanes 0…3 now hold the pairwise maxima
        return Swift.max(Swift.max(a[0], a[1]), Swift.max(a[2], a[3]))
    }

    @_transparent
    static func abs(_ x: V) -> V {
        unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF), to: V.self)
    }

    @_transparent
    static func copySign(_ magnitude: V, of sign: V) -> V {
        let s = unsafeBitCast(sign, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x8000_0000)
        return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | s, to: V.self)
    }

    /// Exact-form GELU, 0.5·x·(1 + erf(x/√2)).
    @_transparent
    static func gelu(_ x: V) -> V {
        let half = x * 0.5
        return half.addingProduct(half, erf(x * 0.707_106_781_186_547_5))
    }

    /// 1/(1 + e^−x).
    @_transparent
    static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }

    @_transparent
    static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @_transparent
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// Applies `f` to `count` floats from `src` into `dst` (which may equal `src`): full vectors, then a padded tail.
    @inline(__always)
    static func map(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, _ f: (V) -> V) {
        var i = 0
        while i + 8 <= count {
            store(f(load(src + i)), dst + i)
            i += 8
        }
        if i < count {
            var tail = V(repeating: 0)
            for j in 0..<(count - i) { tail[j] = src[i + j] }
            let r = f(tail)
            for j in 0..<(count - i) { dst[i + j] = r[j] }
        }
    }
}
