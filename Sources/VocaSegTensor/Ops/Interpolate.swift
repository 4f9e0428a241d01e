import Foundation

extension Ops {
    /// Bilinear resize of the last two dimensions of a [..., H, W] tensor (usually NCHW), matching PyTorch
    /// `F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=...)` without antialias, in float32.
    public static func interpolateBilinear(_ x: Tensor, size: (height: Int, width: Int), alignCorners: Bool = false) -> Tensor {
        precondition(x.rank >= 2, "interpolateBilinear: need [..., H, W]")
        let inH = x.size(-2), inW = x.size(-1)
        let rows = BilinearAxis(inSize: inH, outSize: size.height, alignCorners: alignCorners, scaleFactor: nil)
        let cols = BilinearAxis(inSize: inW, outSize: size.width, alignCorners: alignCorners, scaleFactor: nil)
        return resampleBilinear(x, rows: rows, cols: cols)
    }

    /// `F.interpolate(x, scale_factor=(sh, sw), mode="bilinear", align_corners=...)` with `recompute_scale_factor`
    /// unset: the output size is ⌊in·s⌋ but, unlike the `size=` form, source coordinates use 1/s rather than
    /// in/out (they differ when in·s is not an integer). With `alignCorners` the scale is ignored for coordinates,
    /// as in PyTorch.
    public static func interpolateBilinear(_ x: Tensor, scaleFactor: (height: Double, width: Double),
                                    alignCorners: Bool = false) -> Tensor {
        precondition(x.rank >= 2, "interpolateBilinear: need [..., H, W]")
        precondition(scaleFactor.height > 0 && scaleFactor.width > 0, "interpolateBilinear: scale must be positive")
        let inH = x.size(-2), inW = x.size(-1)
        // Python: math.floor(float(in * s)), evaluated in double.
        let outH = Int((Double(inH) * scaleFactor.height).rounded(.down))
        let outW = Int((Double(inW) * scaleFactor.width).rounded(.down))
        let rows = BilinearAxis(inSize: inH, outSize: outH, alignCorners: alignCorners, scaleFactor: scaleFactor.height)
        let cols = BilinearAxis(inSize: inW, outSize: outW, alignCorners: alignCorners, scaleFactor: scaleFactor.width)
        return resampleBilinear(x, rows: rows, cols: cols)
    }
}

/// Source indices and weights along one axis, computed once per call in float32 exactly as ATen's
/// `area_pixel_compute_scale` / `area_pixel_compute_source_index` / `guard_index_and_lambda` do.
struct BilinearAxis {
    var index0: [Int]
    var index1: [Int]
    var lambda0: [Float]
    var lambda1: [Float]

    init(inSize: Int, outSize: Int, alignCorners: Bool, scaleFactor: Double?) {
        let scale: Float
        if alignCorners {
            scale = outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0
        } else if let scaleFactor, scaleFactor > 0 {
            scale = Float(1.0 / scaleFactor)
        } else {
            scale = Float(inSize) / Float(outSize)
        }
        index0 = [Int](repeating: 0, count: outSize)
        index1 = [Int](repeating: 0, count: outSize)
        lambda0 = [Float](repeating: 0, count: outSize)
        lambda1 = [Float](repeating: 0, count: outSize)
        for o in 0..<outSize {
            var src: Float
            if alignCorners {
                src = scale * Float(o)
            } else {
                src = scale * (Float(o) + 0.5) - 0.5
                if src < 0 { src = 0 }
            }
            let i0 = min(Int(src.rounded(.down)), inSize - 1)
            let l1 = min(max(src - Float(i0), 0), 1)
            index0[o] = i0
            index1[o] = i0 + (i0 < inSize - 1 ? 1 : 0)
            lambda1[o] = l1
            lambda0[o] = 1 - l1
        }
    }
}

/// Applies precomputed row/column weights to every [H, W] plane, in parallel over planes (and row blocks when
/// there are fewer planes than threads). Per output pixel: h0·(w0·a + w1·b) + h1·(w0·c + w1·d), ATen's order;
/// the bracketed horizontal terms are computed once per source row and reused across output rows.
func resampleBilinear(_ x: Tensor, rows: BilinearAxis, cols: BilinearAxis) -> Tensor {
    let src = x.contiguous()
    let inH = x.size(-2), inW = x.size(-1)
    let outH = rows.index0.count, outW = cols.index0.count
    var outShape = x.shape
    outShape[outShape.count - 2] = outH
    outShape[outShape.count - 1] = outW
    let out = Tensor(uninitializedShape: outShape)
    let planes = x.count / max(inH * inW, 1)
    if out.count == 0 { return out }
    let rowBlocks = planes >= ParallelConfig.threads * 2 ? 1 : max(1, min(outH, ParallelConfig.threads * 4 / planes))
    let jobs = planes * rowBlocks
    let sp = src.data, op = out.data
    rows.index0.withUnsafeBufferPointer { ri0 in rows.index1.withUnsafeBufferPointer { ri1 in
    rows.lambda0.withUnsafeBufferPointer { rl0 in rows.lambda1.withUnsafeBufferPointer { rl1 in
    cols.index0.withUnsafeBufferPointer { ci0 in cols.index1.withUnsafeBufferPointer { ci1 in
    cols.lambda0.withUnsafeBufferPointer { cl0 in cols.lambda1.withUnsafeBufferPointer { cl1 in
        let chunks = min(jobs, ParallelConfig.threads * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            // Two horizontally interpolated source rows, reused while consecutive output rows read the same
            // source rows (every row of an upscale is read by several output rows).
            let rowBuffers = UnsafeMutablePointer<Float>.allocate(capacity: 2 * max(outW, 1))
            defer { rowBuffers.deallocate() }
            var cached = (-1, -1)  // source row held by buffer 0 and buffer 1
            var cachedPlane = -1
            let jobStart = jobs * chunk / chunks, jobEnd = jobs * (chunk + 1) / chunks
            for job in jobStart..<jobEnd {
                let plane = job / rowBlocks, block = job % rowBlocks
                let y0 = outH * block / rowBlocks, y1 = outH * (block + 1) / rowBlocks
                let inPlane = sp + plane * inH * inW
                let outPlane = op + plane * outH * outW
                if plane != cachedPlane { cached = (-1, -1); cachedPlane = plane }
                // Returns the buffer holding source row `y` interpolated along x, computing it if needed
                // (w0·a + w1·b, ATen's order), and never evicting `keep`.
                func horizontalRow(_ y: Int, keep: Int) -> UnsafeMutablePointer<Float> {
                    if cached.0 == y { return rowBuffers }
                    if cached.1 == y { return rowBuffers + outW }
                    let slot = cached.0 == keep ? 1 : 0
                    let dst = rowBuffers + slot * outW
                    let row = inPlane + y * inW
                    for ox in 0..<outW { dst[ox] = cl0[ox] * row[ci0[ox]] + cl1[ox] * row[ci1[ox]] }
                    if slot == 0 { cached.0 = y } else { cached.1 = y }
                    return dst
                }
                for oy in y0..<y1 {
                    let top = horizontalRow(ri0[oy], keep: ri1[oy])
                    let bottom = horizontalRow(ri1[oy], keep: ri0[oy])
                    let h0 = rl0[oy], h1 = rl1[oy]
                    let o = outPlane + oy * outW
                    for ox in 0..<outW { o[ox] = h0 * top[ox] + h1 * bottom[ox] }
                }
            }
        }
    }}}}}}}}
    withExtendedLifetime(src) {}
    return out
}
