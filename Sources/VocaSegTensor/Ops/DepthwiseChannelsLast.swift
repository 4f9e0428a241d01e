import Foundation

/// Depthwise convolution on channels-last maps [B, H, W, C] (stride 1, dilation 1, zero padding), for models that
/// keep their activations channels-last around Linear layers (ConvNeXt blocks, ERR-Seg's SFM dwconv).
/// Vectorised over channels: 4 output pixels × 16 channels per step (eight FMA chains); border pixels, whose taps
/// may fall outside the image, take a bounds-checked path with the same channel vectors.
extension Ops {
    /// PyTorch depthwise weight [C, 1, kh, kw] → [kh·kw, C] (one channel vector per tap), done once at load time.
    public static func packDepthwiseChannelsLast(_ weight: Tensor) -> Tensor {
        opCheck(weight.rank == 4 && weight.shape[1] == 1, "packDepthwiseChannelsLast: weight \(weight.shape)")
        let c = weight.shape[0], taps = weight.shape[2] * weight.shape[3]
        return weight.reshaped([c, taps]).transposed(0, 1).contiguous()
    }

    /// out = bias + dwconv(x), or with `accumulate` out += bias + dwconv(x) (fuses a residual add).
    /// `x` and `out` are contiguous [B, H, W, C] (`out` must not alias `x`); `packedWeight` is [kh·kw, C] from
    /// `packDepthwiseChannelsLast`; padding defaults to kernel/2 ("same" for odd kernels).
    public static func depthwiseConv2dChannelsLast(_ x: Tensor, packedWeight: Tensor, bias: Tensor?, kernelH kh: Int,
                                                   kernelW kw: Int, padH: Int? = nil, padW: Int? = nil, out: Tensor,
                                                   accumulate: Bool = false) {
        opCheck(x.rank == 4 && x.isContiguous, "depthwiseConv2dChannelsLast: x must be contiguous [B, H, W, C]")
        let b = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3]
        let ph = padH ?? kh / 2, pw = padW ?? kw / 2
        let oh = h + 2 * ph - kh + 1, ow = w + 2 * pw - kw + 1
        opCheck(oh > 0 && ow > 0 && out.isContiguous && out.shape == [b, oh, ow, c],
                     "depthwiseConv2dChannelsLast: out \(out.shape), expected \([b, oh, ow, c])")
        opCheck(packedWeight.shape == [kh * kw, c], "depthwiseConv2dChannelsLast: weight \(packedWeight.shape)")
        opCheck(bias == nil || bias!.count == c, "depthwiseConv2dChannelsLast: bias size")
        opCheck(out.storage !== x.storage, "depthwiseConv2dChannelsLast: out must not alias x")
        let wt = packedWeight.contiguous(), bc = bias?.contiguous()
        let src = UnsafePointer(x.data), dst = out.data, wp = UnsafePointer(wt.data), bp = bc.map { UnsafePointer($0.data) }
        // Output columns whose taps all lie inside the image.
        let interiorLo = min(ow, pw), interiorHi = max(interiorLo, min(ow, w + pw - kw + 1))
        Parallel.forRanges(b * oh) { rows in
            for row in rows {
                let bi = row / oh, oy = row % oh
                let kyLo = max(0, ph - oy), kyHi = min(kh, h + ph - oy)  // taps whose input row exists
                let o = dst + row * ow * c
                let inImage = src + bi * h * w * c
                var ch = 0
                while ch < c {
                    let lanes = min(16, c - ch)
                    if lanes == 16 {
                        var ox = interiorLo
                        while ox + 4 <= interiorHi {
                            dwcl4x16(inImage, w: w, c: c, ch: ch, oy: oy, ox: ox, ph: ph, pw: pw, kw: kw, kyLo: kyLo,
                                     kyHi: kyHi, weight: wp, bias: bp, out: o + ox * c + ch, accumulate: accumulate)
                            ox += 4
                        }
                        for px in 0..<interiorLo {
                            dwclPixel(inImage, w: w, c: c, ch: ch, lanes: 16, oy: oy, ox: px, ph: ph, pw: pw, kw: kw,
                                      kyLo: kyLo, kyHi: kyHi, weight: wp, bias: bp, out: o + px * c + ch,
                                      accumulate: accumulate)
                        }
                        for px in ox..<ow {
                            dwclPixel(inImage, w: w, c: c, ch: ch, lanes: 16, oy: oy, ox: px, ph: ph, pw: pw, kw: kw,
                                      kyLo: kyLo, kyHi: kyHi, weight: wp, bias: bp, out: o + px * c + ch,
                                      accumulate: accumulate)
                        }
                    } else {
                        for px in 0..<ow {
                            dwclPixel(inImage, w: w, c: c, ch: ch, lanes: lanes, oy: oy, ox: px, ph: ph, pw: pw, kw: kw,
                                      kyLo: kyLo, kyHi: kyHi, weight: wp, bias: bp, out: o + px * c + ch,
                                      accumulate: accumulate)
                        }
                    }
                    ch += 16
                }
            }
        }
        withExtendedLifetime((wt, bc)) {}
    }

    /// Four interior output pixels (ox ..< ox+4) × 16 channels from `ch`.
    @inline(__always)
    static func dwcl4x16(_ img: UnsafePointer<Float>, w: Int, c: Int, ch: Int, oy: Int, ox: Int, ph: Int, pw: Int,
                         kw: Int, kyLo: Int, kyHi: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                         out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        typealias V = SIMD8<Float>
        let b0 = bias.map { SIMDMath.load($0 + ch) } ?? V(), b1 = bias.map { SIMDMath.load($0 + ch + 8) } ?? V()
        var a0 = b0, a1 = b1, c0 = b0, c1 = b1, d0 = b0, d1 = b1, e0 = b0, e1 = b1
        for ky in kyLo..<kyHi {
            let inRow = img + (oy + ky - ph) * w * c + (ox - pw) * c + ch
            let wRow = weight + ky * kw * c + ch
            for kx in 0..<kw {
                let wv0 = SIMDMath.load(wRow + kx * c), wv1 = SIMDMath.load(wRow + kx * c + 8)
                let p = inRow + kx * c
                a0 = a0.addingProduct(SIMDMath.load(p), wv0); a1 = a1.addingProduct(SIMDMath.load(p + 8), wv1)
                c0 = c0.addingProduct(SIMDMath.load(p + c), wv0); c1 = c1.addingProduct(SIMDMath.load(p + c + 8), wv1)
                d0 = d0.addingProduct(SIMDMath.load(p + 2 * c), wv0); d1 = d1.addingProduct(SIMDMath.load(p + 2 * c + 8), wv1)
                e0 = e0.addingProduct(SIMDMath.load(p + 3 * c), wv0); e1 = e1.addingProduct(SIMDMath.load(p + 3 * c + 8), wv1)
            }
        }
        if accumulate {
            a0 += SIMDMath.load(out); a1 += SIMDMath.load(out + 8)
            c0 += SIMDMath.load(out + c); c1 += SIMDMath.load(out + c + 8)
            d0 += SIMDMath.load(out + 2 * c); d1 += SIMDMath.load(out + 2 * c + 8)
            e0 += SIMDMath.load(out + 3 * c); e1 += SIMDMath.load(out + 3 * c + 8)
        }
        SIMDMath.store(a0, out); SIMDMath.store(a1, out + 8)
        SIMDMath.store(c0, out + c); SIMDMath.store(c1, out + c + 8)
        SIMDMath.store(d0, out + 2 * c); SIMDMath.store(d1, out + 2 * c + 8)
        SIMDMath.store(e0, out + 3 * c); SIMDMath.store(e1, out + 3 * c + 8)
    }

    /// One output pixel, `lanes` ≤ 16 channels from `ch`, taps bounds-checked (borders and channel remainders).
    @inline(__always)
    static func dwclPixel(_ img: UnsafePointer<Float>, w: Int, c: Int, ch: Int, lanes: Int, oy: Int, ox: Int, ph: Int,
                          pw: Int, kw: Int, kyLo: Int, kyHi: Int, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let kxLo = max(0, pw - ox), kxHi = min(kw, w + pw - ox)
        if lanes == 16 {
            var a0 = bias.map { SIMDMath.load($0 + ch) } ?? SIMD8<Float>()
            var a1 = bias.map { SIMDMath.load($0 + ch + 8) } ?? SIMD8<Float>()
            for ky in kyLo..<kyHi {
                let inRow = img + (oy + ky - ph) * w * c + ch
                for kx in kxLo..<kxHi {
                    let p = inRow + (ox + kx - pw) * c, wq = weight + (ky * kw + kx) * c + ch
                    a0 = a0.addingProduct(SIMDMath.load(p), SIMDMath.load(wq))
                    a1 = a1.addingProduct(SIMDMath.load(p + 8), SIMDMath.load(wq + 8))
                }
            }
            if accumulate { a0 += SIMDMath.load(out); a1 += SIMDMath.load(out + 8) }
            SIMDMath.store(a0, out); SIMDMath.store(a1, out + 8)
            return
        }
        for l in 0..<lanes {
            var acc = bias?[ch + l] ?? 0
            for ky in kyLo..<kyHi {
                for kx in kxLo..<kxHi {
                    acc += img[((oy + ky - ph) * w + ox + kx - pw) * c + ch + l] * weight[(ky * kw + kx) * c + ch + l]
                }
            }
            out[l] = accumulate ? out[l] + acc : acc
        }
    }
}
