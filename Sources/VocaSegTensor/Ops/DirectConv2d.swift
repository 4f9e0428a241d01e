import Foundation

/// Direct (im2col-free) stride-1 convolution for layers with few output channels, e.g. ERR-Seg's decoder 3×3 convs
/// (64→64 at 40², 32→32 at 80², 16→16 at 160², run once per kept class). With so few output channels a GEMM reuses
/// each unfolded input value only Cout times, so im2col and packing traffic dominate; here every input vector
/// loaded from a zero-padded copy of the image feeds four output channels at once (12 accumulators: 4 channels ×
/// 24 positions; per input channel and tap 3 vector loads and 4 weight broadcasts feed 12 FMAs).
///
/// Positions are counted in the padded image's row pitch: output (oy, ox) is position oy·pw + ox, and its input
/// for tap (ky, kx) sits at that position + ky·dh·pw + kx·dw in every padded input plane. Blocks of 24 positions
/// therefore run straight across row ends; the pw − ow positions per row that fall in the right padding are
/// computed and not stored (2 of 162 at width 160, 2 of 42 at width 40). Rows of 40 or 80 would otherwise leave
/// 16- or 8-wide tails that starve the FMA units.
extension Ops {
    /// Positions per block (three 8-lane vectors) and output channels per block.
    static let directBlockPositions = 24, directBlockChannels = 4

    static func directConv2d(_ src: Tensor, weight wc: Tensor, bias: Tensor?, geometry g: Conv2dGeometry,
                             activation: Activation, out: Tensor, pool: BufferPool?) {
        let n = src.rank == 4 ? src.shape[0] : 1
        let cin = src.shape[src.rank - 3], h = src.shape[src.rank - 2], w = src.shape[src.rank - 1]
        let cout = wc.shape[0], kh = wc.shape[2], kw = wc.shape[3]
        let (oh, ow) = g.outputHW(h: h, w: w, kh: kh, kw: kw)
        let ph = oh + (kh - 1) * g.dilationH, pw = ow + (kw - 1) * g.dilationW  // = h + 2·padH, w + 2·padW
        let span = oh * pw                                                     // positions incl. the padding columns
        let spare = directBlockPositions + (kw - 1) * g.dilationW              // the last block reads past the plane
        let plane = ph * pw + spare
        let taps = kh * kw
        let coBlocks = (cout + directBlockChannels - 1) / directBlockChannels

        let padded = BufferPool.scratch(pool, "ops.conv2d.direct", count: cin * plane)
        let packed = BufferPool.scratch(pool, "ops.conv2d.direct.weight", count: coBlocks * cin * taps * directBlockChannels)
        // Weights as [coBlock][cin][tap][4 channels] (channels past Cout are zero), so a block's four broadcasts
        // read one 16-byte group and the stream over (cin, tap) is sequential.
        let wp = packed.pointer
        let wsrc = UnsafePointer(wc.data)
        for cb in 0..<coBlocks {
            for c in 0..<cin {
                for t in 0..<taps {
                    let dst = wp + ((cb * cin + c) * taps + t) * directBlockChannels
                    for j in 0..<directBlockChannels {
                        let co = cb * directBlockChannels + j
                        dst[j] = co < cout ? wsrc[(co * cin + c) * taps + t] : 0
                    }
                }
            }
        }
        let offsets = (0..<taps).map { (($0 / kw) * g.dilationH * pw) + ($0 % kw) * g.dilationW }
        let pp = padded.pointer
        let bp = bias.map { UnsafePointer($0.data) }
        let blocks = (span + directBlockPositions - 1) / directBlockPositions
        offsets.withUnsafeBufferPointer { offs in
            let tapOffs = offs.baseAddress!
            for img in 0..<n {
                fillPadded(src.data + img * cin * h * w, channels: cin, h: h, w: w, padH: g.padH, padW: g.padW,
                           pitch: pw, rows: ph, plane: plane, into: pp)
                let oImg = out.data + img * cout * oh * ow
                // Blocks outermost: the few input rows a block reads stay in L1 across the channel blocks.
                Parallel.forRanges(blocks, grain: 8) { r in
                    for blk in r {
                        let j0 = blk * directBlockPositions
                        for cb in 0..<coBlocks {
                            directBlock(UnsafePointer(pp) + j0, plane: plane, cin: cin, taps: taps, tapOffsets: tapOffs,
                                        weight: UnsafePointer(wp) + cb * cin * taps * directBlockChannels,
                                        bias: bp, co0: cb * directBlockChannels, cout: cout, j0: j0, span: span,
                                        pitch: pw, ow: ow, out: oImg, outPlane: oh * ow, activation: activation)
                        }
                    }
                }
            }
        }
        withExtendedLifetime((padded, packed)) {}
    }

