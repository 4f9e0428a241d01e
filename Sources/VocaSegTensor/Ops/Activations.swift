import CAVX512Kernels
import Foundation

/// Pointwise activations and the last-dimension softmax. Each has an out-of-place form returning a new tensor and
/// an in-place form on a contiguous tensor the caller owns.
public enum Activation: Sendable, Equatable {
    case identity
    case relu
    case relu6
    /// Exact erf form, 0.5·x·(1 + erf(x/√2)), PyTorch's `nn.GELU()` default.
    case gelu
    /// x·sigmoid(1.702·x), OpenAI CLIP's QuickGELU.
    case quickGelu
    case sigmoid
    case tanh

    /// GELU runs 16 lanes wide where the CPU has AVX-512 (the same erf approximation; 75 ms less per ERR-Seg B
    /// frame, mostly the ConvNeXt MLP epilogues). `VOCASEG_HIDE_AVX512=1` keeps the AVX2 path, for comparisons.
    static let avx512 = vs_avx512_available() != 0 && ProcessInfo.processInfo.environment["VOCASEG_HIDE_AVX512"] != "1"

    /// Applies the activation to `count` contiguous floats from `src` to `dst` (`dst` may equal `src`).
    @inline(__always)
    func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .identity:
            if UnsafePointer(dst) != src { dst.update(from: src, count: count) }
        case .relu:
            let zero = SIMD8<Float>(repeating: 0)
            SIMDMath.map(src, dst, count: count) { SIMDMath.max($0, zero) }
        case .relu6:
            let zero = SIMD8<Float>(repeating: 0), six = SIMD8<Float>(repeating: 6)
            SIMDMath.map(src, dst, count: count) { SIMDMath.min(SIMDMath.max($0, zero), six) }
        case .gelu:
            if Activation.avx512 { vs_gelu_avx512(src, nil, dst, count); return }
            SIMDMath.map(src, dst, count: count) { SIMDMath.gelu($0) }
        case .quickGelu:
            SIMDMath.map(src, dst, count: count) { $0 * SIMDMath.sigmoid($0 * 1.702) }
        case .sigmoid:
            SIMDMath.map(src, dst, count: count) { SIMDMath.sigmoid($0) }
        case .tanh:
            // Rarely used (no hot path needs it): libm for full accuracy.
            for i in 0..<count { dst[i] = Foundation.tanh(src[i]) }
        }
    }
}

extension Activation {
    /// p[j] = activation(p[j] + bias[j]) for j < count, in one pass (the GEMM epilogue).
    @inline(__always)
    func applyBiased(_ p: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, count: Int) {
        switch self {
        case .identity: Activation.biasedMap(p, bias, count) { $0 }
        case .relu:
            let zero = SIMD8<Float>(repeating: 0)
            Activation.biasedMap(p, bias, count) { SIMDMath.max($0, zero) }
        case .relu6:
            let zero = SIMD8<Float>(repeating: 0), six = SIMD8<Float>(repeating: 6)
            Activation.biasedMap(p, bias, count) { SIMDMath.min(SIMDMath.max($0, zero), six) }
        case .gelu:
            if Activation.avx512 { vs_gelu_avx512(p, bias, p, count); return }
            Activation.biasedMap(p, bias, count) { SIMDMath.gelu($0) }
        case .quickGelu: Activation.biasedMap(p, bias, count) { $0 * SIMDMath.sigmoid($0 * 1.702) }
        case .sigmoid: Activation.biasedMap(p, bias, count) { SIMDMath.sigmoid($0) }
        case .tanh:
            for j in 0..<count { p[j] += bias[j] }
            apply(p, p, count: count)
        }
    }

    @inline(__always)
    static func biasedMap(_ p: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, _ count: Int,
                          _ f: (SIMD8<Float>) -> SIMD8<Float>) {
        var j = 0
        while j + 8 <= count {
            SIMDMath.store(f(SIMDMath.load(p + j) + SIMDMath.load(bias + j)), p + j)
            j += 8
        }
        if j < count {
            var v = SIMD8<Float>(repeating: 0)
            for t in 0..<(count - j) { v[t] = p[j + t] + bias[j + t] }
            let r = f(v)
            for t in 0..<(count - j) { p[j + t] = r[t] }
        }
    }
}

extension Ops {
    /// `activation(x)` as a new contiguous tensor.
    public static func activate(_ x: Tensor, _ activation: Activation) -> Tensor {
        let src = x.contiguous()
        let out = Tensor(uninitializedShape: x.shape)
        pointwise(src.data, out.data, count: out.count, activation)
        withExtendedLifetime(src) {}
        return out
    }

    /// Applies `activation` in place. `x` must be contiguous (its storage is overwritten).
    public static func activateInPlace(_ x: Tensor, _ activation: Activation) {
        opCheck(x.isContiguous, "activateInPlace: tensor must be contiguous")
        pointwise(x.data, x.data, count: x.count, activation)
    }

    /// Applies `activation` in place to a raw buffer, on the calling thread (callers that tile their own work,
    /// e.g. a post-processing pass over rows, use this instead of a tensor op).
    public static func activateInPlace(_ buffer: UnsafeMutableBufferPointer<Float>, _ activation: Activation) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        activation.apply(base, base, count: buffer.count)
    }

    public static func gelu(_ x: Tensor) -> Tensor { activate(x, .gelu) }
    public static func quickGelu(_ x: Tensor) -> Tensor { activate(x, .quickGelu) }
    public static func relu(_ x: Tensor) -> Tensor { activate(x, .relu) }
    public static func relu6(_ x: Tensor) -> Tensor { activate(x, .relu6) }
    public static func sigmoid(_ x: Tensor) -> Tensor { activate(x, .sigmoid) }
    public static func tanh(_ x: Tensor) -> Tensor { activate(x, .tanh) }

    /// Parallel pointwise pass over raw buffers (chunks aligned to 64 floats so vectors never straddle chunks).
    static func pointwise(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                          _ activation: Activation) {
        if activation == .identity && UnsafePointer(dst) == src { return }
        let blocks = (count + 63) / 64
        Parallel.forRanges(blocks, grain: 256) { r in
            let start = r.lowerBound * 64, end = min(count, r.upperBound * 64)
            activation.apply(src + start, dst + start, count: end - start)
        }
    }

    /// Numerically stable softmax over the last dimension (max subtracted first). −∞ entries give 0; a row that
    /// is entirely −∞ gives NaN, as PyTorch.
    public static func softmax(_ x: Tensor) -> Tensor {
        let out = x.copy()
        softmaxInPlace(out)
        return out
    }

    /// Softmax over the last dimension, in place on a contiguous tensor.
    public static func softmaxInPlace(_ x: Tensor) {
        opCheck(x.isContiguous, "softmaxInPlace: tensor must be contiguous")
        guard x.rank > 0, x.count > 0 else { return }
        let n = x.shape[x.rank - 1]
        let rows = x.count / n
        let base = x.data
        Parallel.forRanges(rows, grain: max(1, 4096 / max(n, 1))) { r in
            for row in r { softmaxRow(base + row * n, n) }
        }
    }

    @inline(__always)
    static func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        let sum = softmaxExpInPlace(p, count: n)
        if sum == 0 {  // every entry −∞: PyTorch gives NaN
            p.initialize(repeating: .nan, count: n)
            return
        }
        let inv = SIMD8<Float>(repeating: 1 / sum)
        SIMDMath.map(p, p, count: n) { $0 * inv }
    }
}
