import Foundation

/// Output length of a pooling window along one axis (PyTorch, ceil_mode = false).
@inline(__always)
func pooledLength(_ input: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    (input + 2 * padding - kernel) / stride + 1
}

extension Ops {
    /// `F.avg_pool2d(x, kernel, stride, padding, ceil_mode=False, count_include_pad=...)` on [..., H, W].
    /// `stride` defaults to the kernel size, as in PyTorch. With `countIncludePad` (PyTorch's default) every window
    /// divides by kh·kw, padded zeros included.
    public static func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                          countIncludePad: Bool = true) -> Tensor {
        let st = stride ?? kernel
        return pool2d(x, kernel: kernel, stride: st, padding: padding) { src, inW, y0, y1, x0, x1, yc0, yc1, xc0, xc1 in
            var sum: Float = 0
            for y in yc0..<yc1 {
                let row = src + y * inW
                for xx in xc0..<xc1 { sum += row[xx] }
            }
            let count = countIncludePad ? (y1 - y0) * (x1 - x0) : (yc1 - yc0) * (xc1 - xc0)
            return sum / Float(count)
        }
    }

    /// `F.max_pool2d(x, kernel, stride, padding, ceil_mode=False)` on [..., H, W]; padding never wins (−∞), NaN
    /// propagates as in PyTorch.
    public static func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                          padding: (Int, Int) = (0, 0)) -> Tensor {
        let st = stride ?? kernel
        return pool2d(x, kernel: kernel, stride: st, padding: padding) { src, inW, _, _, _, _, yc0, yc1, xc0, xc1 in
            var m = -Float.infinity
            for y in yc0..<yc1 {
                let row = src + y * inW
                for xx in xc0..<xc1 {
                    let v = row[xx]
                    if v > m || v.isNaN { m = v }
                    if m.isNaN { return m }
                }
            }
            return m
        }
    }

    /// `F.adaptive_avg_pool2d(x, (outH, outW))`: window i spans ⌊i·in/out⌋ ..< ⌈(i+1)·in/out⌉.
    public static func adaptiveAvgPool2d(_ x: Tensor, outputSize: (height: Int, width: Int)) -> Tensor {
        opCheck(x.rank >= 2, "adaptiveAvgPool2d: need [..., H, W]")
        let src = x.contiguous()
        let inH = x.size(-2), inW = x.size(-1)
        let outH = outputSize.height, outW = outputSize.width
        var shape = x.shape
        shape[shape.count - 2] = outH
        shape[shape.count - 1] = outW
        let out = Tensor(uninitializedShape: shape)
        let planes = x.count / max(inH * inW, 1)
        let sp = src.data, op = out.data
        parallelPlanes(planes) { p in
            let s = sp + p * inH * inW, o = op + p * outH * outW
            for oy in 0..<outH {
                let y0 = oy * inH / outH, y1 = ((oy + 1) * inH + outH - 1) / outH
                for ox in 0..<outW {
                    let x0 = ox * inW / outW, x1 = ((ox + 1) * inW + outW - 1) / outW
                    var sum: Float = 0
                    for y in y0..<y1 { for xx in x0..<x1 { sum += s[y * inW + xx] } }
                    o[oy * outW + ox] = sum / Float((y1 - y0) * (x1 - x0))
                }
            }
        }
        withExtendedLifetime(src) {}
        return out
    }
}

/// Runs `body(plane)` for every plane index, parallel in a few chunks per thread.
func parallelPlanes(_ planes: Int, _ body: (Int) -> Void) {
    if planes == 0 { return }
    let chunks = min(planes, ParallelConfig.threads * 4)
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        for p in (planes * c / chunks)..<(planes * (c + 1) / chunks) { body(p) }
    }
}

/// Shared window walk: `reduce(plane, inW, y0, y1, x0, x1, clippedY0, clippedY1, clippedX0, clippedX1)` where
/// y0..<y1 is the window in padded coordinates (shifted back to input coordinates) and the clipped range stays
/// inside the input.
private func pool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                    reduce: (UnsafeMutablePointer<Float>, Int, Int, Int, Int, Int, Int, Int, Int, Int) -> Float)
    -> Tensor {
    opCheck(x.rank >= 2, "pool2d: need [..., H, W]")
    opCheck(kernel.0 > 0 && kernel.1 > 0 && stride.0 > 0 && stride.1 > 0, "pool2d: bad kernel/stride")
    opCheck(padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1, "pool2d: padding exceeds half the kernel")
    let src = x.contiguous()
    let inH = x.size(-2), inW = x.size(-1)
    let outH = pooledLength(inH, kernel: kernel.0, stride: stride.0, padding: padding.0)
    let outW = pooledLength(inW, kernel: kernel.1, stride: stride.1, padding: padding.1)
    opCheck(outH > 0 && outW > 0, "pool2d: input \(inH)x\(inW) smaller than the kernel")
    var shape = x.shape
    shape[shape.count - 2] = outH
    shape[shape.count - 1] = outW
    let out = Tensor(uninitializedShape: shape)
    let planes = x.count / max(inH * inW, 1)
    let sp = src.data, op = out.data
    parallelPlanes(planes) { p in
        let s = sp + p * inH * inW, o = op + p * outH * outW
        for oy in 0..<outH {
            let y0 = oy * stride.0 - padding.0, y1 = y0 + kernel.0
            let yc0 = max(y0, 0), yc1 = min(y1, inH)
            for ox in 0..<outW {
                let x0 = ox * stride.1 - padding.1, x1 = x0 + kernel.1
                // PyTorch clips the count_include_pad window to the padded input, never past it.
                let py1 = min(y1, inH + padding.0), px1 = min(x1, inW + padding.1)
                o[oy * outW + ox] = reduce(s, inW, y0, py1, x0, px1, yc0, yc1, max(x0, 0), min(x1, inW))
            }
        }
    }
    withExtendedLifetime(src) {}
    return out
}
