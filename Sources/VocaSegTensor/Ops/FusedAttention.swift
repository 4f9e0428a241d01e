import CAVX512Kernels
import Foundation

/// Attention without OpenBLAS for the unmasked case with value heads a multiple of 16 wide (ERR-Seg's SFM and CFM:
/// d = dv = 32). Six query rows at a time: their scores against every key are computed with register-blocked FMAs,
/// the softmax runs on those six rows while they sit in L1, and the same rows are multiplied by V. So the score
/// matrix never leaves L1, nothing is packed or zero-filled per GEMM call (OpenBLAS spent ~20% of the attention in
/// `sgemm_beta`/`oncopy` at these shapes), and the two GEMMs and the softmax need no intermediate buffer traffic.
extension AttentionProblem {
    var fusedKernelApplies: Bool { mask == nil && !causal && dv % 16 == 0 && lk > 0 && d > 0 }

    /// Work items are (batch·head, query chunk); chunks only split heads when there are too few heads to keep
    /// every worker busy.
    func runFused() {
        let bh = batch * heads
        let workers = max(1, ParallelConfig.threads)
        let chunksPerHead = max(1, min((lq + 63) / 64, (4 * workers + bh - 1) / bh))
        let rowsPerChunk = ((lq + chunksPerHead - 1) / chunksPerHead + 5) / 6 * 6
        let chunks = (lq + rowsPerChunk - 1) / rowsPerChunk
        let lkPad = (lk + 15) & ~15
        let scratchCount = lkPad * d + 6 * lkPad
        // `--precision bf16`: the same items through the bf16 kernel (its own packing and scratch).
        let bf16 = precision == .bf16 && BLAS.bf16Available
        let run = { (item: Int) in
            if bf16 {
                let head = item / chunks, r0 = (item % chunks) * rowsPerChunk
                runBF16(bh: head, from: r0, to: min(lq, r0 + rowsPerChunk))
                return
            }
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
            defer { scratch.deallocate() }
            let head = item / chunks, r0 = (item % chunks) * rowsPerChunk
            packScaledKeys(bh: head, into: scratch, lkPad: lkPad)
            fusedRows(bh: head, from: r0, to: min(lq, r0 + rowsPerChunk), keys: scratch, lkPad: lkPad,
                      scores: scratch + lkPad * d)
        }
        if workers == 1 {
            for item in 0..<(bh * chunks) { run(item) }
        } else {
            DispatchQueue.concurrentPerform(iterations: bh * chunks, execute: run)
        }
    }

    /// Rows r0..<r1 of head `bh` with bf16 products (fp32 scores, softmax and sums).
    private func runBF16(bh: Int, from r0: Int, to r1: Int) {
        let bi = bh / heads, h = bh % heads, cq = heads * d, cv = heads * dv
        let status = vs_attention_bf16(r1 - r0, lk, d, dv, scale, q + (bi * lq + r0) * cq + h * d, cq,
                                       k + bi * lk * cq + h * d, cq, v + bi * lk * cv + h * dv, cv,
                                       out + (bi * lq + r0) * cv + h * dv, cv)
        opCheck(status == 0, "attention (bf16): kernel failed with status \(status) (Lq \(r1 - r0), Lk \(lk), d \(d), dv \(dv))")
    }

    /// scale·Kᵀ of one head in blocks of 16 keys: block b holds [d][16] (keys 16b ..< 16b+16), zero past Lk, so the
    /// score kernel reads one contiguous 64-byte line per channel.
    private func packScaledKeys(bh: Int, into kt: UnsafeMutablePointer<Float>, lkPad: Int) {
        let bi = bh / heads, h = bh % heads, cq = heads * d
        let kHead = k + bi * lk * cq + h * d
        for jb in 0..<(lkPad / 16) {
            let block = kt + jb * d * 16
            for l in 0..<16 {
                let j = jb * 16 + l
                if j < lk {
                    let src = kHead + j * cq
                    for c in 0..<d { block[c * 16 + l] = src[c] * scale }
                } else {
                    for c in 0..<d { block[c * 16 + l] = 0 }
                }
            }
        }
    }

