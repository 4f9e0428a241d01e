import Foundation

/// Direct (im2col-free) stride-1 convolution for layers with few output channels, e.g. ERR-Seg's decoder 3×3 convs
/// (24→16, 16→16, 48→32 at 80² and 160²). With so few output channels a GEMM reuses each unfolded input value
/// only Cout times, so im2col + packing traffic dominates; here every input vector loaded from a zero-padded copy
/// of the image feeds four output channels at once (12 accumulators: 4 channels × 24 columns).
extension Ops {
    /// Output-channel limit up to which `conv2d` uses this kernel for stride-1, groups-1, non-1×1 convolutions.
    nonisolated(unsafe) public static var directConvMaxOutputChannels = 32

    static func directConv2d(_ src: Tensor, weight wc: Tensor, bias: Tensor?, geometry g: Conv2dGeometry,
                             activation: Activation, out: Tensor, pool: BufferPool?) {
        let n = src.rank == 4 ? src.shape[0] : 1
        let cin = src.shape[src.rank - 3], h = src.shape[src.rank - 2], w = src.shape[src.rank - 1]
        let cout = wc.shape[0], kh = wc.shape[2], kw = wc.shape[3]
        let (oh, ow) = g.outputHW(h: h, w: w, kh: kh, kw: kw)
        let ph = (oh - 1) + (kh - 1) * g.dilationH + 1
        let pw = (ow - 1) + (kw - 1) * g.dilationW + 1 + 24  // spare columns: the last vectors may overrun
        let paddedPlane = ph * pw
        let padded = BufferPool.scratch(pool, "ops.conv2d.direct", count: cin * paddedPlane)
        let pp = padded.pointer
        pp.initialize(repeating: 0, count: cin * paddedPlane)
        let wp = UnsafePointer(wc.data), bp = bias.map { UnsafePointer($0.data) }
        for img in 0..<n {
            let xImg = src.data + img * cin * h * w
            // Interior rows of the padded copy (the border stays zero from the initialisation above).
            Parallel.forRanges(cin) { r in
                for c in r {
                    for iy in 0..<h {
                        let py = iy + g.padH
                        (pp + c * paddedPlane + py * pw + g.padW).update(from: xImg + c * h * w + iy * w, count: w)
                    }
                }
            }
            let oImg = out.data + img * cout * oh * ow
            let coBlocks = (cout + 3) / 4
            Parallel.forRanges(coBlocks * oh, grain: 4) { r in
                for item in r {
                    let cb = item / oh, oy = item % oh
                    let co0 = cb * 4
                    if co0 + 4 <= cout {
                        directRow4(UnsafePointer(pp), plane: paddedPlane, pw: pw, cin: cin, weight: wp, co0: co0, kh: kh,
                                   kw: kw, dh: g.dilationH, dw: g.dilationW, oy: oy, ow: ow, bias: bp,
                                   out: oImg + co0 * oh * ow + oy * ow, outPlane: oh * ow)
                    } else {
                        for co in co0..<cout {
                            directRow1(UnsafePointer(pp), plane: paddedPlane, pw: pw, cin: cin, weight: wp, co: co, kh: kh,
                                       kw: kw, dh: g.dilationH, dw: g.dilationW, oy: oy, ow: ow, bias: bp,
                                       out: oImg + co * oh * ow + oy * ow)
                        }
                    }
                    if activation != .identity {
                        for co in co0..<min(cout, co0 + 4) {
                            let row = oImg + co * oh * ow + oy * ow
                            activation.apply(row, row, count: ow)
                        }
                    }
                }
            }
        }
        withExtendedLifetime(padded) {}
    }

