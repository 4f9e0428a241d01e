import Foundation

extension Ops {
    /// Multi-head scaled dot-product attention with separate query and key/value sequences, computed one query tile
    /// at a time so that the [heads, Lq, Lk] score tensor is never materialised (ERR-Seg's SFM would need ~0.5 GB).
    ///
    /// - `query` [B, Lq, H·d], `key` [B, Lk, H·d], `value` [B, Lk, H·dv]; head h uses the contiguous channel slice
    ///   h·d ..< (h+1)·d (PyTorch's `view(B, L, H, d).transpose(1, 2)` convention). Inputs may be strided views;
    ///   they are made contiguous first.
    /// - `mask`: additive mask added to the scaled scores, shape [Lq, Lk] (shared), [B, Lq, Lk] (per batch) or
    ///   [B·H, Lq, Lk] (per batch and head, batch-major). Use `-Float.infinity` to forbid a key.
    /// - `causal`: query i may only see keys j ≤ i (top-left aligned, as `scaled_dot_product_attention(is_causal=True)`).
    /// - `scale`: defaults to 1/√d.
    /// - `out`: where to write the result (contiguous [B, Lq, H·dv]); a new tensor when nil.
    /// Returns [B, Lq, H·dv] with heads concatenated along channels. A query row that can see no key at all gives NaN,
    /// as in PyTorch.
    public static func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, mask: Tensor? = nil,
                          causal: Bool = false, scale: Float? = nil, out: Tensor? = nil) -> Tensor {
        opCheck(query.rank == 3 && key.rank == 3 && value.rank == 3, "attention: q, k, v must be [B, L, C]")
        let b = query.shape[0], lq = query.shape[1], lk = key.shape[1]
        opCheck(key.shape[0] == b && value.shape[0] == b && value.shape[1] == lk, "attention: batch/length mismatch")
        opCheck(heads > 0 && query.shape[2] % heads == 0 && value.shape[2] % heads == 0, "attention: channels % heads")
        opCheck(key.shape[2] == query.shape[2], "attention: q and k channels differ")
        let d = query.shape[2] / heads, dv = value.shape[2] / heads
        var maskKind = AttentionMaskKind.none
        if let mask {
            if mask.shape == [lq, lk] {
                maskKind = .shared
            } else if mask.shape == [b, lq, lk] {
                maskKind = .perBatch
            } else if mask.shape == [b * heads, lq, lk] {
                maskKind = .perBatchHead
            } else {
                fatalError("attention: mask shape \(mask.shape) is not [Lq, Lk], [B, Lq, Lk] or [B·H, Lq, Lk]")
            }
        }
        let q = query.contiguous(), k = key.contiguous(), v = value.contiguous()
        let m = mask?.contiguous()
        opCheck(out.map { $0.isContiguous && $0.shape == [b, lq, heads * dv] } ?? true,
                     "attention: out must be a contiguous [B, Lq, H·dv] tensor")
        let out = out ?? Tensor(uninitializedShape: [b, lq, heads * dv])
        if b * lq * lk == 0 || dv == 0 {
            if lk == 0 { out.data.initialize(repeating: .nan, count: out.count) }  // softmax over no keys
            else if out.count > 0 { out.data.initialize(repeating: 0, count: out.count) }
            return out
        }
        let problem = AttentionProblem(q: q.data, k: k.data, v: v.data, out: out.data, mask: m?.data, maskKind: maskKind,
                                       batch: b, heads: heads, lq: lq, lk: lk, d: d, dv: dv,
                                       scale: scale ?? 1 / Float(d).squareRoot(), causal: causal)
        withExtendedLifetime((q, k, v, m, out)) { problem.run() }
        return out
    }
}

/// How `Ops.attention` schedules its work; see `AttentionProblem.run`.
public enum AttentionSchedule: String, Sendable, CaseIterable {
    /// Register-blocked kernel with the softmax fused between its two products (unmasked, value heads a multiple of
    /// 16 wide); otherwise one of the BLAS schedules below by problem size.
    case automatic
    /// Large query tiles one after another; each GEMM is split across workers, the softmax rows in between.
    case blasParallel
    /// `concurrentPerform` over (batch, head, query tile) items whose GEMMs stay on the calling thread.
    case itemParallel
}

enum AttentionMaskKind { case none, shared, perBatch, perBatchHead }

