import Foundation

extension Ops {
    /// Modulated deformable convolution v2 with torchvision `deform_conv2d` semantics:
    ///
    /// - `input` [B, Cin, H, W]; `weight` [Cout, Cin/groups, kh, kw]; `bias` [Cout] or nil.
    /// - `offset` [B, 2·offsetGroups·kh·kw, Ho, Wo]: for offset group g and tap k = i·kw + j, channel
    ///   (g·kh·kw + k)·2 is dy and the next one dx.
    /// - `mask` [B, offsetGroups·kh·kw, Ho, Wo] or nil (all ones, i.e. DCN v1).
    /// - Tap (i, j) of output (y, x) samples the input bilinearly at (y·sh − ph + i·dh + dy, x·sw − pw + j·dw + dx);
    ///   a sample outside −1 < y < H, −1 < x < W is 0, corners outside the image count as 0.
    ///
    /// Implementation: im2col with bilinear sampling into a column buffer [Cin·kh·kw, tile] for a tile of output
    /// positions (bounded memory), then one GEMM per group. The sampling geometry is computed once per tile and
    /// offset group (DeformSamplingTable); sampling is parallel over input channels, the GEMM uses the BLAS thread
    /// pool; the two phases alternate, never nest.
    public static func deformConv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor? = nil, mask: Tensor? = nil,
                             stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                             groups: Int = 1, offsetGroups: Int = 1) -> Tensor {
        opCheck(input.rank == 4 && weight.rank == 4 && offset.rank == 4, "deformConv2d: 4-d input/weight/offset")
        let b = input.shape[0], cin = input.shape[1], h = input.shape[2], w = input.shape[3]
        let cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3]
        opCheck(groups > 0 && cin % groups == 0 && cout % groups == 0 && weight.shape[1] == cin / groups,
                     "deformConv2d: weight \(weight.shape) does not fit \(cin) input channels in \(groups) groups")
        opCheck(offsetGroups > 0 && cin % offsetGroups == 0, "deformConv2d: offset groups must divide Cin")
        let ho = (h + 2 * padding.0 - (dilation.0 * (kh - 1) + 1)) / stride.0 + 1
        let wo = (w + 2 * padding.1 - (dilation.1 * (kw - 1) + 1)) / stride.1 + 1
        let taps = kh * kw
        opCheck(offset.shape == [b, 2 * offsetGroups * taps, ho, wo],
                     "deformConv2d: offset \(offset.shape), expected \([b, 2 * offsetGroups * taps, ho, wo])")
        if let mask {
            opCheck(mask.shape == [b, offsetGroups * taps, ho, wo],
                         "deformConv2d: mask \(mask.shape), expected \([b, offsetGroups * taps, ho, wo])")
        }
        if let bias { opCheck(bias.shape == [cout], "deformConv2d: bias shape") }

        let x = input.contiguous(), off = offset.contiguous(), wt = weight.contiguous()
        let mk = mask?.contiguous(), bs = bias?.contiguous()
        let out = Tensor(uninitializedShape: [b, cout, ho, wo])
        let positions = ho * wo
        let rowsPerGroup = cin / groups * taps
        let coutPerGroup = cout / groups
        // Column tile: about 8 MB of samples at most.
        let tile = max(1, min(positions, (2 << 20) / max(cin * taps, 1)))
        let columns = TensorStorage(count: cin * taps * tile)
        let geometry = DeformGeometry(h: h, w: w, ho: ho, wo: wo, kh: kh, kw: kw, stride: stride, padding: padding,
                                      dilation: dilation)
        let channelsPerOffsetGroup = cin / offsetGroups
        withExtendedLifetime((x, off, wt, mk, bs, columns)) {
            for bi in 0..<b {
                let xb = x.data + bi * cin * h * w
                let offB = off.data + bi * 2 * offsetGroups * taps * positions
                let maskB = mk.map { $0.data + bi * offsetGroups * taps * positions }
                let outB = out.data + bi * cout * positions
                var p0 = 0
                while p0 < positions {
                    let count = min(tile, positions - p0)
                    let col = columns.pointer
                    // The sampling geometry (corner indices and bilinear weights of every tap and position) is the
                    // same for every channel of an offset group: computed once per tile, then each channel is four
                    // gathers and four multiply-adds per sample.
                    for g in 0..<offsetGroups {
                        let table = DeformSamplingTable(geometry: geometry, offset: offB + g * 2 * taps * positions,
                                                        positionStart: p0, count: count)
                        let m = maskB.map { $0 + g * taps * positions }
                        parallelPlanes(channelsPerOffsetGroup) { cg in
                            let c = g * channelsPerOffsetGroup + cg
                            table.sample(plane: xb + c * h * w, mask: m, positionStart: p0,
                                         into: col + c * taps * count)
                        }
                    }
                    for g in 0..<groups {
                        BLAS.sgemm(m: coutPerGroup, n: count, k: rowsPerGroup,
                                   a: wt.data + g * coutPerGroup * rowsPerGroup, lda: rowsPerGroup,
                                   b: col + g * rowsPerGroup * count, ldb: count,
                                   c: outB + g * coutPerGroup * positions + p0, ldc: positions)
                    }
                    p0 += count
                }
                if let bs {
                    parallelPlanes(cout) { o in
                        let v = bs.data[o]
                        let row = outB + o * positions
                        for p in 0..<positions { row[p] += v }
                    }
                }
            }
        }
        return out
    }
}