    /// Output row `oy` of channels co0 ..< co0+4.
    @inline(__always)
    static func directRow4(_ pp: UnsafePointer<Float>, plane: Int, pw: Int, cin: Int, weight: UnsafePointer<Float>,
                           co0: Int, kh: Int, kw: Int, dh: Int, dw: Int, oy: Int, ow: Int,
                           bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, outPlane: Int) {
        typealias V = SIMD8<Float>
        let ktaps = kh * kw
        let wStride = cin * ktaps  // distance between consecutive output channels' filters
        let w0 = weight + co0 * wStride
        let b0 = V(repeating: bias?[co0] ?? 0), b1 = V(repeating: bias?[co0 + 1] ?? 0)
        let b2 = V(repeating: bias?[co0 + 2] ?? 0), b3 = V(repeating: bias?[co0 + 3] ?? 0)
        var ox = 0
        while ox + 24 <= ow || ow - ox > 16 {
            var a00 = b0, a01 = b0, a02 = b0, a10 = b1, a11 = b1, a12 = b1
            var a20 = b2, a21 = b2, a22 = b2, a30 = b3, a31 = b3, a32 = b3
            for c in 0..<cin {
                let base = pp + c * plane + oy * pw + ox
                let wc = w0 + c * ktaps
                for ky in 0..<kh {
                    let row = base + ky * dh * pw
                    for kx in 0..<kw {
                        let p = row + kx * dw
                        let x0 = SIMDMath.load(p), x1 = SIMDMath.load(p + 8), x2 = SIMDMath.load(p + 16)
                        let t = ky * kw + kx
                        let w0v = V(repeating: wc[t]), w1v = V(repeating: wc[t + wStride])
                        let w2v = V(repeating: wc[t + 2 * wStride]), w3v = V(repeating: wc[t + 3 * wStride])
                        a00 = a00.addingProduct(x0, w0v); a01 = a01.addingProduct(x1, w0v); a02 = a02.addingProduct(x2, w0v)
                        a10 = a10.addingProduct(x0, w1v); a11 = a11.addingProduct(x1, w1v); a12 = a12.addingProduct(x2, w1v)
                        a20 = a20.addingProduct(x0, w2v); a21 = a21.addingProduct(x1, w2v); a22 = a22.addingProduct(x2, w2v)
                        a30 = a30.addingProduct(x0, w3v); a31 = a31.addingProduct(x1, w3v); a32 = a32.addingProduct(x2, w3v)
                    }
                }
            }
            let left = ow - ox
            storeRow(a00, a01, a02, out, ox, left)
            storeRow(a10, a11, a12, out + outPlane, ox, left)
            storeRow(a20, a21, a22, out + 2 * outPlane, ox, left)
            storeRow(a30, a31, a32, out + 3 * outPlane, ox, left)
            ox += 24
        }
        // A tail of at most 16 columns: 8 columns at a time (4 accumulators) so no work is spent on columns past
        // the row end (at width 40 or 80 a 24-wide step would waste a sixth of the arithmetic).
        while ox < ow {
            var a0 = b0, a1 = b1, a2 = b2, a3 = b3
            for c in 0..<cin {
                let base = pp + c * plane + oy * pw + ox
                let wc = w0 + c * ktaps
                for ky in 0..<kh {
                    let row = base + ky * dh * pw
                    for kx in 0..<kw {
                        let x0 = SIMDMath.load(row + kx * dw)
                        let t = ky * kw + kx
                        a0 = a0.addingProduct(x0, V(repeating: wc[t]))
                        a1 = a1.addingProduct(x0, V(repeating: wc[t + wStride]))
                        a2 = a2.addingProduct(x0, V(repeating: wc[t + 2 * wStride]))
                        a3 = a3.addingProduct(x0, V(repeating: wc[t + 3 * wStride]))
                    }
                }
            }
            let left = ow - ox
            storePartial(a0, out + ox, left)
            storePartial(a1, out + outPlane + ox, left)
            storePartial(a2, out + 2 * outPlane + ox, left)
            storePartial(a3, out + 3 * outPlane + ox, left)
            ox += 8
        }
    }

    @inline(__always)
    static func storeRow(_ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ v2: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>,
                         _ ox: Int, _ left: Int) {
        if left >= 24 {
            SIMDMath.store(v0, out + ox); SIMDMath.store(v1, out + ox + 8); SIMDMath.store(v2, out + ox + 16)
        } else {
            storePartial(v0, out + ox, left)
            if left > 8 { storePartial(v1, out + ox + 8, left - 8) }
            if left > 16 { storePartial(v2, out + ox + 16, left - 16) }
        }
    }

    /// Output row `oy` of one channel (the remainder when Cout is not a multiple of 4).
    @inline(__always)
    static func directRow1(_ pp: UnsafePointer<Float>, plane: Int, pw: Int, cin: Int, weight: UnsafePointer<Float>,
                           co: Int, kh: Int, kw: Int, dh: Int, dw: Int, oy: Int, ow: Int,
                           bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let ktaps = kh * kw
        let wco = weight + co * cin * ktaps
        let bv = V(repeating: bias?[co] ?? 0)
        var ox = 0
        while ox < ow {
            var a0 = bv, a1 = bv, a2 = bv
            for c in 0..<cin {
                let base = pp + c * plane + oy * pw + ox
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let p = base + ky * dh * pw + kx * dw
                        let wv = V(repeating: wco[c * ktaps + ky * kw + kx])
                        a0 = a0.addingProduct(SIMDMath.load(p), wv)
                        a1 = a1.addingProduct(SIMDMath.load(p + 8), wv)
                        a2 = a2.addingProduct(SIMDMath.load(p + 16), wv)
                    }
                }
            }
            storeRow(a0, a1, a2, out, ox, ow - ox)
            ox += 24
        }
    }
}
