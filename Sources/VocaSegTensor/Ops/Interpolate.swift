import Foundation

extension Ops {
    /// Bilinear resize of the last two dimensions of a [..., H, W] tensor (usually NCHW), matching PyTorch
    /// `F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=...)` without antialias, in float32.
    public static func interpolateBilinear(_ x: Tensor, size: (height: Int, width: Int), alignCorners: Bool = false) -> Tensor {
        opCheck(x.rank >= 2, "interpolateBilinear: need [..., H, W]")
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
        opCheck(x.rank >= 2, "interpolateBilinear: need [..., H, W]")
        opCheck(scaleFactor.height > 0 && scaleFactor.width > 0, "interpolateBilinear: scale must be positive")
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
/// `area_pixel_compute_scale` / `area_pixel_compute_source_index` / `guard_index_and_lambda` do. Output position
/// o reads source positions index0[o] and index1[o] with weights lambda0[o] and lambda1[o]. Shared by every
/// bilinear resize in the project (NCHW here, channels-last and the sliding-window merge in VocaSegModels).
public struct BilinearAxis: Sendable {
    public private(set) var index0: [Int]
    public private(set) var index1: [Int]
    public private(set) var lambda0: [Float]
    public private(set) var lambda1: [Float]

    /// `scaleFactor` is the `scale_factor=` argument when the size came from one (coordinates then use 1/s).
    public init(inSize: Int, outSize: Int, alignCorners: Bool, scaleFactor: Double? = nil) {
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

extension BilinearAxis {
    /// The four arrays as raw buffers, for inner loops without bounds checks or reference counting.
    public struct Pointers {
        public let index0: UnsafeBufferPointer<Int>, index1: UnsafeBufferPointer<Int>
        public let lambda0: UnsafeBufferPointer<Float>, lambda1: UnsafeBufferPointer<Float>
    }

    public func withPointers<R>(_ body: (Pointers) throws -> R) rethrows -> R {
        try index0.withUnsafeBufferPointer { i0 in
            try index1.withUnsafeBufferPointer { i1 in
                try lambda0.withUnsafeBufferPointer { l0 in
                    try lambda1.withUnsafeBufferPointer { l1 in
                        try body(Pointers(index0: i0, index1: i1, lambda0: l0, lambda1: l1))
                    }
                }
            }
        }
    }
}

/// The two horizontally resampled source rows a bilinear output row reads (w0·a + w1·b, ATen's order). Consecutive
/// output rows of an upscale read the same source rows, so each is computed once and held while it is needed.
/// One per thread; `deallocate()` when done.
public struct BilinearRows {
    private let buffers: UnsafeMutablePointer<Float>
    private let width: Int
    private var held = (-1, -1)  // source row in buffer 0 and in buffer 1

    public init(outputWidth: Int) {
        width = outputWidth
        buffers = .allocate(capacity: 2 * max(outputWidth, 1))
    }

    public func deallocate() { buffers.deallocate() }

    /// Forgets the held rows (the next rows come from another plane).
    public mutating func forget() { held = (-1, -1) }

    /// Source row `y` of `plane` (row stride `inWidth`) resampled along x, computed unless held; never evicts the
    /// row `keep`.
    @inline(__always)
    public mutating func row(_ y: Int, keep: Int, plane: UnsafePointer<Float>, inWidth: Int,
                             columns c: BilinearAxis.Pointers) -> UnsafePointer<Float> {
        if held.0 == y { return UnsafePointer(buffers) }
        if held.1 == y { return UnsafePointer(buffers + width) }
        let slot = held.0 == keep ? 1 : 0
        let dst = buffers + slot * width
        let src = plane + y * inWidth
        for x in 0..<width { dst[x] = c.lambda0[x] * src[c.index0[x]] + c.lambda1[x] * src[c.index1[x]] }
        if slot == 0 { held.0 = y } else { held.1 = y }
        return UnsafePointer(dst)
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
    rows.withPointers { r in cols.withPointers { c in
        let chunks = min(jobs, ParallelConfig.threads * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            var cache = BilinearRows(outputWidth: outW)
            defer { cache.deallocate() }
            var cachedPlane = -1
            let jobStart = jobs * chunk / chunks, jobEnd = jobs * (chunk + 1) / chunks
            for job in jobStart..<jobEnd {
                let plane = job / rowBlocks, block = job % rowBlocks
                let y0 = outH * block / rowBlocks, y1 = outH * (block + 1) / rowBlocks
                let inPlane = UnsafePointer(sp + plane * inH * inW)
                let outPlane = op + plane * outH * outW
                if plane != cachedPlane { cache.forget(); cachedPlane = plane }
                for oy in y0..<y1 {
                    let top = cache.row(r.index0[oy], keep: r.index1[oy], plane: inPlane, inWidth: inW, columns: c)
                    let bottom = cache.row(r.index1[oy], keep: r.index0[oy], plane: inPlane, inWidth: inW, columns: c)
                    let h0 = r.lambda0[oy], h1 = r.lambda1[oy]
                    let o = outPlane + oy * outW
                    for ox in 0..<outW { o[ox] = h0 * top[ox] + h1 * bottom[ox] }
                }
            }
        }
    }}
    withExtendedLifetime(src) {}
    return out
}