    private func fusedRows(bh: Int, from r0: Int, to r1: Int, keys kt: UnsafeMutablePointer<Float>, lkPad: Int,
                           scores s: UnsafeMutablePointer<Float>) {
        let bi = bh / heads, h = bh % heads, cq = heads * d, cv = heads * dv
        let vHead = UnsafePointer(v + bi * lk * cv + h * dv)
        var rowMax = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
        var inverse = rowMax
        withUnsafeMutableBytes(of: &rowMax) { maxBytes in
            withUnsafeMutableBytes(of: &inverse) { invBytes in
                let maxima = maxBytes.baseAddress!.assumingMemoryBound(to: Float.self)
                let inv = invBytes.baseAddress!.assumingMemoryBound(to: Float.self)
                var i = r0
                while i < r1 {
                    let rows = r1 - i >= 6 ? 6 : 1
                    let qRow = UnsafePointer(q + (bi * lq + i) * cq + h * d)
                    if rows == 6 {
                        scores6(q: qRow, ldq: cq, keys: kt, lkPad: lkPad, out: s, rowMax: maxima)
                    } else {
                        maxima[0] = scores1(q: qRow, keys: kt, lkPad: lkPad, out: s)
                    }
                    for r in 0..<rows { inv[r] = 1 / softmaxExpInPlace(s + r * lkPad, count: lk, max: maxima[r]) }
                    let oRow = out + (bi * lq + i) * cv + h * dv
                    if rows == 6 {
                        weightedValues6(p: s, lkPad: lkPad, values: vHead, ldv: cv, inverse: inv, out: oRow, ldo: cv)
                    } else {
                        weightedValues1(p: s, values: vHead, ldv: cv, inverse: inv[0], out: oRow)
                    }
                    i += rows
                }
            }
        }
    }

    /// Lanes of a 16-key block that are real keys (the last block may be partly padding).
    @inline(__always)
    private func keyLanes(block jb: Int) -> (SIMDMask<SIMD8<Int32>>, SIMDMask<SIMD8<Int32>>) {
        let first = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ Int32(jb * 16)
        let n = SIMD8<Int32>(repeating: Int32(lk))
        return (first .< n, (first &+ 8) .< n)
    }

