import Foundation
import VocaSegCore
import VocaSegTensor

/// Label map at outH×outW from the kept classes' logits [K, h, w] (ERR-Seg's CRM selection, SED's CER survivors;
/// the classes left out score 0, below any sigmoid).
enum SigmoidLabelMap {
    /// Sigmoid, bilinear (align_corners False) to the output size, argmax among the K maps, mapped back through
    /// `selected` (ascending, so ties go to the lower class as in an argmax over all T maps). Equivalent to the
    /// original's argmax over all T maps (ERR-Seg's unselected classes are sigmoid(−100) ≈ 0). Works in tiles of output rows: each tile
    /// first resamples the few input rows it needs horizontally (that is the inner term of ATen's
    /// h0·(w0·a + w1·b) + h1·(w0·c + w1·d)), then blends vertically and keeps the running maximum, so no K×H×W
    /// buffer exists.
    static func labelMap(logits: Tensor, selected: [Int], outHeight oh: Int, outWidth ow: Int) -> LabelMap {
        let probs = Ops.sigmoid(logits)
        let k = probs.shape[0], ih = probs.shape[1], iw = probs.shape[2]
        precondition(k == selected.count && k > 0)
        let ys = ChannelsLast.bilinearAxis(input: ih, output: oh, alignCorners: false)
        let xs = ChannelsLast.bilinearAxis(input: iw, output: ow, alignCorners: false)
        var labels = [UInt16](repeating: 0, count: oh * ow)
        let sel = selected.map { UInt16($0) }
        let tileRows = 16
        let tiles = (oh + tileRows - 1) / tileRows
        let src = probs.data
        labels.withUnsafeMutableBufferPointer { out in
            let outBase = out.baseAddress!
            ChannelsLast.parallelRanges(tiles) { tileRange in
                var rowsBuffer = [Float]()
                var best = [Float](repeating: 0, count: ow)
                var bestIndex = [Int32](repeating: 0, count: ow)
                for tile in tileRange {
                    let y0 = tile * tileRows, y1 = min(oh, y0 + tileRows)
                    let first = ys[y0].0, last = ys[y1 - 1].1
                    let nRows = last - first + 1
                    if rowsBuffer.count < k * nRows * ow { rowsBuffer = [Float](repeating: 0, count: k * nRows * ow) }
                    rowsBuffer.withUnsafeMutableBufferPointer { hb in
                        let hbuf = hb.baseAddress!
                        // Horizontal pass over the needed input rows of every class.
                        for c in 0..<k {
                            for r in 0..<nRows {
                                let s = src + (c * ih + first + r) * iw
                                let d = hbuf + (c * nRows + r) * ow
                                for x in 0..<ow {
                                    let (x0, x1, w0, w1) = xs[x]
                                    d[x] = w0 * s[x0] + w1 * s[x1]
                                }
                            }
                        }
                        for y in y0..<y1 {
                            let (r0, r1, h0, h1) = ys[y]
                            for c in 0..<k {
                                let a = hbuf + (c * nRows + r0 - first) * ow
                                let b = hbuf + (c * nRows + r1 - first) * ow
                                if c == 0 {
                                    for x in 0..<ow { best[x] = h0 * a[x] + h1 * b[x]; bestIndex[x] = 0 }
                                } else {
                                    let ci = Int32(c)
                                    for x in 0..<ow {
                                        let v = h0 * a[x] + h1 * b[x]
                                        if v > best[x] { best[x] = v; bestIndex[x] = ci }
                                    }
                                }
                            }
                            let row = outBase + y * ow
                            for x in 0..<ow { row[x] = sel[Int(bestIndex[x])] }
                        }
                    }
                }
            }
        }
        return LabelMap(width: ow, height: oh, labels: labels)
    }
}