/// Raw pointers and sizes of one attention call; `run` schedules the (batch, head, query-tile) work items.
struct AttentionProblem {
    let q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    let out: UnsafeMutablePointer<Float>
    let mask: UnsafeMutablePointer<Float>?
    let maskKind: AttentionMaskKind
    let batch: Int, heads: Int, lq: Int, lk: Int, d: Int, dv: Int
    let scale: Float
    let causal: Bool

    /// Largest m·n·k that `BLAS.sgemm` runs on the calling thread (`BLAS.parallelThreshold`). Work items sized
    /// below it can run in `concurrentPerform` without the GEMM splitting itself across workers again, so only one
    /// level of parallelism is ever active.
    static let blasSingleThreadMNK = BLAS.parallelThreshold

    /// Query rows per tile: as many as keep both GEMMs of the tile (rows·Lk·d and rows·dv·Lk multiply-adds) at or
    /// under `BLAS.parallelThreshold`, so no tile's GEMM splits itself across workers from inside `concurrentPerform`
    /// (measured with OpenBLAS's own pool: that nesting made ERR-Seg's SFM ~30× slower). 0 when even one row is
    /// too big.
    var tileRows: Int {
        if let rows = tileRowsOverride { return min(lq, max(1, rows)) }
        let perRow = lk * max(d, dv)
        return min(lq, AttentionProblem.blasSingleThreadMNK / max(perRow, 1))
    }

    /// Only one level of parallelism is ever active:
    /// - fused (`runFused`): `concurrentPerform` over (batch, head) items, no BLAS. Used whenever it applies.
    /// - `itemParallel`: `concurrentPerform` over (batch, head, query tile) items whose GEMMs are small enough that
    ///   OpenBLAS runs them on the calling thread. The BLAS fallback when a whole (batch, head) fits one tile.
    /// - `blasParallel`: items one after another with large tiles; each GEMM is split across workers by `BLAS.sgemm` and the softmax
    ///   rows are split with `concurrentPerform` between the GEMMs. The BLAS fallback for long sequences.
    /// Measured at ERR-Seg's SFM shapes (K = 32, 2 threads): fused 90 ms, 20-row item tiles ~140 ms, 1600-row
    /// BLAS tiles 158 ms per call (`StructuralBenchmarks.attentionAtERRSegShapes`).
    /// From `KernelSettings` (`.automatic` and nil unless a test or benchmark forces them).
    var schedule = KernelSettings.current.attentionSchedule
    var tileRowsOverride = KernelSettings.current.attentionTileRows
    /// `.bf16` sends the fused schedule to the bf16 kernel (where the CPU has it); the BLAS schedules follow
    /// `BLAS.sgemm`'s own choice.
    var precision = KernelSettings.current.gemmPrecision