    /// Scores of six query rows against all key blocks (6 × 16 = 12 accumulators per block: two FMA pipes with a
    /// 4–5 cycle latency need at least 10 independent chains to stay busy), padding keys set to −∞.
    /// Returns each row's maximum, so the softmax needs no separate max pass.
    @inline(__always)
    private func scores6(q: UnsafePointer<Float>, ldq: Int, keys kt: UnsafePointer<Float>, lkPad: Int,
                         out s: UnsafeMutablePointer<Float>, rowMax: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let q0 = q, q1 = q + ldq, q2 = q + 2 * ldq, q3 = q + 3 * ldq, q4 = q + 4 * ldq, q5 = q + 5 * ldq
        var m0 = V(repeating: -.infinity), m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0
        for jb in 0..<(lkPad / 16) {
            let kb = kt + jb * d * 16
            var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V()
            var a30 = V(), a31 = V(), a40 = V(), a41 = V(), a50 = V(), a51 = V()
            for c in 0..<d {
                let k0 = SIMDMath.load(kb + c * 16), k1 = SIMDMath.load(kb + c * 16 + 8)
                let b0 = V(repeating: q0[c]), b1 = V(repeating: q1[c]), b2 = V(repeating: q2[c])
                a00 = a00.addingProduct(b0, k0); a01 = a01.addingProduct(b0, k1)
                a10 = a10.addingProduct(b1, k0); a11 = a11.addingProduct(b1, k1)
                a20 = a20.addingProduct(b2, k0); a21 = a21.addingProduct(b2, k1)
                let b3 = V(repeating: q3[c]), b4 = V(repeating: q4[c]), b5 = V(repeating: q5[c])
                a30 = a30.addingProduct(b3, k0); a31 = a31.addingProduct(b3, k1)
                a40 = a40.addingProduct(b4, k0); a41 = a41.addingProduct(b4, k1)
                a50 = a50.addingProduct(b5, k0); a51 = a51.addingProduct(b5, k1)
            }
            if jb * 16 + 16 > lk {
                let (lo, hi) = keyLanes(block: jb)
                let ninf = V(repeating: -.infinity)
                a00 = ninf.replacing(with: a00, where: lo); a01 = ninf.replacing(with: a01, where: hi)
                a10 = ninf.replacing(with: a10, where: lo); a11 = ninf.replacing(with: a11, where: hi)
                a20 = ninf.replacing(with: a20, where: lo); a21 = ninf.replacing(with: a21, where: hi)
                a30 = ninf.replacing(with: a30, where: lo); a31 = ninf.replacing(with: a31, where: hi)
                a40 = ninf.replacing(with: a40, where: lo); a41 = ninf.replacing(with: a41, where: hi)
                a50 = ninf.replacing(with: a50, where: lo); a51 = ninf.replacing(with: a51, where: hi)
            }
            m0 = SIMDMath.max(m0, SIMDMath.max(a00, a01)); m1 = SIMDMath.max(m1, SIMDMath.max(a10, a11))
            m2 = SIMDMath.max(m2, SIMDMath.max(a20, a21)); m3 = SIMDMath.max(m3, SIMDMath.max(a30, a31))
            m4 = SIMDMath.max(m4, SIMDMath.max(a40, a41)); m5 = SIMDMath.max(m5, SIMDMath.max(a50, a51))
            let o = s + jb * 16
            SIMDMath.store(a00, o); SIMDMath.store(a01, o + 8)
            SIMDMath.store(a10, o + lkPad); SIMDMath.store(a11, o + lkPad + 8)
            SIMDMath.store(a20, o + 2 * lkPad); SIMDMath.store(a21, o + 2 * lkPad + 8)
            SIMDMath.store(a30, o + 3 * lkPad); SIMDMath.store(a31, o + 3 * lkPad + 8)
            SIMDMath.store(a40, o + 4 * lkPad); SIMDMath.store(a41, o + 4 * lkPad + 8)
            SIMDMath.store(a50, o + 5 * lkPad); SIMDMath.store(a51, o + 5 * lkPad + 8)
        }
        rowMax[0] = SIMDMath.horizontalMax(m0); rowMax[1] = SIMDMath.horizontalMax(m1)
        rowMax[2] = SIMDMath.horizontalMax(m2); rowMax[3] = SIMDMath.horizontalMax(m3)
        rowMax[4] = SIMDMath.horizontalMax(m4); rowMax[5] = SIMDMath.horizontalMax(m5)
    }

    @inline(__always)
    private func scores1(q: UnsafePointer<Float>, keys kt: UnsafePointer<Float>, lkPad: Int,
                         out s: UnsafeMutablePointer<Float>) -> Float {
        typealias V = SIMD8<Float>
        var m = V(repeating: -.infinity)
        for jb in 0..<(lkPad / 16) {
            let kb = kt + jb * d * 16
            var a0 = V(), a1 = V()
            for c in 0..<d {
                let b = V(repeating: q[c])
                a0 = a0.addingProduct(b, SIMDMath.load(kb + c * 16))
                a1 = a1.addingProduct(b, SIMDMath.load(kb + c * 16 + 8))
            }
            if jb * 16 + 16 > lk {
                let (lo, hi) = keyLanes(block: jb)
                a0 = V(repeating: -.infinity).replacing(with: a0, where: lo)
                a1 = V(repeating: -.infinity).replacing(with: a1, where: hi)
            }
            m = SIMDMath.max(m, SIMDMath.max(a0, a1))
            SIMDMath.store(a0, s + jb * 16)
            SIMDMath.store(a1, s + jb * 16 + 8)
        }
        return SIMDMath.horizontalMax(m)
    }

