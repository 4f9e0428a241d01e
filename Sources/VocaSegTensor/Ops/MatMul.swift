import Foundation

/// Matrix products on OpenBLAS: plain and batched matmul, and `linear` with a fused bias/activation epilogue.
extension Ops {
    /// How a rank-2 view is handed to BLAS: as stored (row-major with leading dimension `ld`) or as the transpose
    /// of a row-major matrix (a column-major view such as `w.transposed(0, 1)`), so such views need no copy.
    struct MatrixOperand {
        let pointer: UnsafePointer<Float>
        let transposed: Bool
        let ld: Int
        let owner: Tensor  // keeps the storage alive (and holds a copy when the view was not BLAS-compatible)

        init(_ t: Tensor) {
            opCheck(t.rank == 2, "MatrixOperand: rank \(t.rank)")
            let rows = t.shape[0], cols = t.shape[1]
            if (t.strides[1] == 1 || cols <= 1) && (rows <= 1 || t.strides[0] >= max(cols, 1)) {
                owner = t; pointer = UnsafePointer(t.data); transposed = false
                ld = rows <= 1 ? max(cols, 1) : t.strides[0]
            } else if (t.strides[0] == 1 || rows <= 1) && (cols <= 1 || t.strides[1] >= max(rows, 1)) {
                owner = t; pointer = UnsafePointer(t.data); transposed = true
                ld = cols <= 1 ? max(rows, 1) : t.strides[1]
            } else {
                let c = t.contiguous()
                owner = c; pointer = UnsafePointer(c.data); transposed = false; ld = max(cols, 1)
            }
        }
    }

    /// C = op(A)·op(B) into `c` (row-major with leading dimension ldc) for rank-2 operands of any strides.
    static func gemm(_ a: Tensor, transA: Bool, _ b: Tensor, transB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int,
                     beta: Float = 0, alpha: Float = 1) {
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let n = transB ? b.shape[0] : b.shape[1]
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        let oa = MatrixOperand(a), ob = MatrixOperand(b)
        BLAS.sgemm(transA: transA != oa.transposed, transB: transB != ob.transposed, m: m, n: n, k: k, alpha: alpha,
                   a: oa.pointer, lda: oa.ld, b: ob.pointer, ldb: ob.ld, beta: beta, c: c, ldc: ldc)
        withExtendedLifetime((oa, ob)) {}
    }

