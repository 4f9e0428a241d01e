import Foundation

/// Geometry of a 2-D convolution along both axes (PyTorch's `stride`, `padding`, `dilation`).
public struct Conv2dGeometry: Sendable, Equatable {
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var dilationH: Int, dilationW: Int

    public init(stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        self.init(stride: (stride, stride), padding: (padding, padding), dilation: (dilation, dilation))
    }

    public init(stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int) = (1, 1)) {
        strideH = stride.0; strideW = stride.1
        padH = padding.0; padW = padding.1
        dilationH = dilation.0; dilationW = dilation.1
        opCheck(strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0 && padH >= 0 && padW >= 0,
                     "Conv2dGeometry: stride/dilation must be positive and padding non-negative")
    }

    /// Output size of a convolution over `size` with a kernel of `kernel` taps.
    func outputSize(_ size: Int, kernel: Int, stride: Int, pad: Int, dilation: Int) -> Int {
        let span = dilation * (kernel - 1) + 1
        return size + 2 * pad < span ? 0 : (size + 2 * pad - span) / stride + 1
    }

    func outputHW(h: Int, w: Int, kh: Int, kw: Int) -> (Int, Int) {
        (outputSize(h, kernel: kh, stride: strideH, pad: padH, dilation: dilationH),
         outputSize(w, kernel: kw, stride: strideW, pad: padW, dilation: dilationW))
    }
}

