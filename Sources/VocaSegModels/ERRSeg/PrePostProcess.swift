import Foundation
import VocaSegCore
import VocaSegTensor

/// ERR-Seg's input preparation (spec §5) and the label-map post-processing (spec §2.10).
enum ERRSegPreprocessing {
    /// Side of the grey thumbnail kept for scene-cut checks.
    static let thumbnailSide = 16

    /// official: shortest edge → `minSize` (long side ≤ `maxSize`) with Pillow bilinear on uint8, normalise, bilinear
    /// (align_corners False) squash to size×size. direct: normalise the frame and squash it straight away.
    static func run(_ frame: RGBImage, config c: ERRSegConfig, official: Bool) -> PreprocessedFrame {
        let (pixels, w, h) = official
            ? ShortestEdgeResize.apply(frame, shortEdge: c.minSizeTest, maxSize: c.maxSizeTest)
            : (frame.pixels, frame.width, frame.height)
        let planes = Tensor(uninitializedShape: [3, h, w])
        let plane = h * w
        pixels.withUnsafeBufferPointer { src in
            ChannelsLast.parallelRanges(h) { rows in
                for ch in 0..<3 {
                    let m = c.pixelMean[ch], s = c.pixelStd[ch]
                    let dst = planes.data + ch * plane
                    for y in rows {
                        for x in 0..<w {
                            // (x − mean) / std as PyTorch evaluates it (a true division, not a reciprocal).
                            dst[y * w + x] = (Float(src[(y * w + x) * 3 + ch]) - m) / s
                        }
                    }
                }
            }
        }
        let s = c.imageSize
        let input = (h == s && w == s) ? planes : Ops.interpolateBilinear(planes, size: (s, s), alignCorners: false)
        return PreprocessedFrame(channels: 3, width: s, height: s, data: input.toArray(), originalWidth: frame.width,
                                 originalHeight: frame.height, payload: ERRSegFrameSignature(thumbnail: thumbnail(frame)))
    }

    /// A 16×16 grey thumbnail (block means over a sparse grid of samples): cheap and stable under noise.
    static func thumbnail(_ frame: RGBImage) -> [UInt8] {
        let n = thumbnailSide
        var out = [UInt8](repeating: 0, count: n * n)
        let w = frame.width, h = frame.height
        guard w > 0, h > 0 else { return out }
        frame.pixels.withUnsafeBufferPointer { p in
            for by in 0..<n {
                for bx in 0..<n {
                    var sum = 0, count = 0
                    for sy in 0..<4 {
                        let y = min(h - 1, (by * 4 + sy) * h / (4 * n))
                        for sx in 0..<4 {
                            let x = min(w - 1, (bx * 4 + sx) * w / (4 * n))
                            let i = (y * w + x) * 3
                            sum += Int(p[i]) * 77 + Int(p[i + 1]) * 150 + Int(p[i + 2]) * 29
                            count += 1
                        }
                    }
                    out[by * n + bx] = UInt8(min(255, sum / (count * 256)))
                }
            }
        }
        return out
    }

    /// Mean absolute difference of two thumbnails (0…255), or nil when they cannot be compared.
    static func thumbnailDistance(_ a: [UInt8], _ b: [UInt8]) -> Float? {
        guard !a.isEmpty, a.count == b.count else { return nil }
        var sum = 0
        for i in a.indices { sum += abs(Int(a[i]) - Int(b[i])) }
        return Float(sum) / Float(a.count)
    }
}

enum ERRSegPostprocessing {
    /// Label map at outH×outW from the selected classes' logits [K, h, w]: sigmoid, bilinear (align_corners False)
    /// to the output size, argmax among the K maps, mapped back through `selected`. Equivalent to the original's
    /// argmax over all T maps (unselected classes are sigmoid(−100) ≈ 0). Works in tiles of output rows: each tile
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
