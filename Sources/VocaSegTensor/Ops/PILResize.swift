import Foundation

extension Ops {
    /// Resize of an interleaved 8-bit image (e.g. RGB, `RGBImage.pixels` layout) reproducing Pillow's
    /// `Image.resize((outW, outH), Image.BILINEAR)` bit for bit: a triangle filter whose support grows with the
    /// downscale factor (antialiasing), separable passes horizontal then vertical, fixed-point coefficients with
    /// 22 fractional bits, and rounding to uint8 after each pass (Pillow's `ImagingResample`, 8 bpc path).
    ///
    /// This is the first step of ERR-Seg's and detectron2's test-time preprocessing (`ResizeShortestEdge`).
    public static func pilResizeBilinear(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int,
                                  outWidth: Int, outHeight: Int) -> [UInt8] {
        opCheck(pixels.count == width * height * channels, "pilResizeBilinear: buffer size mismatch")
        opCheck(width > 0 && height > 0 && outWidth > 0 && outHeight > 0 && channels > 0, "pilResizeBilinear: empty")
        if outWidth == width && outHeight == height { return Array(pixels) }
        let horizontal = PILFilterCoefficients(inSize: width, outSize: outWidth)
        let vertical = PILFilterCoefficients(inSize: height, outSize: outHeight)

        // Pillow only runs the horizontal pass on the source rows the vertical pass will read.
        let firstRow = vertical.bounds[0]
        let lastRow = vertical.bounds[2 * (outHeight - 1)] + vertical.bounds[2 * (outHeight - 1) + 1]
        var temp: [UInt8]
        var tempRows: Int
        var rowShift: Int
        if outWidth != width {
            tempRows = lastRow - firstRow
            rowShift = firstRow
            temp = [UInt8](repeating: 0, count: tempRows * outWidth * channels)
            temp.withUnsafeMutableBufferPointer { t in
                horizontal.resampleRows(from: pixels.baseAddress!, rowStride: width * channels, firstRow: firstRow,
                                        rows: tempRows, channels: channels, into: t.baseAddress!)
            }
        } else {
            temp = Array(pixels)
            tempRows = height
            rowShift = 0
        }
        if outHeight == height { return temp }
        var out = [UInt8](repeating: 0, count: outHeight * outWidth * channels)
        temp.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBufferPointer { o in
                vertical.resampleColumns(from: t.baseAddress!, rowShift: rowShift, rowLength: outWidth * channels,
                                         into: o.baseAddress!)
            }
        }
        return out
    }
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear (triangle, support 1) filter.
struct PILFilterCoefficients {
    static let precisionBits = 32 - 8 - 2
    let outSize: Int
    let kernelSize: Int
    /// Per output index: first source index and number of taps.
    var bounds: [Int]
    /// `outSize × kernelSize` fixed-point weights.
    var weights: [Int32]

