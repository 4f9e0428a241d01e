import Foundation
import VocaSegTensor

/// Bilinear resampling of one float plane (align_corners False, no antialias, PyTorch's float32 arithmetic:
/// h0·(w0·a + w1·b) + h1·(w0·c + w1·d)) that writes straight into its destination in one of several ways, so the
/// sliding-window merge never materialises an upsampled window or a [K, H, W] stack.
struct PlaneResampler {
    /// Source indices and weights along one axis, as ATen's `area_pixel_compute_source_index`.
    struct Axis {
        var index0: [Int]
        var index1: [Int]
        var lambda0: [Float]
        var lambda1: [Float]

        init(input: Int, output: Int) {
            let scale = Float(input) / Float(output)
            index0 = [Int](repeating: 0, count: output)
            index1 = [Int](repeating: 0, count: output)
            lambda0 = [Float](repeating: 1, count: output)
            lambda1 = [Float](repeating: 0, count: output)
            for o in 0..<output {
                let src = max(scale * (Float(o) + 0.5) - 0.5, 0)
                let i0 = min(Int(src.rounded(.down)), input - 1)
                let l1 = min(max(src - Float(i0), 0), 1)
                index0[o] = i0
                index1[o] = i0 + (i0 < input - 1 ? 1 : 0)
                lambda1[o] = l1
                lambda0[o] = 1 - l1
            }
        }
    }

    /// What happens to each destination value `d` given the resampled value `v`.
    enum Combine {
        /// d = v
        case store
        /// d += v (window accumulation)
        case add
        /// d = keep·d + weight·v (global-view blend)
        case blend(keep: Float, weight: Float)
        /// Running argmax: if this is class 0 or v > d, then d = v and index = class.
        case argmax(classIndex: UInt16, index: UnsafeMutablePointer<UInt16>)
    }

    let inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    let rows: Axis, cols: Axis

    init(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) {
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        rows = Axis(input: inHeight, output: outHeight)
        cols = Axis(input: inWidth, output: outWidth)
    }

    /// Resamples `src` (inHeight×inWidth, row stride inWidth) into the outHeight×outWidth block of `dst` whose rows
    /// are `dstStride` apart. Parallel over output rows.
    func run(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, dstStride: Int, _ combine: Combine) {
        let oh = outHeight, ow = outWidth, iw = inWidth
        let chunks = max(1, min(ParallelConfig.threads * 2, oh / 8))
        rows.index0.withUnsafeBufferPointer { ri0 in rows.index1.withUnsafeBufferPointer { ri1 in
        rows.lambda0.withUnsafeBufferPointer { rl0 in rows.lambda1.withUnsafeBufferPointer { rl1 in
        cols.index0.withUnsafeBufferPointer { ci0 in cols.index1.withUnsafeBufferPointer { ci1 in
        cols.lambda0.withUnsafeBufferPointer { cl0 in cols.lambda1.withUnsafeBufferPointer { cl1 in
            let body = { (chunk: Int) in
                let y0 = oh * chunk / chunks, y1 = oh * (chunk + 1) / chunks
                guard y0 < y1 else { return }
                // Two horizontally resampled source rows, reused while consecutive output rows read them.
                let buffers = UnsafeMutablePointer<Float>.allocate(capacity: 2 * ow)
                defer { buffers.deallocate() }
                var held = (-1, -1)
                func horizontal(_ y: Int, keep: Int) -> UnsafeMutablePointer<Float> {
                    if held.0 == y { return buffers }
                    if held.1 == y { return buffers + ow }
                    let slot = held.0 == keep ? 1 : 0
                    let out = buffers + slot * ow
                    let row = src + y * iw
                    for x in 0..<ow { out[x] = cl0[x] * row[ci0[x]] + cl1[x] * row[ci1[x]] }
                    if slot == 0 { held.0 = y } else { held.1 = y }
                    return out
                }
                for y in y0..<y1 {
                    let top = horizontal(ri0[y], keep: ri1[y])
                    let bottom = horizontal(ri1[y], keep: ri0[y])
                    let h0 = rl0[y], h1 = rl1[y]
                    let d = dst + y * dstStride
                    switch combine {
                    case .store:
                        for x in 0..<ow { d[x] = h0 * top[x] + h1 * bottom[x] }
                    case .add:
                        for x in 0..<ow { d[x] += h0 * top[x] + h1 * bottom[x] }
                    case .blend(let keep, let weight):
                        for x in 0..<ow { d[x] = keep * d[x] + weight * (h0 * top[x] + h1 * bottom[x]) }
                    case .argmax(let classIndex, let index):
                        let idx = index + y * dstStride
                        if classIndex == 0 {
                            for x in 0..<ow { d[x] = h0 * top[x] + h1 * bottom[x]; idx[x] = 0 }
                        } else {
                            for x in 0..<ow {
                                let v = h0 * top[x] + h1 * bottom[x]
                                if v > d[x] { d[x] = v; idx[x] = classIndex }
                            }
                        }
                    }
                }
            }
            if chunks == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: body) }
        }}}}}}}}
    }
}
