import Foundation

/// `conv_transpose2d` with a 2×2 kernel, stride 2, no padding and one group (ERR-Seg's GUD upsampling, run once
/// per kept class): out[o, 2y+ky, 2x+kx] = b[o] + Σ_c W[c, o, ky, kx]·x[c, y, x].
///
/// Every input pixel feeds a 2×2 patch per output channel, so for one output channel the four taps (ky, kx) act
/// as four 1×1 convolutions. A block is 24 input positions (three vectors) × those four taps: per input channel
/// 3 vector loads and 4 weight broadcasts feed 12 FMAs, and the kx = 0 / kx = 1 results are zipped in registers
/// into the two output rows. The GEMM + scatter it replaces (OpenBLAS with K = Cin = 32 or 64, then a pass that
/// interleaves the columns) reached 46–68 % of sgemm per class.
extension Ops {
    static func upsample2x2(_ src: Tensor, weight wc: Tensor, bias: Tensor?, out: Tensor, pool: BufferPool?) {
        let n = src.rank == 4 ? src.shape[0] : 1
        let cin = src.shape[src.rank - 3], h = src.shape[src.rank - 2], w = src.shape[src.rank - 1]
        let cout = wc.shape[1], hw = h * w, ow = 2 * w
        // [o][c][ky·2+kx]: a block's four broadcasts read one 16-byte group, and the stream over c is sequential.
        let packed = BufferPool.scratch(pool, "ops.upsample2x2.weight", count: cout * cin * 4)
        let wp = packed.pointer, ws = UnsafePointer(wc.data)
        for o in 0..<cout {
            for c in 0..<cin {
                for t in 0..<4 { wp[(o * cin + c) * 4 + t] = ws[(c * cout + o) * 4 + t] }
            }
        }
        let bp = bias.map { UnsafePointer($0.data) }
        // Blocks of 24 positions; the last, shorter one reads from a zero-padded copy so no load leaves the planes.
        let blocks = (hw + 23) / 24
        for img in 0..<n {
            let x = UnsafePointer(src.data + img * cin * hw)
            let o = out.data + img * cout * 4 * hw
            let tailPadded = BufferPool.scratch(pool, "ops.upsample2x2.tail", count: cin * 24)
            Parallel.forRanges(blocks, grain: 4) { r in
                for blk in r {
                    let j0 = blk * 24
                    var base = x + j0, plane = hw
                    if j0 + 24 > hw {
                        // Last block: copy its positions into a zero-filled [cin][24] buffer.
                        let t = tailPadded.pointer
                        t.initialize(repeating: 0, count: cin * 24)
                        for c in 0..<cin { (t + c * 24).update(from: x + c * hw + j0, count: hw - j0) }
                        base = UnsafePointer(t)
                        plane = 24
                    }
                    for oc in 0..<cout {
                        upsampleBlock(base, plane: plane, cin: cin, weight: UnsafePointer(wp) + oc * cin * 4,
                                      bias: bp?[oc] ?? 0, j0: j0, count: min(24, hw - j0), w: w, ow: ow,
                                      out: o + oc * 4 * hw)
                    }
                }
            }
            withExtendedLifetime(tailPadded) {}
        }
        withExtendedLifetime(packed) {}
    }

    /// Input positions j0 ..< j0+count (of 24) for one output channel; `x` points at position j0 of channel 0, and
    /// channels are `plane` apart. Kept out of line so the vector loads stay inlined (see DirectConv2d).
    @inline(never)
    static func upsampleBlock(_ x: UnsafePointer<Float>, plane: Int, cin: Int, weight: UnsafePointer<Float>,
                              bias: Float, j0: Int, count: Int, w: Int, ow: Int, out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let b = V(repeating: bias)
        var acc = DirectAccumulators(b, b, b, b)  // channel j of the accumulators = tap (ky, kx) = (j / 2, j % 2)
        var wt = weight
        for c in 0..<cin {
            acc.tap(x + c * plane, wt)
            wt += 4
        }
        // Rows: tap 0 / 1 (ky = 0) zip into output row 2y, taps 2 / 3 into row 2y + 1.
        let iy = j0 / w, ix = j0 - iy * w
        if count == 24 && ix + 24 <= w {
            let top = out + 2 * iy * ow + 2 * ix, bottom = top + ow
            storeZipped(acc.a00, acc.a10, top); storeZipped(acc.a01, acc.a11, top + 16)
            storeZipped(acc.a02, acc.a12, top + 32)
            storeZipped(acc.a20, acc.a30, bottom); storeZipped(acc.a21, acc.a31, bottom + 16)
            storeZipped(acc.a22, acc.a32, bottom + 32)
            return
        }
        // Across an input row end, or the short last block: position by position.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 96) { tmp in
            let t = tmp.baseAddress!
            SIMDMath.store(acc.a00, t); SIMDMath.store(acc.a01, t + 8); SIMDMath.store(acc.a02, t + 16)
            SIMDMath.store(acc.a10, t + 24); SIMDMath.store(acc.a11, t + 32); SIMDMath.store(acc.a12, t + 40)
            SIMDMath.store(acc.a20, t + 48); SIMDMath.store(acc.a21, t + 56); SIMDMath.store(acc.a22, t + 64)
            SIMDMath.store(acc.a30, t + 72); SIMDMath.store(acc.a31, t + 80); SIMDMath.store(acc.a32, t + 88)
            for lane in 0..<count {
                let p = j0 + lane, y = p / w, xx = p - y * w
                let top = out + 2 * y * ow + 2 * xx
                top[0] = t[lane]; top[1] = t[24 + lane]
                top[ow] = t[48 + lane]; top[ow + 1] = t[72 + lane]
            }
        }
    }

    /// dst[0 ..< 16] = even[0], odd[0], even[1], odd[1], …
    @inline(__always)
    static func storeZipped(_ even: SIMD8<Float>, _ odd: SIMD8<Float>, _ dst: UnsafeMutablePointer<Float>) {
        SIMDMath.store(SIMD8(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3]), dst)
        SIMDMath.store(SIMD8(even[4], odd[4], even[5], odd[5], even[6], odd[6], even[7], odd[7]), dst + 8)
    }
}