    init(inSize: Int, outSize: Int) {
        self.outSize = outSize
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        kernelSize = Int(support.rounded(.up)) * 2 + 1
        bounds = [Int](repeating: 0, count: outSize * 2)
        weights = [Int32](repeating: 0, count: outSize * kernelSize)
        var k = [Double](repeating: 0, count: kernelSize)
        let one = Double(1 << PILFilterCoefficients.precisionBits)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let invScale = 1.0 / filterScale
            // C casts truncate toward zero; these values are ≥ −0.5 + small, so Int(…) matches `(int)`.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<xmax {
                let w = PILFilterCoefficients.triangle((Double(x + xmin) - center + 0.5) * invScale)
                k[x] = w
                total += w
            }
            for x in 0..<kernelSize {
                var w = x < xmax ? k[x] : 0
                if x < xmax && total != 0 { w /= total }
                // normalize_coeffs_8bpc: round half away from zero, then truncate to int.
                weights[xx * kernelSize + x] = w < 0 ? Int32(-0.5 + w * one) : Int32(0.5 + w * one)
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = xmax
        }
    }

    @inline(__always)
    static func triangle(_ x: Double) -> Double {
        let a = abs(x)
        return a < 1 ? 1 - a : 0
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        if v >= Int32(1) << (precisionBits + 8) { return 255 }
        if v <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: v >> Int32(precisionBits))
    }

    /// Horizontal pass over source rows `firstRow ..< firstRow + rows`, parallel over row blocks.
    func resampleRows(from src: UnsafePointer<UInt8>, rowStride: Int, firstRow: Int, rows: Int, channels: Int,
                      into dst: UnsafeMutablePointer<UInt8>) {
        let outW = outSize, ks = kernelSize
        let half = Int32(1) << Int32(PILFilterCoefficients.precisionBits - 1)
        bounds.withUnsafeBufferPointer { bnd in weights.withUnsafeBufferPointer { wts in
            let chunks = min(rows, ParallelConfig.threads * 4)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                for y in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
                    let s = src + (firstRow + y) * rowStride
                    let d = dst + y * outW * channels
                    if channels == 3 {
                        // RGB: the three sums share the coefficient loads (same integer sums as per channel).
                        for xx in 0..<outW {
                            let xmin = bnd[2 * xx], xmax = bnd[2 * xx + 1]
                            let k = wts.baseAddress! + xx * ks
                            var a0 = half, a1 = half, a2 = half
                            var p = s + xmin * 3
                            for x in 0..<xmax {
                                let w = k[x]
                                a0 &+= Int32(p[0]) &* w
                                a1 &+= Int32(p[1]) &* w
                                a2 &+= Int32(p[2]) &* w
                                p += 3
                            }
                            d[xx * 3] = PILFilterCoefficients.clip8(a0)
                            d[xx * 3 + 1] = PILFilterCoefficients.clip8(a1)
                            d[xx * 3 + 2] = PILFilterCoefficients.clip8(a2)
                        }
                        continue
                    }
                    for xx in 0..<outW {
                        let xmin = bnd[2 * xx], xmax = bnd[2 * xx + 1]
                        let k = wts.baseAddress! + xx * ks
                        for c in 0..<channels {
                            var acc = half
                            var p = s + xmin * channels + c
                            for x in 0..<xmax {
                                acc &+= Int32(p.pointee) &* k[x]
                                p += channels
                            }
                            d[xx * channels + c] = PILFilterCoefficients.clip8(acc)
                        }
                    }
                }
            }
        }}
    }

    /// Vertical pass: output row yy mixes rows `bounds[2yy] - rowShift ..< +bounds[2yy+1]` of `src`.
    func resampleColumns(from src: UnsafePointer<UInt8>, rowShift: Int, rowLength: Int,
                         into dst: UnsafeMutablePointer<UInt8>) {
        let outH = outSize, ks = kernelSize
        let half = Int32(1) << Int32(PILFilterCoefficients.precisionBits - 1)
        bounds.withUnsafeBufferPointer { bnd in weights.withUnsafeBufferPointer { wts in
            let chunks = min(outH, ParallelConfig.threads * 4)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                var acc = [Int32](repeating: 0, count: rowLength)
                acc.withUnsafeMutableBufferPointer { a in
                    for yy in (outH * chunk / chunks)..<(outH * (chunk + 1) / chunks) {
                        let ymin = bnd[2 * yy] - rowShift, ymax = bnd[2 * yy + 1]
                        let k = wts.baseAddress! + yy * ks
                        a.initialize(repeating: half)
                        // Row-by-row accumulation: same integer sums as Pillow's per-pixel loop, cache friendly.
                        for y in 0..<ymax {
                            let w = k[y]
                            let row = src + (ymin + y) * rowLength
                            for i in 0..<rowLength { a[i] &+= Int32(row[i]) &* w }
                        }
                        let d = dst + yy * rowLength
                        for i in 0..<rowLength { d[i] = PILFilterCoefficients.clip8(a[i]) }
                    }
                }
            }
        }}
    }
}

extension Ops {
    /// detectron2 `ResizeShortestEdge.get_output_shape`: scale the short side to `shortEdge`, cap the long side at
    /// `maxSize`, round with int(x + 0.5). Returns (height, width).
    public static func shortestEdgeResizeShape(height: Int, width: Int, shortEdge: Int, maxSize: Int) -> (height: Int, width: Int) {
        let size = Double(shortEdge)
        let scale = size / Double(min(height, width))
        var newH: Double, newW: Double
        if height < width {
            newH = size; newW = scale * Double(width)
        } else {
            newH = scale * Double(height); newW = size
        }
        if max(newH, newW) > Double(maxSize) {
            let s = Double(maxSize) / max(newH, newW)
            newH *= s
            newW *= s
        }
        return (Int(newH + 0.5), Int(newW + 0.5))
    }
}