    /// Copies `channels` planes of h×w into `rows`×`pitch` planes of stride `plane` with zero borders (and a zero
    /// tail after each plane), parallel over channels. Only the border is cleared: the interior is overwritten.
    static func fillPadded(_ x: UnsafePointer<Float>, channels: Int, h: Int, w: Int, padH: Int, padW: Int, pitch: Int,
                           rows: Int, plane: Int, into pp: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(channels) { r in
            for c in r {
                let dst = pp + c * plane, srcPlane = x + c * h * w
                dst.initialize(repeating: 0, count: padH * pitch)
                for iy in 0..<h {
                    let row = dst + (iy + padH) * pitch
                    row.initialize(repeating: 0, count: padW)
                    (row + padW).update(from: srcPlane + iy * w, count: w)
                    (row + padW + w).initialize(repeating: 0, count: pitch - padW - w)
                }
                let below = (padH + h) * pitch
                (dst + below).initialize(repeating: 0, count: plane - below)
            }
        }
    }

    /// Positions j0 ..< j0+24 of output channels co0 ..< co0+4. `x` points at position j0 of input plane 0.
    /// Kept out of line: inlined into the caller, the optimiser stopped inlining the vector loads.
    @inline(never)
    static func directBlock(_ x: UnsafePointer<Float>, plane: Int, cin: Int, taps: Int, tapOffsets: UnsafePointer<Int>,
                            weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, co0: Int, cout: Int, j0: Int,
                            span: Int, pitch: Int, ow: Int, out: UnsafeMutablePointer<Float>, outPlane: Int,
                            activation: Activation) {
        typealias V = SIMD8<Float>
        func biasVector(_ j: Int) -> V { V(repeating: co0 + j < cout ? bias?[co0 + j] ?? 0 : 0) }
        var acc = DirectAccumulators(biasVector(0), biasVector(1), biasVector(2), biasVector(3))
        var wt = weight
        if taps == 9 && tapOffsets[1] == 1 && tapOffsets[2] == 2 && tapOffsets[4] == tapOffsets[3] + 1 {
            // 3×3 without dilation (the decoder's case): the nine taps unrolled with constant column offsets.
            let rowStep = tapOffsets[3]
            for c in 0..<cin {
                let r0 = x + c * plane, r1 = r0 + rowStep, r2 = r1 + rowStep
                acc.tap(r0, wt); acc.tap(r0 + 1, wt + 4); acc.tap(r0 + 2, wt + 8)
                acc.tap(r1, wt + 12); acc.tap(r1 + 1, wt + 16); acc.tap(r1 + 2, wt + 20)
                acc.tap(r2, wt + 24); acc.tap(r2 + 1, wt + 28); acc.tap(r2 + 2, wt + 32)
                wt += 36
            }
        } else {
            for c in 0..<cin {
                let base = x + c * plane
                for t in 0..<taps {
                    acc.tap(base + tapOffsets[t], wt)
                    wt += 4
                }
            }
        }
        let (a00, a01, a02, a10, a11, a12) = (acc.a00, acc.a01, acc.a02, acc.a10, acc.a11, acc.a12)
        let (a20, a21, a22, a30, a31, a32) = (acc.a20, acc.a21, acc.a22, acc.a30, acc.a31, acc.a32)
        let oy = j0 / pitch, ox = j0 - oy * pitch
        let channels = min(directBlockChannels, cout - co0)
        let o = out + co0 * outPlane
        if ox + directBlockPositions <= ow {
            // The whole block lies inside one output row.
            let dst = o + oy * ow + ox
            SIMDMath.store(a00, dst); SIMDMath.store(a01, dst + 8); SIMDMath.store(a02, dst + 16)
            if channels > 1 { SIMDMath.store(a10, dst + outPlane); SIMDMath.store(a11, dst + outPlane + 8); SIMDMath.store(a12, dst + outPlane + 16) }
            if channels > 2 { SIMDMath.store(a20, dst + 2 * outPlane); SIMDMath.store(a21, dst + 2 * outPlane + 8); SIMDMath.store(a22, dst + 2 * outPlane + 16) }
            if channels > 3 { SIMDMath.store(a30, dst + 3 * outPlane); SIMDMath.store(a31, dst + 3 * outPlane + 8); SIMDMath.store(a32, dst + 3 * outPlane + 16) }
            if activation != .identity {
                for j in 0..<channels { activation.apply(dst + j * outPlane, dst + j * outPlane, count: directBlockPositions) }
            }
            return
        }
        // The block crosses a row end (or the end of the image): store the valid runs of each row it touches.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: directBlockChannels * directBlockPositions) { tmp in
            let t = tmp.baseAddress!
            SIMDMath.store(a00, t); SIMDMath.store(a01, t + 8); SIMDMath.store(a02, t + 16)
            SIMDMath.store(a10, t + 24); SIMDMath.store(a11, t + 32); SIMDMath.store(a12, t + 40)
            SIMDMath.store(a20, t + 48); SIMDMath.store(a21, t + 56); SIMDMath.store(a22, t + 64)
            SIMDMath.store(a30, t + 72); SIMDMath.store(a31, t + 80); SIMDMath.store(a32, t + 88)
            var lane = 0, y = oy, col = ox
            while lane < directBlockPositions && y * pitch + col < span {
                let run = min(directBlockPositions - lane, max(0, ow - col))
                if run > 0 {
                    for j in 0..<channels {
                        let dst = o + j * outPlane + y * ow + col
                        dst.update(from: t + j * 24 + lane, count: run)
                        if activation != .identity { activation.apply(dst, dst, count: run) }
                    }
                }
                lane += pitch - col  // past this row's padding columns to the next row's first position
                y += 1
                col = 0
            }
        }
    }
}

