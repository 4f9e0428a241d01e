import Foundation
import VocaSegTensor

/// The mask-logit resampling of EOV-Seg (spec §2.9 "Masks", detectron2 `sem_seg_postprocess`): Mq [Q, h, w] at
/// stride 4 → bilinear to the padded input size → crop to the resized image → bilinear to the original size, both
/// with align_corners false. Produced a few output rows at a time for one query, so that the post-processing never
/// holds Q full-resolution maps. Each bilinear step is evaluated as ATen does, h0·(w0·a + w1·b) + h1·(w0·c + w1·d):
/// the horizontal blends of the rows it needs first, then the vertical blend, so the values are the same as two
/// full `F.interpolate` calls.
struct EOVSegMaskResampler {
    let masks: Tensor
    let queries: Int, inHeight: Int, inWidth: Int
    /// Resized (crop) size and output size.
    let cropHeight: Int, cropWidth: Int, outHeight: Int, outWidth: Int
    /// Stage A (stride-4 → padded; only the first cropHeight/cropWidth entries are used) and stage B (crop → out).
    let rowsA: BilinearAxis, colsA: BilinearAxis, rowsB: BilinearAxis, colsB: BilinearAxis
    /// The frame is the resized image itself (e.g. an 854×640 frame): stage B is a copy.
    var identityB: Bool { cropHeight == outHeight && cropWidth == outWidth }

    init(masks: Tensor, paddedHeight: Int, paddedWidth: Int, resizedHeight: Int, resizedWidth: Int,
         outHeight: Int, outWidth: Int) {
        opCheck(masks.rank == 3, "mask resampler: masks \(masks.shape), expected [Q, h, w]")
        opCheck(resizedHeight > 0 && resizedWidth > 0 && resizedHeight <= paddedHeight && resizedWidth <= paddedWidth
                     && outHeight > 0 && outWidth > 0, "mask resampler: sizes padded \(paddedHeight)×\(paddedWidth), "
                     + "resized \(resizedHeight)×\(resizedWidth), output \(outHeight)×\(outWidth)")
        self.masks = masks.contiguous()
        queries = masks.shape[0]
        inHeight = masks.shape[1]
        inWidth = masks.shape[2]
        cropHeight = resizedHeight
        cropWidth = resizedWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        rowsA = BilinearAxis(inSize: inHeight, outSize: paddedHeight, alignCorners: false)
        colsA = BilinearAxis(inSize: inWidth, outSize: paddedWidth, alignCorners: false)
        rowsB = BilinearAxis(inSize: resizedHeight, outSize: outHeight, alignCorners: false)
        colsB = BilinearAxis(inSize: resizedWidth, outSize: outWidth, alignCorners: false)
    }

    /// Mask logits of query q for output rows y0..<y1 into dst [(y1 − y0)·outWidth]. `scratch` is the caller's
    /// per-thread buffer, grown as needed.
    func rows(query q: Int, from y0: Int, to y1: Int, into dst: UnsafeMutablePointer<Float>, scratch: inout [Float]) {
        let wr = cropWidth, ow = outWidth
        let plane = masks.data + q * inHeight * inWidth
        if identityB {
            // Stage B maps the crop onto itself: ATen copies the input when the sizes are equal (and a blend with
            // weights 1 and 0 would give the same values), so stage A writes the output rows directly.
            let nIn = rowsA.index1[y1 - 1] - rowsA.index0[y0] + 1
            if scratch.count < nIn * wr { scratch = [Float](repeating: 0, count: nIn * wr) }
            scratch.withUnsafeMutableBufferPointer { buffer in
                stageA(plane: plane, cropRows: y0...(y1 - 1), into: dst, scratch: buffer.baseAddress!)
            }
            return
        }
        // Crop rows [r0, r1] feed these output rows (bilinear indices never decrease along an axis).
        let r0 = rowsB.index0[y0], r1 = rowsB.index1[y1 - 1]
        let nIn = rowsA.index1[r1] - rowsA.index0[r0] + 1, nCrop = r1 - r0 + 1
        let need = nIn * wr + nCrop * wr + nCrop * ow
        if scratch.count < need { scratch = [Float](repeating: 0, count: need) }
        scratch.withUnsafeMutableBufferPointer { buffer in
            let hA = buffer.baseAddress!, crop = hA + nIn * wr, hB = crop + nCrop * wr
            stageA(plane: plane, cropRows: r0...r1, into: crop, scratch: hA)
            // Stage B, horizontal, then vertical.
            for r in 0..<nCrop {
                let s = crop + r * wr, d = hB + r * ow
                Self.horizontal(s, into: d, count: ow, axis: colsB)
            }
            for y in y0..<y1 {
                let a = hB + (rowsB.index0[y] - r0) * ow, b = hB + (rowsB.index1[y] - r0) * ow
                let l0 = rowsB.lambda0[y], l1 = rowsB.lambda1[y], d = dst + (y - y0) * ow
                for x in 0..<ow { d[x] = l0 * a[x] + l1 * b[x] }
            }
        }
    }

    /// Stage A, horizontal then vertical: crop rows `cropRows` (over the crop columns only) into `out`
    /// [cropRows.count · cropWidth]. `scratch` holds the horizontally resampled input rows those crop rows read
    /// (at least (index1[last] − index0[first] + 1) · cropWidth floats; index0/index1 are non-decreasing).
    @inline(__always)
    private func stageA(plane: UnsafePointer<Float>, cropRows: ClosedRange<Int>, into out: UnsafeMutablePointer<Float>,
                        scratch hA: UnsafeMutablePointer<Float>) {
        let wr = cropWidth, iw = inWidth
        let i0 = rowsA.index0[cropRows.lowerBound], i1 = rowsA.index1[cropRows.upperBound]
        for i in 0...(i1 - i0) { Self.horizontal(plane + (i0 + i) * iw, into: hA + i * wr, count: wr, axis: colsA) }
        for r in cropRows {
            let a = hA + (rowsA.index0[r] - i0) * wr, b = hA + (rowsA.index1[r] - i0) * wr
            let l0 = rowsA.lambda0[r], l1 = rowsA.lambda1[r], d = out + (r - cropRows.lowerBound) * wr
            for x in 0..<wr { d[x] = l0 * a[x] + l1 * b[x] }
        }
    }

    /// d[x] = λ0[x]·s[i0[x]] + λ1[x]·s[i1[x]] for x < count, through raw buffers (no array bounds checks: this is
    /// the inner loop of the post-processing).
    @inline(__always)
    static func horizontal(_ s: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>, count: Int, axis: BilinearAxis) {
        axis.withPointers { a in
            for x in 0..<count { d[x] = a.lambda0[x] * s[a.index0[x]] + a.lambda1[x] * s[a.index1[x]] }
        }
    }

    /// All of Mo [Q, outHeight, outWidth] (tests and small images; the post-processing itself works in tiles).
    func all() -> Tensor {
        let out = Tensor(uninitializedShape: [queries, outHeight, outWidth])
        let tile = 16
        ChannelsLast.parallelRanges(queries) { range in
            var scratch = [Float]()
            for q in range {
                var y = 0
                while y < outHeight {
                    let y1 = min(outHeight, y + tile)
                    rows(query: q, from: y, to: y1, into: out.data + (q * outHeight + y) * outWidth, scratch: &scratch)
                    y = y1
                }
            }
        }
        return out
    }
}