extension Ops {
    /// `F.conv2d` on [N, Cin, H, W] (or [Cin, H, W]) with weight [Cout, Cin/groups, kh, kw] and optional bias,
    /// followed by an optional fused activation (e.g. ReLU/ReLU6 after a folded BatchNorm).
    ///
    /// Paths: depthwise (groups == Cin == Cout) → direct SIMD kernel; 1×1 stride 1 no padding → one GEMM per
    /// (sample, group) straight on NCHW; stride 1 with few output channels (≤ `KernelSettings.directConvMaxOutputChannels`) →
    /// direct kernel (DirectConv2d.swift); otherwise im2col (tiled over output rows so the column buffer stays
    /// near `KernelSettings.im2colBudget` floats) + GEMM. `pool` supplies reusable scratch for the column buffer; `out`, if given,
    /// is a contiguous tensor of the output's shape that receives the result (e.g. a pooled buffer).
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                              dilation: Int = 1, groups: Int = 1, activation: Activation = .identity,
                              pool: BufferPool? = nil, out: Tensor? = nil) -> Tensor {
        conv2d(x, weight: weight, bias: bias, geometry: Conv2dGeometry(stride: stride, padding: padding, dilation: dilation),
               groups: groups, activation: activation, pool: pool, out: out)
    }

    /// Floats of im2col columns per GEMM call (16 MB). Every extra tile makes OpenBLAS pack the weights again:
    /// ERR-Seg's 3×3 guidance conv on the 1024-channel os32 map (3.7 M column floats at 640) ran at 68–74 % of sgemm
    /// in two tiles and at 81 % in one (op bench `conv3x3_agg_guid_*`, `VOCASEG_BENCH_IM2COL`).

    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, geometry g: Conv2dGeometry,
                              groups: Int = 1, activation: Activation = .identity, pool: BufferPool? = nil,
                              out given: Tensor? = nil) -> Tensor {
        opCheck(x.rank == 3 || x.rank == 4, "conv2d: input must be [N, C, H, W], got \(x.shape)")
        opCheck(weight.rank == 4, "conv2d: weight must be [Cout, Cin/groups, kh, kw], got \(weight.shape)")
        let batched = x.rank == 4
        let n = batched ? x.shape[0] : 1
        let cin = x.shape[x.rank - 3], h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3]
        opCheck(groups > 0 && cin % groups == 0 && cout % groups == 0 && weight.shape[1] == cin / groups,
                     "conv2d: input \(x.shape), weight \(weight.shape), groups \(groups) do not fit")
        opCheck(bias == nil || bias!.count == cout, "conv2d: bias has \(bias!.count) values for \(cout) outputs")
        let (oh, ow) = g.outputHW(h: h, w: w, kh: kh, kw: kw)
        let outShape = batched ? [n, cout, oh, ow] : [cout, oh, ow]

        opCheck(given == nil || (given!.shape == outShape && given!.isContiguous),
                     "conv2d: out must be contiguous \(outShape), got \(given!.shape)")
        if groups == cin && cout == cin && groups > 1 {
            return depthwiseConv2d(x, weight: weight, bias: bias, geometry: g, activation: activation, out: given)
        }
        let out = given ?? Tensor(uninitializedShape: outShape)
        if out.count == 0 { return out }
        let src = x.contiguous()
        let wc = weight.contiguous()
        let cinG = cin / groups, coutG = cout / groups
        let kdim = cinG * kh * kw
        let ohw = oh * ow
        let w2 = wc.reshaped([cout, kdim])

        let pointwise = kh == 1 && kw == 1 && g.strideH == 1 && g.strideW == 1 && g.padH == 0 && g.padW == 0
        let bc = bias?.contiguous()
        let perImage = kdim * ohw
        let settings = KernelSettings.current
        let im2colBudget = settings.im2colBudget
        if !pointwise && groups == 1 && g.strideH == 1 && g.strideW == 1 && cout <= settings.directConvMaxOutputChannels {
            directConv2d(src, weight: wc, bias: bc, geometry: g, activation: activation, out: out, pool: pool)
            withExtendedLifetime((src, wc, bc)) {}
            return out
        }
        if !pointwise && groups == 1 && n > 1 && 2 * perImage <= im2colBudget {
            // Many small images (ERR-Seg's decoder runs every kept class as a batch item): unfold several images
            // side by side so one GEMM has enough columns, then copy each image's block out with bias and
            // activation applied in the same pass.
            let nb = min(n, im2colBudget / perImage)
            let cols = BufferPool.scratch(pool, "ops.conv2d.im2col", count: kdim * nb * ohw)
            let tmp = BufferPool.scratch(pool, "ops.conv2d.batched", count: cout * nb * ohw)
            var img0 = 0
            while img0 < n {
                let cnt = min(nb, n - img0)
                for i in 0..<cnt {
                    im2col(src.data + (img0 + i) * cin * h * w, channels: cin, h: h, w: w, kh: kh, kw: kw, geometry: g,
                           ow: ow, oy0: 0, rows: oh, into: cols.pointer + i * ohw, ld: cnt * ohw)
                }
                let colT = Tensor(storage: cols, shape: [kdim, cnt * ohw], strides: [cnt * ohw, 1], offset: 0)
                gemm(w2, transA: false, colT, transB: false, c: tmp.pointer, ldc: cnt * ohw)
                let tp = UnsafePointer(tmp.pointer), op = out.data + img0 * cout * ohw, bp = bc?.data
                Parallel.forRanges(cnt * cout, grain: max(1, 16384 / max(ohw, 1))) { r in
                    for item in r {
                        let i = item / cout, co = item % cout
                        let dst = op + (i * cout + co) * ohw, s = tp + co * cnt * ohw + i * ohw
                        if let bp {
                            let bv = SIMD8<Float>(repeating: bp[co])
                            SIMDMath.map(s, dst, count: ohw) { $0 + bv }
                            if activation != .identity { activation.apply(dst, dst, count: ohw) }
                        } else {
                            activation.apply(s, dst, count: ohw)
                        }
                    }
                }
                img0 += cnt
            }
            withExtendedLifetime((src, wc, bc, cols, tmp)) {}
            return out
        }
        // One image at a time. A bias is pre-filled into the output so the GEMMs accumulate onto it (beta = 1;
        // OpenBLAS would otherwise spend a pass zeroing C).
        let beta: Float = bc == nil ? 0 : 1
        for img in 0..<n {
            let xImg = src.data + img * cin * h * w
            let oImg = out.data + img * cout * ohw
            if let bc {
                Parallel.forRanges(cout, grain: max(1, 16384 / max(ohw, 1))) { r in
                    for co in r { (oImg + co * ohw).initialize(repeating: bc.data[co], count: ohw) }
                }
            }
            if pointwise {
                for grp in 0..<groups {
                    let xg = Tensor(storage: src.storage, shape: [cinG, h * w], strides: [h * w, 1],
                                    offset: src.offset + img * cin * h * w + grp * cinG * h * w)
                    gemm(w2.narrowed(dim: 0, start: grp * coutG, length: coutG), transA: false, xg, transB: false,
                         c: oImg + grp * coutG * ohw, ldc: ohw, beta: beta)
                }
            } else {
                let rowsPerTile = max(1, min(oh, im2colBudget / max(kdim * ow, 1)))
                let cols = BufferPool.scratch(pool, "ops.conv2d.im2col", count: kdim * rowsPerTile * ow)
                for grp in 0..<groups {
                    var oy0 = 0
                    while oy0 < oh {
                        let rows = min(rowsPerTile, oh - oy0)
                        im2col(xImg + grp * cinG * h * w, channels: cinG, h: h, w: w, kh: kh, kw: kw, geometry: g,
                               ow: ow, oy0: oy0, rows: rows, into: cols.pointer, ld: rows * ow)
                        let colT = Tensor(storage: cols, shape: [kdim, rows * ow], strides: [rows * ow, 1], offset: 0)
                        gemm(w2.narrowed(dim: 0, start: grp * coutG, length: coutG), transA: false, colT, transB: false,
                             c: oImg + grp * coutG * ohw + oy0 * ow, ldc: ohw, beta: beta)
                        oy0 += rows
                    }
                }
                withExtendedLifetime(cols) {}
            }
            if activation != .identity {
                channelEpilogue(oImg, channels: cout, plane: ohw, bias: nil, activation: activation)
            }
        }
        withExtendedLifetime((src, wc, bc)) {}
        return out
    }

    /// out[c, p] = activation(out[c, p] + bias[c]) over a [C, plane] block, parallel over channels.
    static func channelEpilogue(_ p: UnsafeMutablePointer<Float>, channels: Int, plane: Int, bias: Tensor?,
                                activation: Activation) {
        let b = bias?.contiguous()
        Parallel.forRanges(channels, grain: max(1, 16384 / max(plane, 1))) { r in
            for ch in r {
                let row = p + ch * plane
                if let b {
                    let bv = SIMD8<Float>(repeating: b.data[ch])
                    SIMDMath.map(row, row, count: plane) { $0 + bv }
                }
                if activation != .identity { activation.apply(row, row, count: plane) }
            }
        }
        withExtendedLifetime(b) {}
    }

    /// Unfolds output rows oy0 ..< oy0+rows of one group into columns [cin·kh·kw, rows·ow] with row stride `ld`
    /// (zero where the receptive field falls in the padding). Parallel over the cin·kh·kw column rows.
    static func im2col(_ x: UnsafePointer<Float>, channels: Int, h: Int, w: Int, kh: Int, kw: Int,
                       geometry g: Conv2dGeometry, ow: Int, oy0: Int, rows: Int, into cols: UnsafeMutablePointer<Float>,
                       ld: Int) {
        let kdim = channels * kh * kw
        let width = rows * ow
        Parallel.forRanges(kdim, grain: max(1, 4096 / max(width, 1))) { r in
            for k in r {
                let c = k / (kh * kw), ky = (k / kw) % kh, kx = k % kw
                let plane = x + c * h * w
                let dstRow = cols + k * ld
                let xOff = kx * g.dilationW - g.padW
                // Output columns whose input column is inside the image: ox in [oxLo, oxHi).
                let oxLo = xOff >= 0 ? 0 : min(ow, (-xOff + g.strideW - 1) / g.strideW)
                let oxHi = w - xOff <= 0 ? 0 : max(oxLo, min(ow, (w - xOff - 1) / g.strideW + 1))
                for oyLocal in 0..<rows {
                    let iy = (oy0 + oyLocal) * g.strideH + ky * g.dilationH - g.padH
                    let dst = dstRow + oyLocal * ow
                    if iy < 0 || iy >= h {
                        dst.initialize(repeating: 0, count: ow)
                        continue
                    }
                    let srcRow = plane + iy * w + xOff
                    if oxLo > 0 { dst.initialize(repeating: 0, count: oxLo) }
                    if g.strideW == 1 {
                        (dst + oxLo).update(from: srcRow + oxLo, count: oxHi - oxLo)
                    } else {
                        for ox in oxLo..<oxHi { dst[ox] = srcRow[ox * g.strideW] }
                    }
                    if oxHi < ow { (dst + oxHi).initialize(repeating: 0, count: ow - oxHi) }
                }
            }
        }
    }
}
