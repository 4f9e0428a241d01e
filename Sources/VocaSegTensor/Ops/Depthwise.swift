import Foundation

/// Depthwise convolution (groups == channels, one filter per channel) on NCHW, as a direct kernel: no im2col, no
/// GEMM. Parallel over (sample, channel) planes. Each plane is first copied into a zero-padded scratch plane, so
/// the borders cost one copy and the inner loop has no bounds tests: every output row is a sum of kh·kw shifted
/// input rows, accumulated 32 outputs at a time in four 8-lane registers.
extension Ops {
    public static func depthwiseConv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1,
                                       padding: Int = 0, dilation: Int = 1, activation: Activation = .identity) -> Tensor {
        depthwiseConv2d(x, weight: weight, bias: bias,
                        geometry: Conv2dGeometry(stride: stride, padding: padding, dilation: dilation),
                        activation: activation)
    }

    /// Weight [C, 1, kh, kw]; input [N, C, H, W] or [C, H, W].
    public static func depthwiseConv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, geometry g: Conv2dGeometry,
                                       activation: Activation = .identity, out: Tensor? = nil) -> Tensor {
        opCheck(x.rank == 3 || x.rank == 4, "depthwiseConv2d: input must be [N, C, H, W], got \(x.shape)")
        let n = x.rank == 4 ? x.shape[0] : 1
        let c = x.shape[x.rank - 3], h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        opCheck(weight.rank == 4 && weight.shape[0] == c && weight.shape[1] == 1,
                     "depthwiseConv2d: weight \(weight.shape) for \(c) channels (expected [C, 1, kh, kw])")
        opCheck(bias == nil || bias!.count == c, "depthwiseConv2d: bias size")
        let kh = weight.shape[2], kw = weight.shape[3]
        let (oh, ow) = g.outputHW(h: h, w: w, kh: kh, kw: kw)
        let outShape = x.rank == 4 ? [n, c, oh, ow] : [c, oh, ow]
        let y: Tensor
        if let out {
            opCheck(out.isContiguous && out.shape == outShape, "depthwiseConv2d: out \(out.shape) vs \(outShape)")
            y = out
        } else {
            y = Tensor(uninitializedShape: outShape)
        }
        if y.count == 0 { return y }
        let src = x.contiguous(), wc = weight.contiguous(), b = bias?.contiguous()
        // Padded plane: the input placed at (padH, padW), zeros around; extra columns on the right so that the
        // last vector of a row may read past the needed span without leaving the buffer.
        let ph = max(h + 2 * g.padH, (oh - 1) * g.strideH + (kh - 1) * g.dilationH + 1)
        let pw = max(w + 2 * g.padW, (ow - 1) * g.strideW + (kw - 1) * g.dilationW + 1) + 32
        let sp = src.data, wp = wc.data, bp = b?.data, dp = y.data
        let unitStride = g.strideH == 1 && g.strideW == 1
        Parallel.forRanges(n * c) { r in
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: ph * pw)
            defer { padded.deallocate() }
            padded.initialize(repeating: 0, count: ph * pw)
            for plane in r {
                let ch = plane % c
                let input = sp + plane * h * w
                for iy in 0..<h {
                    (padded + (iy + g.padH) * pw + g.padW).update(from: input + iy * w, count: w)
                }
                let k = wp + ch * kh * kw
                let o = dp + plane * oh * ow
                let b0 = bp?[ch] ?? 0
                if unitStride {
                    depthwisePlaneUnitStride(padded, pw: pw, kernel: k, kh: kh, kw: kw, dh: g.dilationH,
                                             dw: g.dilationW, bias: b0, out: o, oh: oh, ow: ow)
                } else {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var acc = b0
                            for ky in 0..<kh {
                                let row = padded + (oy * g.strideH + ky * g.dilationH) * pw + ox * g.strideW
                                for kx in 0..<kw { acc += k[ky * kw + kx] * row[kx * g.dilationW] }
                            }
                            o[oy * ow + ox] = acc
                        }
                    }
                }
                if activation != .identity { activation.apply(o, o, count: oh * ow) }
            }
        }
        withExtendedLifetime((src, wc, b)) {}
        return y
    }

    /// One plane, stride 1: out[oy, ox] = bias + Σ k[ky, kx]·padded[oy + ky·dh, ox + kx·dw].
    ///
    /// Two output rows × 32 columns are computed together in eight accumulators: eight independent FMA chains
    /// cover the FMA latency on both pipes, and with dilation 1 each input vector loaded serves both rows.
    @inline(__always)
    static func depthwisePlaneUnitStride(_ padded: UnsafePointer<Float>, pw: Int, kernel k: UnsafePointer<Float>,
                                         kh: Int, kw: Int, dh: Int, dw: Int, bias: Float,
                                         out o: UnsafeMutablePointer<Float>, oh: Int, ow: Int) {
        typealias V = SIMD8<Float>
        let bv = V(repeating: bias)
        var oy = 0
        if dh == 1 {
            while oy + 2 <= oh {
                let o0 = o + oy * ow, o1 = o0 + ow
                var ox = 0
                while ox + 32 <= ow {
                    var a0 = bv, a1 = bv, a2 = bv, a3 = bv, b0 = bv, b1 = bv, b2 = bv, b3 = bv
                    // Input row oy + r feeds output row oy with kernel row r and row oy + 1 with kernel row r − 1.
                    for r in 0...kh {
                        let row = padded + (oy + r) * pw + ox
                        for kx in 0..<kw {
                            let p = row + kx * dw
                            let x0 = SIMDMath.load(p), x1 = SIMDMath.load(p + 8)
                            let x2 = SIMDMath.load(p + 16), x3 = SIMDMath.load(p + 24)
                            if r < kh {
                                let w = V(repeating: k[r * kw + kx])
                                a0 = a0.addingProduct(x0, w); a1 = a1.addingProduct(x1, w)
                                a2 = a2.addingProduct(x2, w); a3 = a3.addingProduct(x3, w)
                            }
                            if r > 0 {
                                let w = V(repeating: k[(r - 1) * kw + kx])
                                b0 = b0.addingProduct(x0, w); b1 = b1.addingProduct(x1, w)
                                b2 = b2.addingProduct(x2, w); b3 = b3.addingProduct(x3, w)
                            }
                        }
                    }
                    SIMDMath.store(a0, o0 + ox); SIMDMath.store(a1, o0 + ox + 8)
                    SIMDMath.store(a2, o0 + ox + 16); SIMDMath.store(a3, o0 + ox + 24)
                    SIMDMath.store(b0, o1 + ox); SIMDMath.store(b1, o1 + ox + 8)
                    SIMDMath.store(b2, o1 + ox + 16); SIMDMath.store(b3, o1 + ox + 24)
                    ox += 32
                }
                oy += 2
            }
            // Columns past the last full 32-block: 8 at a time, four output rows per pass (four FMA chains; each
            // input vector feeds up to four rows).
            let tailStart = ow - ow % 32
            if tailStart < ow {
                var ty = 0
                while ty < oy {
                    let rows = min(4, oy - ty)
                    var ox = tailStart
                    while ox < ow {
                        var a0 = bv, a1 = bv, a2 = bv, a3 = bv
                        for r in 0..<(rows + kh - 1) {
                            let row = padded + (ty + r) * pw + ox
                            for kx in 0..<kw {
                                let x0 = SIMDMath.load(row + kx * dw)
                                if r < kh { a0 = a0.addingProduct(x0, V(repeating: k[r * kw + kx])) }
                                if r >= 1 && r - 1 < kh { a1 = a1.addingProduct(x0, V(repeating: k[(r - 1) * kw + kx])) }
                                if r >= 2 && r - 2 < kh { a2 = a2.addingProduct(x0, V(repeating: k[(r - 2) * kw + kx])) }
                                if r >= 3 && r - 3 < kh { a3 = a3.addingProduct(x0, V(repeating: k[(r - 3) * kw + kx])) }
                            }
                        }
                        let left = ow - ox
                        storePartial(a0, o + ty * ow + ox, left)
                        if rows > 1 { storePartial(a1, o + (ty + 1) * ow + ox, left) }
                        if rows > 2 { storePartial(a2, o + (ty + 2) * ow + ox, left) }
                        if rows > 3 { storePartial(a3, o + (ty + 3) * ow + ox, left) }
                        ox += 8
                    }
                    ty += rows
                }
            }
        }
        // Remaining single rows (odd height, or dilated rows).
        while oy < oh {
            let orow = o + oy * ow
            var ox = 0
            while ox + 32 <= ow {
                var a0 = bv, a1 = bv, a2 = bv, a3 = bv
                for ky in 0..<kh {
                    let row = padded + (oy + ky * dh) * pw + ox
                    for kx in 0..<kw {
                        let w = V(repeating: k[ky * kw + kx])
                        let p = row + kx * dw
                        a0 = a0.addingProduct(SIMDMath.load(p), w)
                        a1 = a1.addingProduct(SIMDMath.load(p + 8), w)
                        a2 = a2.addingProduct(SIMDMath.load(p + 16), w)
                        a3 = a3.addingProduct(SIMDMath.load(p + 24), w)
                    }
                }
                SIMDMath.store(a0, orow + ox); SIMDMath.store(a1, orow + ox + 8)
                SIMDMath.store(a2, orow + ox + 16); SIMDMath.store(a3, orow + ox + 24)
                ox += 32
            }
            while ox < ow {
                var a0 = bv
                for ky in 0..<kh {
                    let row = padded + (oy + ky * dh) * pw + ox
                    for kx in 0..<kw { a0 = a0.addingProduct(SIMDMath.load(row + kx * dw), V(repeating: k[ky * kw + kx])) }
                }
                storePartial(a0, orow + ox, ow - ox)
                ox += 8
            }
            oy += 1
        }
    }

    /// Stores min(n, 8) lanes of `v` at `p`.
    @inline(__always)
    static func storePartial(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 8 {
            SIMDMath.store(v, p)
        } else {
            for t in 0..<n { p[t] = v[t] }
        }
    }
}