    /// Matrix product. Rank 2: [M, K]·[K, N] → [M, N]. Rank 3: [B, M, K]·[B, K, N] → [B, M, N]; a rank-2 right
    /// operand is shared by every batch. `transA`/`transB` transpose the last two dimensions; transposed views
    /// (e.g. `k.transposed(1, 2)`) are passed to BLAS as transposes without copying.
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
        opCheck((a.rank == 2 || a.rank == 3) && (b.rank == 2 || b.rank == 3) && b.rank <= a.rank,
                "matmul: ranks \(a.rank), \(b.rank)")
        let ar = a.rank, br = b.rank
        let m = transA ? a.shape[ar - 1] : a.shape[ar - 2], k = transA ? a.shape[ar - 2] : a.shape[ar - 1]
        let kb = transB ? b.shape[br - 1] : b.shape[br - 2], n = transB ? b.shape[br - 2] : b.shape[br - 1]
        opCheck(k == kb, "matmul: inner dimensions \(a.shape) × \(b.shape) (transA \(transA), transB \(transB))")
        if ar == 2 {
            let out = Tensor(uninitializedShape: [m, n])
            gemm(a, transA: transA, b, transB: transB, c: out.data, ldc: max(n, 1))
            return out
        }
        let batch = a.shape[0]
        opCheck(br == 2 || b.shape[0] == batch, "matmul: batch \(a.shape[0]) vs \(b.shape[0])")
        let out = Tensor(uninitializedShape: [batch, m, n])
        for i in 0..<batch {
            gemm(a[index: i], transA: transA, br == 2 ? b : b[index: i], transB: transB,
                 c: out.data + i * m * n, ldc: max(n, 1))
        }
        return out
    }

    /// Largest row tile per GEMM call when an activation follows, so the activation reads the GEMM's output while
    /// it is still in cache. Each call re-packs the weight in OpenBLAS, so small tiles lose more than the warm cache
    /// gains: on the ConvNeXt fc1 (1600×512 · 512×2048, one thread) 64 rows cost +25 %, 256 rows +8 %, 512 rows
    /// and one untiled call about the same. Rows are split evenly into ⌈rows / this⌉ tiles.

    /// PyTorch `F.linear` on the last dimension of any-rank input, weight stored [out, in] as PyTorch does:
    /// y = activation(x·Wᵀ + bias). With `accumulate`, y is added to `out` instead of overwriting it
    /// (out += x·Wᵀ + bias, activation must then be identity); this fuses a residual add into the GEMM.
    /// `out` (optional) receives the result: contiguous with shape x.shape[..<last] + [out].
    @discardableResult
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, activation: Activation = .identity,
                              out: Tensor? = nil, accumulate: Bool = false) -> Tensor {
        opCheck(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
        let inF = weight.shape[1], outF = weight.shape[0]
        opCheck(bias == nil || bias!.count == outF, "linear: bias has \(bias!.count) values for \(outF) outputs")
        let y = linearOutput(x, inFeatures: inF, outFeatures: outF, activation: activation, out: out,
                             accumulate: accumulate)
        let rows = x.count / max(inF, 1)
        if rows == 0 || outF == 0 { return y }
        let x2 = x.rank == 2 ? x : x.reshaped([rows, inF])  // a view when x is contiguous; rank 2 may be strided
        let b = bias?.contiguous()
        // OpenBLAS applies beta in a separate pass over C before accumulating (beta = 0 is a zeroing pass), so a
        // bias costs nothing extra when C is pre-filled with it and the GEMM runs with beta = 1.
        let beta: Float = accumulate || b != nil ? 1 : 0
        // With an activation the GEMM runs in row tiles so the activation reads each tile while it is in cache.
        let tileRows = max(1, KernelSettings.current.linearEpilogueTileRows)
        let tileCount = activation == .identity ? 1 : (rows + tileRows - 1) / tileRows
        let tile = (rows + tileCount - 1) / tileCount
        var r0 = 0
        while r0 < rows {
            let r = min(tile, rows - r0)
            let c = y.data + r0 * outF
            if let b { fillRows(c, rows: r, cols: outF, with: b.data, add: accumulate) }
            gemm(x2.narrowed(dim: 0, start: r0, length: r), transA: false, weight, transB: true, c: c, ldc: outF,
                 beta: beta)
            if activation != .identity { rowEpilogue(c, rows: r, cols: outF, bias: nil, activation: activation) }
            r0 += r
        }
        withExtendedLifetime(b) {}
        return y
    }

    /// Checks a linear's arguments and returns the tensor it writes: `out` (contiguous, x.shape[..<last] + [out]) or
    /// a new one. Accumulating needs `out` and an identity activation.
    static func linearOutput(_ x: Tensor, inFeatures inF: Int, outFeatures outF: Int, activation: Activation,
                             out: Tensor?, accumulate: Bool) -> Tensor {
        opCheck(x.rank >= 1 && x.shape[x.rank - 1] == inF, "linear: input \(x.shape) vs weight [\(outF), \(inF)]")
        opCheck(!accumulate || activation == .identity, "linear: accumulate needs an identity activation")
        let outShape = Array(x.shape.dropLast()) + [outF]
        if let out {
            opCheck(out.isContiguous && out.shape == outShape, "linear: out \(out.shape) should be \(outShape)")
            return out
        }
        opCheck(!accumulate, "linear: accumulate needs an out tensor")
        return Tensor(uninitializedShape: outShape)
    }

    /// Sets (or, with `add`, increments) every row of a [rows, cols] block to/by `v` [cols].
    static func fillRows(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, with v: UnsafePointer<Float>, add: Bool) {
        Parallel.forRanges(rows, grain: max(1, 16384 / max(cols, 1))) { range in
            for row in range {
                let p = c + row * cols
                if add {
                    var j = 0
                    while j + 8 <= cols { SIMDMath.store(SIMDMath.load(p + j) + SIMDMath.load(v + j), p + j); j += 8 }
                    while j < cols { p[j] += v[j]; j += 1 }
                } else {
                    p.update(from: v, count: cols)
                }
            }
        }
    }

    /// Adds a per-column bias and applies an activation to a [rows, cols] row-major block, in parallel over rows.
    static func rowEpilogue(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafeMutablePointer<Float>?,
                            activation: Activation) {
        Parallel.forRanges(rows, grain: max(1, 8192 / max(cols, 1))) { range in
            for row in range {
                let p = c + row * cols
                if let bias {
                    activation.applyBiased(p, bias: bias, count: cols)
                } else {
                    activation.apply(p, p, count: cols)
                }
            }
        }
    }
}