    /// out[r] = inverse[r] · Σ_j p[r][j] · V[j] for six rows, 16 value channels at a time (12 accumulators).
    @inline(__always)
    private func weightedValues6(p: UnsafePointer<Float>, lkPad: Int, values: UnsafePointer<Float>, ldv: Int,
                                 inverse: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ldo: Int) {
        typealias V = SIMD8<Float>
        let p0 = p, p1 = p + lkPad, p2 = p + 2 * lkPad, p3 = p + 3 * lkPad, p4 = p + 4 * lkPad, p5 = p + 5 * lkPad
        for c0 in stride(from: 0, to: dv, by: 16) {
            var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V()
            var a30 = V(), a31 = V(), a40 = V(), a41 = V(), a50 = V(), a51 = V()
            var vj = values + c0
            for j in 0..<lk {
                let v0 = SIMDMath.load(vj), v1 = SIMDMath.load(vj + 8)
                let b0 = V(repeating: p0[j]), b1 = V(repeating: p1[j]), b2 = V(repeating: p2[j])
                a00 = a00.addingProduct(b0, v0); a01 = a01.addingProduct(b0, v1)
                a10 = a10.addingProduct(b1, v0); a11 = a11.addingProduct(b1, v1)
                a20 = a20.addingProduct(b2, v0); a21 = a21.addingProduct(b2, v1)
                let b3 = V(repeating: p3[j]), b4 = V(repeating: p4[j]), b5 = V(repeating: p5[j])
                a30 = a30.addingProduct(b3, v0); a31 = a31.addingProduct(b3, v1)
                a40 = a40.addingProduct(b4, v0); a41 = a41.addingProduct(b4, v1)
                a50 = a50.addingProduct(b5, v0); a51 = a51.addingProduct(b5, v1)
                vj += ldv
            }
            let o = out + c0
            let i0 = V(repeating: inverse[0]), i1 = V(repeating: inverse[1]), i2 = V(repeating: inverse[2])
            SIMDMath.store(a00 * i0, o); SIMDMath.store(a01 * i0, o + 8)
            SIMDMath.store(a10 * i1, o + ldo); SIMDMath.store(a11 * i1, o + ldo + 8)
            SIMDMath.store(a20 * i2, o + 2 * ldo); SIMDMath.store(a21 * i2, o + 2 * ldo + 8)
            let i3 = V(repeating: inverse[3]), i4 = V(repeating: inverse[4]), i5 = V(repeating: inverse[5])
            SIMDMath.store(a30 * i3, o + 3 * ldo); SIMDMath.store(a31 * i3, o + 3 * ldo + 8)
            SIMDMath.store(a40 * i4, o + 4 * ldo); SIMDMath.store(a41 * i4, o + 4 * ldo + 8)
            SIMDMath.store(a50 * i5, o + 5 * ldo); SIMDMath.store(a51 * i5, o + 5 * ldo + 8)
        }
    }

    @inline(__always)
    private func weightedValues1(p: UnsafePointer<Float>, values: UnsafePointer<Float>, ldv: Int, inverse: Float,
                                 out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        for c0 in stride(from: 0, to: dv, by: 16) {
            var a0 = V(), a1 = V()
            var vj = values + c0
            for j in 0..<lk {
                let b = V(repeating: p[j])
                a0 = a0.addingProduct(b, SIMDMath.load(vj))
                a1 = a1.addingProduct(b, SIMDMath.load(vj + 8))
                vj += ldv
            }
            SIMDMath.store(a0 * V(repeating: inverse), out + c0)
            SIMDMath.store(a1 * V(repeating: inverse), out + c0 + 8)
        }
    }
}
