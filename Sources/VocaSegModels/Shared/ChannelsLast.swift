import Foundation
import VocaSegTensor

/// Channels-last ([B, H, W, C], C contiguous) kernels that the engine does not offer in that layout. The ConvNeXt
/// trunk and the ESCF blocks keep their activations channels-last, because every Linear works on the last
/// dimension; these kernels avoid transposing back and forth around the few spatial ops.
enum ChannelsLast {
    /// Splits `0..<count` into a few chunks per thread and runs them in parallel (`body` must not call BLAS).
    static func parallelRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = max(1, min(ParallelConfig.threads == 1 ? 1 : ParallelConfig.threads * 3, count / max(grain, 1)))
        if chunks == 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let s = count * c / chunks, e = count * (c + 1) / chunks
            if s < e { body(s..<e) }
        }
    }

    /// PyTorch conv weight [Cout, Cin, kh, kw] → [Cout, kh·kw·Cin], matching `im2col`'s (ky, kx, c) column order.
    static func packConvWeight(_ w: Tensor) -> Tensor {
        precondition(w.rank == 4)
        return w.permuted([0, 2, 3, 1]).contiguous().reshaped([w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]])
    }

    /// Depthwise weight [C, 1, k, k] → [k·k, C] (one channel vector per tap).
    static func packDepthwiseWeight(_ w: Tensor) -> Tensor {
        precondition(w.rank == 4 && w.shape[1] == 1)
        return w.reshaped([w.shape[0], w.shape[2] * w.shape[3]]).transposed(0, 1).contiguous()
    }

    /// Depthwise k×k convolution, stride 1, zero padding k/2, on [B, H, W, C]:
    /// out = bias + conv(x), or with `accumulate` out += bias + conv(x). `weight` is packed [k·k, C].
    /// Delegates to the engine's vectorised channels-last kernel.
    static func depthwiseConv(_ x: Tensor, batch: Int, height h: Int, width w: Int, channels c: Int,
                              weight: Tensor, bias: Tensor, kernel k: Int, out: Tensor, accumulate: Bool = false) {
        precondition(x.isContiguous && out.isContiguous && x.count == batch * h * w * c && out.count == x.count)
        Ops.depthwiseConv2dChannelsLast(x.reshaped([batch, h, w, c]), packedWeight: weight, bias: bias, kernelH: k,
                                        kernelW: k, out: out.reshaped([batch, h, w, c]), accumulate: accumulate)
    }

    /// Patches of a zero-padded [B, H, W, C] map for a k×k convolution with `stride`: [B·Ho·Wo, k·k·C] in
    /// (ky, kx, c) order, so that conv = patches · packConvWeight(w)ᵀ.
    static func im2col(_ x: Tensor, batch: Int, height h: Int, width w: Int, channels c: Int, kernel k: Int,
                       stride s: Int, padding p: Int, out: Tensor? = nil) -> (Tensor, Int, Int) {
        precondition(x.isContiguous && x.count == batch * h * w * c)
        let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
        let cols = out ?? Tensor(uninitializedShape: [batch * ho * wo, k * k * c])
        precondition(cols.count == batch * ho * wo * k * k * c)
        let src = x.data, dst = cols.data
        let rowLen = k * k * c
        parallelRanges(batch * ho) { rows in
            for row in rows {
                let bi = row / ho, oy = row % ho
                for ox in 0..<wo {
                    let d = dst + (row * wo + ox) * rowLen
                    for ky in 0..<k {
                        let iy = oy * s + ky - p
                        for kx in 0..<k {
                            let ix = ox * s + kx - p
                            let dd = d + (ky * k + kx) * c
                            if iy < 0 || iy >= h || ix < 0 || ix >= w {
                                dd.initialize(repeating: 0, count: c)
                            } else {
                                dd.update(from: src + ((bi * h + iy) * w + ix) * c, count: c)
                            }
                        }
                    }
                }
            }
        }
        return (cols, ho, wo)
    }

    /// Source index pairs and weights along one axis, computed in float32 as ATen's bilinear upsampling does.
    static func bilinearAxis(input: Int, output: Int, alignCorners: Bool) -> [(Int, Int, Float, Float)] {
        let axis = BilinearAxis(inSize: input, outSize: output, alignCorners: alignCorners)
        return (0..<output).map { (axis.index0[$0], axis.index1[$0], axis.lambda0[$0], axis.lambda1[$0]) }
    }

    /// `F.interpolate(mode="bilinear")` on [B, H, W, C] → [B, outH, outW, C]. With `addInto`, the result is added
    /// to that tensor instead (used for the CFM residual).
    @discardableResult
    static func resizeBilinear(_ x: Tensor, batch: Int, height h: Int, width w: Int, channels c: Int,
                               outHeight oh: Int, outWidth ow: Int, alignCorners: Bool,
                               addInto: Tensor? = nil) -> Tensor {
        precondition(x.isContiguous && x.count == batch * h * w * c)
        let out = addInto ?? Tensor(uninitializedShape: [batch, oh, ow, c])
        precondition(out.isContiguous && out.count == batch * oh * ow * c)
        let ys = bilinearAxis(input: h, output: oh, alignCorners: alignCorners)
        let xs = bilinearAxis(input: w, output: ow, alignCorners: alignCorners)
        let src = x.data, dst = out.data
        let accumulate = addInto != nil
        parallelRanges(batch * oh) { rows in
            for row in rows {
                let bi = row / oh, oy = row % oh
                let (y0, y1, h0, h1) = ys[oy]
                let r0 = src + (bi * h + y0) * w * c, r1 = src + (bi * h + y1) * w * c
                for ox in 0..<ow {
                    let (x0, x1, w0, w1) = xs[ox]
                    let a = r0 + x0 * c, b = r0 + x1 * c, cc = r1 + x0 * c, d = r1 + x1 * c
                    let o = dst + (row * ow + ox) * c
                    if accumulate {
                        for ch in 0..<c { o[ch] += h0 * (w0 * a[ch] + w1 * b[ch]) + h1 * (w0 * cc[ch] + w1 * d[ch]) }
                    } else {
                        for ch in 0..<c { o[ch] = h0 * (w0 * a[ch] + w1 * b[ch]) + h1 * (w0 * cc[ch] + w1 * d[ch]) }
                    }
                }
            }
        }
        return out
    }

    /// `F.avg_pool2d(kernel = stride = p)` on [B, H, W, C] → [B, H/p, W/p, C].
    static func avgPool(_ x: Tensor, batch: Int, height h: Int, width w: Int, channels c: Int, pool p: Int) -> Tensor {
        precondition(x.isContiguous && x.count == batch * h * w * c)
        let oh = h / p, ow = w / p
        let out = Tensor(uninitializedShape: [batch, oh, ow, c])
        let src = x.data, dst = out.data
        let inv = 1 / Float(p * p)
        parallelRanges(batch * oh) { rows in
            for row in rows {
                let bi = row / oh, oy = row % oh
                for ox in 0..<ow {
                    let o = dst + (row * ow + ox) * c
                    o.initialize(repeating: 0, count: c)
                    for dy in 0..<p {
                        for dx in 0..<p {
                            let s = src + ((bi * h + oy * p + dy) * w + ox * p + dx) * c
                            for ch in 0..<c { o[ch] += s[ch] }
                        }
                    }
                    for ch in 0..<c { o[ch] *= inv }
                }
            }
        }
        return out
    }

    /// [B, H·W, C] channels-last → [B, C, H, W] (a contiguous copy).
    static func toNCHW(_ x: Tensor, batch: Int, height h: Int, width w: Int, channels c: Int) -> Tensor {
        x.reshaped([batch, h * w, c]).permuted([0, 2, 1]).contiguous().reshaped([batch, c, h, w])
    }

    /// [B, C, H, W] → [B, H·W, C] (a contiguous copy).
    static func fromNCHW(_ x: Tensor) -> Tensor {
        let b = x.shape[0], c = x.shape[1], hw = x.shape[2] * x.shape[3]
        return x.reshaped([b, c, hw]).permuted([0, 2, 1]).contiguous()
    }
}
