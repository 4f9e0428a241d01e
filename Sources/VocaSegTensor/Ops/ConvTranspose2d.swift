import Foundation

/// `F.conv_transpose2d` on [N, Cin, H, W] with weight [Cin, Cout/groups, kh, kw] (PyTorch's layout) and bias.
///
/// k = s = 2 without padding in one group (ERR-Seg's upsampling) is a direct kernel (Upsample2x2.swift). The other
/// paths start with one GEMM per (sample, group): cols[Cout/g·kh·kw, H·W] = W_gᵀ · x_g. Then:
/// - kernel == stride, no padding, no dilation: every output pixel receives exactly one column entry, so the
///   columns are scattered into place (no zeroing, no accumulation);
/// - otherwise col2im: the output starts as zero and every column entry is added at its position.
extension Ops {
    public static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1,
                                       padding: Int = 0, outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1,
                                       pool: BufferPool? = nil) -> Tensor {
        opCheck(x.rank == 3 || x.rank == 4, "convTranspose2d: input must be [N, C, H, W], got \(x.shape)")
        opCheck(weight.rank == 4, "convTranspose2d: weight must be [Cin, Cout/groups, kh, kw]")
        let batched = x.rank == 4
        let n = batched ? x.shape[0] : 1
        let cin = x.shape[x.rank - 3], h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        opCheck(groups > 0 && cin % groups == 0 && weight.shape[0] == cin,
                     "convTranspose2d: input \(x.shape) vs weight \(weight.shape), groups \(groups)")
        opCheck(stride > 0 && dilation > 0 && padding >= 0 && outputPadding >= 0
                     && outputPadding < max(stride, dilation), "convTranspose2d: bad stride/padding/dilation")
        let coutG = weight.shape[1], cout = coutG * groups, kh = weight.shape[2], kw = weight.shape[3]
        opCheck(bias == nil || bias!.count == cout, "convTranspose2d: bias size")
        let oh = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + outputPadding + 1
        let ow = (w - 1) * stride - 2 * padding + dilation * (kw - 1) + outputPadding + 1
        opCheck(oh > 0 && ow > 0, "convTranspose2d: empty output")
        let out = Tensor(uninitializedShape: batched ? [n, cout, oh, ow] : [cout, oh, ow])
        let cinG = cin / groups, hw = h * w, ohw = oh * ow
        let rowsPerGroup = coutG * kh * kw
        let src = x.contiguous(), wc = weight.contiguous()
        let b = bias?.contiguous()
        let scatter = kh == stride && kw == stride && padding == 0 && dilation == 1 && outputPadding == 0
        if scatter && stride == 2 && groups == 1 {
            upsample2x2(src, weight: wc, bias: b, out: out, pool: pool)
            withExtendedLifetime((src, wc, b)) {}
            return out
        }
        let cols = BufferPool.scratch(pool, "ops.convTranspose2d.cols", count: rowsPerGroup * hw)
        for img in 0..<n {
            let oImg = out.data + img * cout * ohw
            if !scatter { oImg.initialize(repeating: 0, count: cout * ohw) }
            for grp in 0..<groups {
                // W_g viewed as [cinG, coutG·kh·kw]; its transpose times x_g [cinG, hw].
                let wg = Tensor(storage: wc.storage, shape: [cinG, rowsPerGroup], strides: [rowsPerGroup, 1],
                                offset: wc.offset + grp * cinG * rowsPerGroup)
                let xg = Tensor(storage: src.storage, shape: [cinG, hw], strides: [hw, 1],
                                offset: src.offset + (img * cin + grp * cinG) * hw)
                gemm(wg, transA: true, xg, transB: false, c: cols.pointer, ldc: hw)
                let colsP = UnsafePointer(cols.pointer)
                let oGroup = oImg + grp * coutG * ohw
                Parallel.forRanges(coutG) { r in
                    for o in r {
                        let plane = oGroup + o * ohw
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let col = colsP + ((o * kh + ky) * kw + kx) * hw
                                if scatter {
                                    for iy in 0..<h {
                                        let dst = plane + (iy * stride + ky) * ow + kx
                                        let s = col + iy * w
                                        for ix in 0..<w { dst[ix * stride] = s[ix] }
                                    }
                                } else {
                                    addColumn(col, into: plane, h: h, w: w, oh: oh, ow: ow, oy0: ky * dilation - padding,
                                              ox0: kx * dilation - padding, stride: stride)
                                }
                            }
                        }
                    }
                }
            }
            if let b { channelEpilogue(oImg, channels: cout, plane: ohw, bias: b, activation: .identity) }
        }
        withExtendedLifetime((src, wc, b, cols)) {}
        return out
    }

    /// plane[iy·stride + oy0, ix·stride + ox0] += col[iy, ix] where that position lies inside the output.
    @inline(__always)
    static func addColumn(_ col: UnsafePointer<Float>, into plane: UnsafeMutablePointer<Float>, h: Int, w: Int,
                          oh: Int, ow: Int, oy0: Int, ox0: Int, stride: Int) {
        for iy in 0..<h {
            let oy = iy * stride + oy0
            if oy < 0 || oy >= oh { continue }
            let dst = plane + oy * ow
            let s = col + iy * w
            for ix in 0..<w {
                let ox = ix * stride + ox0
                if ox >= 0 && ox < ow { dst[ox] += s[ix] }
            }
        }
    }
}
