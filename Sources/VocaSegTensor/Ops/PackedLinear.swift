import CAVX512Kernels
import Foundation

/// A Linear weight [out, in] repacked once at load time into panels of 16 output features, [panel][in][16] with
/// zero padding past `out`, plus the bias in the same panels. `Ops.linear(_:packed:…)` multiplies by it with a
/// 6×16 register-blocked kernel.
///
/// Why not OpenBLAS for these: ERR-Seg's aggregator runs its projections per class (K = 32 items over the workers),
/// single-threaded, with only 128 input features. OpenBLAS packs both operands on every call and its blocking is
/// tuned for large K, which leaves it at about 75 % of its large-GEMM rate there. With the weight packed once and
/// the input rows read in place there is no per-call packing at all, and bias, residual and activation are applied
/// while the result is still in registers.
public struct PackedLinearWeight: @unchecked Sendable {
    public let inFeatures: Int, outFeatures: Int
    let panels: Int
    let storage: TensorStorage     // panels × inFeatures × 16
    let biasStorage: TensorStorage?  // panels × 16
    /// The weight as bfloat16 pairs for `--precision bf16`, packed on first use (fp32 runs never pay for it).
    let bf16: BF16PackedWeight

    public static let panelWidth = 16

    public init(weight: Tensor, bias: Tensor?) {
        opCheck(weight.rank == 2, "PackedLinearWeight: weight must be [out, in], got \(weight.shape)")
        let w = weight.contiguous()
        outFeatures = w.shape[0]
        inFeatures = w.shape[1]
        bf16 = BF16PackedWeight(weight: w)
        opCheck(bias == nil || bias!.count == outFeatures, "PackedLinearWeight: bias size \(bias!.count)")
        let pw = Self.panelWidth
        panels = (outFeatures + pw - 1) / pw
        storage = TensorStorage(count: max(1, panels * inFeatures * pw))
        let dst = storage.pointer
        for p in 0..<panels {
            for k in 0..<inFeatures {
                for j in 0..<pw {
                    let o = p * pw + j
                    dst[(p * inFeatures + k) * pw + j] = o < outFeatures ? w.data[o * inFeatures + k] : 0
                }
            }
        }
        if let bias {
            let b = bias.contiguous()
            let bs = TensorStorage(count: panels * pw)
            for i in 0..<panels * pw { bs.pointer[i] = i < outFeatures ? b.data[i] : 0 }
            biasStorage = bs
            withExtendedLifetime(b) {}
        } else {
            biasStorage = nil
        }
        withExtendedLifetime(w) {}
    }
}

extension Ops {
    /// `F.linear` with a packed weight: y = activation(x·Wᵀ + bias), or with `accumulate` y += x·Wᵀ + bias
    /// (activation must then be identity). x is [rows, in] (rows may be strided) or any contiguous rank;
    /// `out` is contiguous x.shape[..<last] + [out]. Parallel over row blocks unless called inside a
    /// `ParallelConfig.forEachItem` item.
    @discardableResult
    public static func linear(_ x: Tensor, packed w: PackedLinearWeight, activation: Activation = .identity,
                              out: Tensor? = nil, accumulate: Bool = false) -> Tensor {
        let inF = w.inFeatures, outF = w.outFeatures
        let y = linearOutput(x, inFeatures: inF, outFeatures: outF, activation: activation, out: out,
                             accumulate: accumulate)
        let rows = x.count / max(inF, 1)
        if rows == 0 || outF == 0 { return y }
        var x2 = x.rank == 2 ? x : x.reshaped([rows, inF])
        if x2.strides[1] != 1 { x2 = x2.contiguous() }
        let lda = x2.strides[0]
        let a = UnsafePointer(x2.data), c = y.data
        let biasP = w.biasStorage.map { UnsafePointer($0.pointer) }
        if inF > 0, rows * inF * outF >= BLAS.bf16MinimumWork, KernelSettings.current.gemmPrecision == .bf16,
           let packedB = w.bf16.lanes() {
            linearBF16(a: a, lda: lda, rows: rows, inFeatures: inF, outFeatures: outF, packed: packedB, bias: biasP,
                       c: c, activation: activation, accumulate: accumulate)
            withExtendedLifetime((x2, w.bf16, w.biasStorage)) {}
            return y
        }
        let bp = UnsafePointer(w.storage.pointer)
        let mr = PackedGemm.rowsPerBlock, pw = PackedLinearWeight.panelWidth
        let blocks = (rows + mr - 1) / mr
        Parallel.forRanges(blocks, grain: max(1, 96 / max(1, w.panels))) { range in
            for blk in range {
                let r0 = blk * mr, nr = min(mr, rows - r0)
                for p in 0..<w.panels {
                    let nc = min(pw, outF - p * pw)
                    PackedGemm.block(a: a + r0 * lda, lda: lda, k: inF, panel: bp + p * inF * pw,
                                     bias: biasP.map { $0 + p * pw }, c: c + r0 * outF + p * pw, ldc: outF,
                                     rows: nr, columns: nc, accumulate: accumulate, activation: activation)
                }
            }
        }
        withExtendedLifetime((x2, w.storage, w.biasStorage)) {}
        return y
    }
}