    func run() {
        let rows = tileRows
        switch schedule {
        case .automatic where fusedKernelApplies: runFused(); return
        case .blasParallel: runBLASParallel(); return
        case .itemParallel where rows > 0: break
        default:
            // Too long to fit a single-threaded tile (very long key sequences cannot be tiled at all): BLAS threads.
            if rows < lq { runBLASParallel(); return }
        }
        let tilesPerHead = (lq + rows - 1) / rows
        let items = batch * heads * tilesPerHead
        let workers = min(items, max(1, ParallelConfig.threads))
        // Each worker owns one score buffer of rows × Lk plus its row sums, reused across its items.
        let scoreStride = (lk + 15) & ~15
        let scratch = TensorStorage(count: workers * (rows * scoreStride + rows))
        withExtendedLifetime(scratch) {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let scores = scratch.pointer + w * (rows * scoreStride + rows)
                let sums = scores + rows * scoreStride
                var item = w
                while item < items {
                    let tile = item % tilesPerHead
                    let bh = item / tilesPerHead
                    let i0 = tile * rows
                    runTile(bh: bh, rowStart: i0, rowCount: min(rows, lq - i0), scores: scores, ldS: scoreStride,
                            sums: sums)
                    item += workers
                }
            }
        }
    }

    /// Large tiles (score buffer up to 4 Mi floats = 16 MB, at least 64 rows), one at a time; BLAS threads the GEMMs,
    /// rows of the softmax are split across threads in between.
    private func runBLASParallel() {
        let ldS = (lk + 15) & ~15
        let rows = min(lq, max(64, (4 << 20) / ldS))
        let tilesPerHead = (lq + rows - 1) / rows
        let scratch = TensorStorage(count: rows * ldS + rows)
        withExtendedLifetime(scratch) {
            for bh in 0..<(batch * heads) {
                for tile in 0..<tilesPerHead {
                    let i0 = tile * rows
                    runTile(bh: bh, rowStart: i0, rowCount: min(rows, lq - i0), scores: scratch.pointer, ldS: ldS,
                            sums: scratch.pointer + rows * ldS, parallelSoftmax: true)
                }
            }
        }
    }

    @inline(__always)
    private func runTile(bh: Int, rowStart i0: Int, rowCount r: Int, scores: UnsafeMutablePointer<Float>, ldS: Int,
                         sums: UnsafeMutablePointer<Float>, parallelSoftmax: Bool = false) {
        let bi = bh / heads, h = bh % heads
        let cq = heads * d, cv = heads * dv
        let qTile = q + (bi * lq + i0) * cq + h * d
        let kHead = k + bi * lk * cq + h * d
        let vHead = v + bi * lk * cv + h * dv
        let oTile = out + (bi * lq + i0) * cv + h * dv
        // S = scale · Q Kᵀ
        BLAS.sgemm(transB: true, m: r, n: lk, k: d, alpha: scale, a: qTile, lda: cq, b: kHead, ldb: cq,
                   c: scores, ldc: ldS)
        var maskRows: UnsafeMutablePointer<Float>? = nil
        if let mask {
            switch maskKind {
            case .shared: maskRows = mask + i0 * lk
            case .perBatch: maskRows = mask + (bi * lq + i0) * lk
            case .perBatchHead: maskRows = mask + (bh * lq + i0) * lk
            case .none: maskRows = nil
            }
        }
        let softmaxRows = { (rowRange: Range<Int>) in
            for row in rowRange {
                let s = scores + row * ldS
                if let maskRows {
                    let mr = maskRows + row * lk
                    for j in 0..<lk { s[j] += mr[j] }
                }
                // Causal: keys j > i are forbidden; their probabilities are exactly 0 as in PyTorch.
                let visible = causal ? min(lk, i0 + row + 1) : lk
                if visible < lk { (s + visible).initialize(repeating: -.infinity, count: lk - visible) }
                sums[row] = softmaxExpInPlace(s, count: lk)
            }
        }
        if parallelSoftmax && r >= 64 {
            let chunks = ParallelConfig.threads * 2
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                softmaxRows((r * c / chunks)..<(r * (c + 1) / chunks))
            }
        } else {
            softmaxRows(0..<r)
        }
        // O = P V, then divide each row by its sum (r·dv divisions instead of r·Lk).
        BLAS.sgemm(m: r, n: dv, k: lk, a: scores, lda: ldS, b: vHead, ldb: cv, c: oTile, ldc: cv)
        for row in 0..<r {
            let inv = 1 / sums[row]
            let o = oTile + row * cv
            for c in 0..<dv { o[c] *= inv }
        }
    }
}

/// Replaces `x[0..<count]` by exp(x − max) and returns the sum. `max` is the row's maximum when the caller already
/// has it (the fused kernel tracks it while computing the scores); otherwise a first pass finds it. An all −∞ row
/// gives sum 0 (so NaN after the division, as PyTorch); NaN propagates. Vector math from `SIMDMath`.
@inline(__always)
func softmaxExpInPlace(_ x: UnsafeMutablePointer<Float>, count n: Int, max knownMax: Float? = nil) -> Float {
    let maxV = knownMax ?? rowMaximum(x, count: n)
    if maxV == -.infinity {
        x.initialize(repeating: 0, count: n)
        return 0
    }
    let m8 = SIMD8<Float>(repeating: maxV)
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        let e = SIMDMath.exp(SIMDMath.load(x + i) - m8)
        SIMDMath.store(e, x + i)
        acc += e
        i += 8
    }
    var sum = acc.sum()
    while i < n {
        let e = Foundation.exp(x[i] - maxV)
        x[i] = e
        sum += e
        i += 1
    }
    return sum
}

@inline(__always)
func rowMaximum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    var maxV = -Float.infinity
    var i = 0
    if n >= 8 {
        var m8 = SIMD8<Float>(repeating: -.infinity)
        while i + 8 <= n {
            m8 = SIMDMath.max(m8, SIMDMath.load(x + i))
            i += 8
        }
        maxV = SIMDMath.horizontalMax(m8)
    }
    while i < n { maxV = Swift.max(maxV, x[i]); i += 1 }
    return maxV
}
