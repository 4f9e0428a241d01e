import Foundation
import VocaSegTensor

/// EOV-Seg's classification maths shared by the decoder and the CLIP out-of-vocabulary branch (spec §2.6
/// `get_classification_logits`, §2.8 mask downsampling, §2.9 geometric ensemble).
enum EOVSegClassification {
    /// `get_classification_logits`: x̂ = x/max(‖x‖, 1e-12); L = (min(exp(ls), 100)·x̂)·TCᵀ [N, T]; then per class the
    /// max over its `synonymCounts[c]` consecutive columns, and the last column (void) appended → [N, K+1].
    static func classificationLogits(embeddings x: Tensor, textClassifier tc: Tensor, logitScale: Float,
                                     synonymCounts: [Int]) -> Tensor {
        opCheck(x.rank == 2 && tc.rank == 2 && x.shape[1] == tc.shape[1],
                     "classificationLogits: embeddings \(x.shape) vs text classifier \(tc.shape)")
        let t = tc.shape[0], n = x.shape[0], k = synonymCounts.count
        opCheck(synonymCounts.allSatisfy { $0 > 0 } && synonymCounts.reduce(0, +) == t - 1,
                     "classificationLogits: synonym counts sum to \(synonymCounts.reduce(0, +)), text rows \(t) (void last)")
        // The original evaluates `logit_scale * x @ T` left to right: the rows are scaled before the product.
        let s = min(expf(logitScale), 100)  // float32 exp, clamped as torch.clamp(max=100)
        let unit = RowNormalization.unitRows(x)
        Ops.scaleInPlace(unit, s)
        let all = Ops.matmul(unit, tc, transB: true)  // [N, T]
        let out = Tensor(uninitializedShape: [n, k + 1])
        for i in 0..<n {
            let row = all.data + i * t, o = out.data + i * (k + 1)
            var col = 0
            for c in 0..<k {
                // torch max: NaN wins.
                var m = row[col]
                for j in 1..<synonymCounts[c] {
                    let v = row[col + j]
                    if v.isNaN || v > m { m = v }
                    if m.isNaN { break }
                }
                o[c] = m
                col += synonymCounts[c]
            }
            o[k] = row[t - 1]
        }
        withExtendedLifetime(all) {}
        return out
    }

    /// Mq [Q, h, w] → Mc at the CLIP dense grid (H/32 × W/32): bilinear, align_corners false, no antialias.
    static func clipMasks(_ masks: Tensor, height: Int, width: Int) -> Tensor {
        opCheck(masks.rank == 3, "clipMasks: masks \(masks.shape), expected [Q, h, w]")
        return Ops.interpolateBilinear(masks, size: (height, width), alignCorners: false)
    }

    /// Per query: whether its mask has any pixel > 0 (`ENSEMBLE_ON_VALID_MASK`).
    static func validMasks(_ masks: Tensor) -> [Bool] {
        let m = masks.contiguous()
        let q = m.shape[0], plane = m.count / max(q, 1)
        return withExtendedLifetime(m) {
            (0..<q).map { i in
                let p = m.data + i * plane
                for j in 0..<plane where p[j] > 0 { return true }
                return false
            }
        }
    }

    /// softmax over one row, literally as PyTorch: max (NaN wins) subtracted, exp, divided by the sum. A NaN
    /// anywhere makes the row NaN; an all −∞ row gives NaN.
    static func softmaxRow(_ src: UnsafePointer<Float>, count n: Int, into dst: UnsafeMutablePointer<Float>) {
        var m = -Float.infinity
        for j in 0..<n {
            let v = src[j]
            if v.isNaN { m = .nan; break }
            m = max(m, v)
        }
        var sum: Float = 0
        for j in 0..<n { dst[j] = expf(src[j] - m); sum += dst[j] }
        for j in 0..<n { dst[j] = dst[j] / sum }
    }

    /// The geometric ensemble (spec §2.9), kept as the original formula so that IEEE edge cases (NaN⁰ = 1,
    /// −∞·0 = NaN) come out the same:
    /// L = log(p_in^(1−α)·p_out^α)·m + log(p_in^(1−β)·p_out^β)·(1−m), P = [softmax_K(L)·(1−void), void],
    /// logP = log(P + 1e-8). `inVocab` and `outVocab` are logits [Q, K+1] (void last); `seen` [K] is
    /// `category_overlapping_mask`; `valid` (ENSEMBLE_ON_VALID_MASK) zeroes α and β for queries without pixels in Mc.
    static func ensemble(inVocab cls: Tensor, outVocab out: Tensor, seen: [Bool], alpha: Float, beta: Float,
                         valid: [Bool]?) -> (probabilities: Tensor, logProbabilities: Tensor) {
        opCheck(cls.rank == 2 && out.shape == cls.shape, "ensemble: logits \(cls.shape) vs \(out.shape)")
        let q = cls.shape[0], k = cls.shape[1] - 1
        opCheck(seen.count == k, "ensemble: \(seen.count) seen flags for \(k) classes")
        opCheck(valid == nil || valid!.count == q, "ensemble: valid flags for \(valid?.count ?? 0) of \(q) queries")
        let a = cls.contiguous(), b = out.contiguous()
        let probs = Tensor(uninitializedShape: [q, k + 1])
        let logs = Tensor(uninitializedShape: [q, k + 1])
        var pIn = [Float](repeating: 0, count: k), pOut = pIn, l = pIn, full = [Float](repeating: 0, count: k + 1)
        for i in 0..<q {
            let ra = a.data + i * (k + 1), rb = b.data + i * (k + 1)
            softmaxRow(ra, count: k, into: &pIn)
            softmaxRow(rb, count: k, into: &pOut)
            softmaxRow(ra, count: k + 1, into: &full)
            let void = full[k]
            let keep: Float = valid.map { $0[i] ? 1 : 0 } ?? 1
            let al = alpha * keep, be = beta * keep
            for c in 0..<k {
                let m: Float = seen[c] ? 1 : 0
                let seenTerm = logf(powf(pIn[c], 1 - al) * powf(pOut[c], al)) * m
                let unseenTerm = logf(powf(pIn[c], 1 - be) * powf(pOut[c], be)) * (1 - m)
                l[c] = seenTerm + unseenTerm
            }
            let p = probs.data + i * (k + 1), lp = logs.data + i * (k + 1)
            softmaxRow(l, count: k, into: p)
            for c in 0..<k { p[c] = p[c] * (1 - void) }
            p[k] = void
            for c in 0...k { lp[c] = logf(p[c] + 1e-8) }
        }
        withExtendedLifetime((a, b)) {}
        return (probs, logs)
    }
}