extension Ops {
    /// `linear(_:packed:)` with bf16 products: row tiles across the workers through the prepacked bf16 GEMM, with
    /// bias and GELU applied in the kernel while each tile of C is in registers (other activations after it).
    static func linearBF16(a: UnsafePointer<Float>, lda: Int, rows: Int, inFeatures: Int, outFeatures: Int,
                           packed: UnsafePointer<UInt32>, bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>,
                           activation: Activation, accumulate: Bool) {
        let fused = activation == .gelu ? Int32(VS_ACTIVATION_GELU) : Int32(VS_ACTIVATION_IDENTITY)
        let after = activation == .gelu ? Activation.identity : activation
        // 96 rows (a multiple of the kernel's 12): enough tiles to balance the workers, each a full GEMM block.
        let tileRows = 96
        let tiles = (rows + tileRows - 1) / tileRows
        Parallel.forRanges(tiles, grain: 1) { range in
            for t in range {
                let r0 = t * tileRows, n = min(tileRows, rows - r0)
                let tile = c + r0 * outFeatures
                let status = vs_gemm_bf16_prepacked(0, n, outFeatures, inFeatures, a + r0 * lda, lda, packed,
                                                    accumulate ? 1 : 0, bias, fused, tile, outFeatures)
                opCheck(status == 0, "linear (bf16): kernel failed with status \(status) for [\(n), \(inFeatures)] × [\(inFeatures), \(outFeatures)]")
                if after != .identity {
                    for r in 0..<n { after.apply(tile + r * outFeatures, tile + r * outFeatures, count: outFeatures) }
                }
            }
        }
    }
}

/// A linear layer's weight [out, in] in the bf16 kernels' packed layout (B = Wᵀ), made on first use.
final class BF16PackedWeight: @unchecked Sendable {
    private let weight: Tensor
    private let lock = NSLock()
    private var storage: UnsafeMutablePointer<UInt32>?
    private var failed = false

    init(weight: Tensor) { self.weight = weight }

    deinit { storage?.deallocate() }

    /// The packed lanes, or nil where the CPU has no bf16 kernels.
    func lanes() -> UnsafePointer<UInt32>? {
        lock.lock()
        defer { lock.unlock() }
        if let storage { return UnsafePointer(storage) }
        guard !failed, BLAS.bf16Available else { return nil }
        let out = weight.shape[0], inF = weight.shape[1]
        let count = vs_bf16_packed_b_lanes(inF, out)
        // The kernels load packed B with aligned 64-byte loads.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(64, count * 4), alignment: 64)
        let lanes = raw.bindMemory(to: UInt32.self, capacity: max(16, count))
        guard vs_bf16_pack_b(1, inF, out, weight.data, inF, lanes) == 0 else {
            raw.deallocate()
            failed = true
            return nil
        }
        storage = lanes
        return UnsafePointer(lanes)
    }
}

/// The 6×16 kernel behind `Ops.linear(_:packed:…)`: 12 accumulators, per k two weight vectors and six broadcast
/// inputs feed 12 FMAs.
enum PackedGemm {
    static let rowsPerBlock = 6

    /// C[rows, columns] (=|+=) A[rows, k]·panel[k, 16] + bias, then activation. Full blocks run the kernel on C in
    /// place; partial ones go through a zero-padded 6×16 copy (and a copy of A's rows).
    @inline(__always)
    static func block(a: UnsafePointer<Float>, lda: Int, k: Int, panel: UnsafePointer<Float>,
                      bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, columns: Int,
                      accumulate: Bool, activation: Activation) {
        let pw = PackedLinearWeight.panelWidth
        if rows == rowsPerBlock && columns == pw {
            kernel(a: a, lda: lda, k: k, panel: panel, bias: bias, c: c, ldc: ldc, accumulate: accumulate)
            if activation != .identity {
                for r in 0..<rows { activation.apply(c + r * ldc, c + r * ldc, count: columns) }
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rowsPerBlock * (pw + k)) { buffer in
            let tc = buffer.baseAddress!, ta = tc + rowsPerBlock * pw
            tc.initialize(repeating: 0, count: rowsPerBlock * pw)
            ta.initialize(repeating: 0, count: rowsPerBlock * k)
            for r in 0..<rows {
                (ta + r * k).update(from: a + r * lda, count: k)
                if accumulate { (tc + r * pw).update(from: c + r * ldc, count: columns) }
            }
            kernel(a: ta, lda: k, k: k, panel: panel, bias: bias, c: tc, ldc: pw, accumulate: accumulate)
            for r in 0..<rows {
                let dst = c + r * ldc
                dst.update(from: tc + r * pw, count: columns)
                if activation != .identity { activation.apply(dst, dst, count: columns) }
            }
        }
    }

    /// Six rows × 16 columns. Kept out of line: inlined into large callers, the optimiser stopped inlining the
    /// vector loads.
    @inline(never)
    static func kernel(a: UnsafePointer<Float>, lda: Int, k: Int, panel: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
        var b = panel
        for kk in 0..<k {
            let b0 = SIMDMath.load(b), b1 = SIMDMath.load(b + 8)
            var x = V(repeating: a0[kk]); c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = V(repeating: a1[kk]); c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = V(repeating: a2[kk]); c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = V(repeating: a3[kk]); c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = V(repeating: a4[kk]); c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = V(repeating: a5[kk]); c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
            b += 16
        }
        if let bias {
            let bv0 = SIMDMath.load(bias), bv1 = SIMDMath.load(bias + 8)
            c00 += bv0; c01 += bv1; c10 += bv0; c11 += bv1; c20 += bv0; c21 += bv1
            c30 += bv0; c31 += bv1; c40 += bv0; c41 += bv1; c50 += bv0; c51 += bv1
        }
        @inline(__always) func put(_ v0: V, _ v1: V, _ row: Int) {
            let p = c + row * ldc
            if accumulate {
                SIMDMath.store(SIMDMath.load(p) + v0, p); SIMDMath.store(SIMDMath.load(p + 8) + v1, p + 8)
            } else {
                SIMDMath.store(v0, p); SIMDMath.store(v1, p + 8)
            }
        }
        put(c00, c01, 0); put(c10, c11, 1); put(c20, c21, 2); put(c30, c31, 3); put(c40, c41, 4); put(c50, c51, 5)
    }
}