/// The 4 channels × 24 positions of a direct-convolution block, in twelve vector registers.
struct DirectAccumulators {
    typealias V = SIMD8<Float>
    var a00: V, a01: V, a02: V, a10: V, a11: V, a12: V, a20: V, a21: V, a22: V, a30: V, a31: V, a32: V

    @inline(__always)
    init(_ b0: V, _ b1: V, _ b2: V, _ b3: V) {
        (a00, a01, a02, a10, a11, a12) = (b0, b0, b0, b1, b1, b1)
        (a20, a21, a22, a30, a31, a32) = (b2, b2, b2, b3, b3, b3)
    }

    /// One input channel and tap: 24 input positions from `p` times the four channels' weights at `w`.
    @inline(__always)
    mutating func tap(_ p: UnsafePointer<Float>, _ w: UnsafePointer<Float>) {
        let x0 = SIMDMath.load(p), x1 = SIMDMath.load(p + 8), x2 = SIMDMath.load(p + 16)
        let w0 = V(repeating: w[0]), w1 = V(repeating: w[1]), w2 = V(repeating: w[2]), w3 = V(repeating: w[3])
        a00 = a00.addingProduct(x0, w0); a01 = a01.addingProduct(x1, w0); a02 = a02.addingProduct(x2, w0)
        a10 = a10.addingProduct(x0, w1); a11 = a11.addingProduct(x1, w1); a12 = a12.addingProduct(x2, w1)
        a20 = a20.addingProduct(x0, w2); a21 = a21.addingProduct(x1, w2); a22 = a22.addingProduct(x2, w2)
        a30 = a30.addingProduct(x0, w3); a31 = a31.addingProduct(x1, w3); a32 = a32.addingProduct(x2, w3)
    }
}
