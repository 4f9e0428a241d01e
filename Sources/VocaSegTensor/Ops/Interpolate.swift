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
/// there are fewer planes than threads). Per output pixel: h0·(w0·a + w1·b) + h1·(w0·c + w1·d), ATen's order.
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
        DispatchQueue.concurrentPerform(iterations: min(jobs, ParallelConfig.threads * 4)) { chunk in
            let chunks = min(jobs, ParallelConfig.threads * 4)
            let jobStart = jobs * chunk / chunks, jobEnd = jobs * (chunk + 1) / chunks
            for job in jobStart..<jobEnd {
                let plane = job / rowBlocks, block = job % rowBlocks
                let y0 = outH * block / rowBlocks, y1 = outH * (block + 1) / rowBlocks
                let inPlane = sp + plane * inH * inW
                let outPlane = op + plane * outH * outW
                for oy in y0..<y1 {
                    let rA = inPlane + ri0[oy] * inW, rB = inPlane + ri1[oy] * inW
                    let h0 = rl0[oy], h1 = rl1[oy]
                    let o = outPlane + oy * outW
                    for ox in 0..<outW {
                        let a = ci0[ox], b = ci1[ox]
                        let w0 = cl0[ox], w1 = cl1[ox]
                        let top = w0 * rA[a] + w1 * rA[b]
                        let bottom = w0 * rB[a] + w1 * rB[b]
                        o[ox] = h0 * top + h1 * bottom
                    }
                }
            }
        }
    }}}}}}}}
    withExtendedLifetime(src) {}
    return out
}