/// Sizes of one deformable convolution.
struct DeformGeometry {
    let h: Int, w: Int, ho: Int, wo: Int, kh: Int, kw: Int
    let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
}

/// Per tile of output positions: for every tap k and position q, the four corner indices into an input plane and
/// their bilinear weights, as torchvision's `bilinear_interpolate` for deformable conv computes them: a sample
/// outside (−1, H) × (−1, W) is 0 (four zero weights), a corner outside the plane counts as 0 (weight 0, index 0).
/// `sample` then forms hy·hx·v1 + hy·lx·v2 + ly·hx·v3 + ly·lx·v4 and the mask product in torchvision's order. With a
/// non-finite value at index 0 of a plane, a zero-weight corner gives NaN where torchvision gives 0.
struct DeformSamplingTable {
    let taps: Int, count: Int, positions: Int
    let index: [Int32]   // [taps · count · 4]
    let weight: [Float]  // [taps · count · 4]

    init(geometry gm: DeformGeometry, offset: UnsafePointer<Float>, positionStart: Int, count: Int) {
        let taps = gm.kh * gm.kw, positions = gm.ho * gm.wo
        self.taps = taps
        self.count = count
        self.positions = positions
        var index = [Int32](repeating: 0, count: taps * count * 4)
        var weight = [Float](repeating: 0, count: taps * count * 4)
        let h = gm.h, w = gm.w
        index.withUnsafeMutableBufferPointer { ib in
            weight.withUnsafeMutableBufferPointer { wb in
                let ip = ib.baseAddress!, wp = wb.baseAddress!
                for i in 0..<gm.kh {
                    for j in 0..<gm.kw {
                        let k = i * gm.kw + j
                        let dyRow = offset + 2 * k * positions, dxRow = offset + (2 * k + 1) * positions
                        for q in 0..<count {
                            let p = positionStart + q
                            let oy = p / gm.wo, ox = p - oy * gm.wo
                            let y = Float(oy * gm.stride.0 - gm.padding.0 + i * gm.dilation.0) + dyRow[p]
                            let x = Float(ox * gm.stride.1 - gm.padding.1 + j * gm.dilation.1) + dxRow[p]
                            let e = (k * count + q) * 4
                            if y <= -1 || Float(h) <= y || x <= -1 || Float(w) <= x { continue }
                            let yLow = Int(y.rounded(.down)), xLow = Int(x.rounded(.down))
                            let yHigh = yLow + 1, xHigh = xLow + 1
                            let ly = y - Float(yLow), lx = x - Float(xLow)
                            let hy = 1 - ly, hx = 1 - lx
                            if yLow >= 0 && xLow >= 0 { ip[e] = Int32(yLow * w + xLow); wp[e] = hy * hx }
                            if yLow >= 0 && xHigh <= w - 1 { ip[e + 1] = Int32(yLow * w + xHigh); wp[e + 1] = hy * lx }
                            if yHigh <= h - 1 && xLow >= 0 { ip[e + 2] = Int32(yHigh * w + xLow); wp[e + 2] = ly * hx }
                            if yHigh <= h - 1 && xHigh <= w - 1 { ip[e + 3] = Int32(yHigh * w + xHigh); wp[e + 3] = ly * lx }
                        }
                    }
                }
            }
        }
        self.index = index
        self.weight = weight
    }

    /// Rows k (taps) of one channel's column block: col[k · count + q] = mask[k, p] · Σ corners weight · plane[index].
    @inline(__always)
    func sample(plane: UnsafePointer<Float>, mask: UnsafePointer<Float>?, positionStart: Int,
                into col: UnsafeMutablePointer<Float>) {
        index.withUnsafeBufferPointer { ib in
            weight.withUnsafeBufferPointer { wb in
                let ip = ib.baseAddress!, wp = wb.baseAddress!
                for k in 0..<taps {
                    let dst = col + k * count
                    let mRow = mask.map { $0 + k * positions + positionStart }
                    for q in 0..<count {
                        let e = (k * count + q) * 4
                        let v = wp[e] * plane[Int(ip[e])] + wp[e + 1] * plane[Int(ip[e + 1])]
                            + wp[e + 2] * plane[Int(ip[e + 2])] + wp[e + 3] * plane[Int(ip[e + 3])]
                        dst[q] = mRow.map { $0[q] * v } ?? v
                    }
                }
            }
        }
    }
}
