import Foundation
import VocaSegTensor

/// Bilinear resampling of one float plane (align_corners False, no antialias, PyTorch's float32 arithmetic:
/// h0·(w0·a + w1·b) + h1·(w0·c + w1·d)) that writes straight into its destination in one of several ways, so the
/// sliding-window merge never materialises an upsampled window or a [K, H, W] stack.
struct PlaneResampler {
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
    let rows: BilinearAxis, cols: BilinearAxis

    init(inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) {
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        rows = BilinearAxis(inSize: inHeight, outSize: outHeight, alignCorners: false)
        cols = BilinearAxis(inSize: inWidth, outSize: outWidth, alignCorners: false)
    }

    /// Resamples `src` (inHeight×inWidth, row stride inWidth) into the outHeight×outWidth block of `dst` whose rows
    /// are `dstStride` apart. Parallel over output rows.
    func run(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, dstStride: Int, _ combine: Combine) {
        let oh = outHeight, ow = outWidth, iw = inWidth
        let chunks = max(1, min(ParallelConfig.threads * 2, oh / 8))
        rows.withPointers { r in cols.withPointers { c in
            let body = { (chunk: Int) in
                let y0 = oh * chunk / chunks, y1 = oh * (chunk + 1) / chunks
                guard y0 < y1 else { return }
                var cache = BilinearRows(outputWidth: ow)
                defer { cache.deallocate() }
                for y in y0..<y1 {
                    let top = cache.row(r.index0[y], keep: r.index1[y], plane: src, inWidth: iw, columns: c)
                    let bottom = cache.row(r.index1[y], keep: r.index0[y], plane: src, inWidth: iw, columns: c)
                    let h0 = r.lambda0[y], h1 = r.lambda1[y]
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
        }}
    }
}
