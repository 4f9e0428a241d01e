/// An axis-aligned pixel rectangle, `x ..< x + width` × `y ..< y + height`.
struct PixelRect: Sendable, Equatable {
    var x: Int
    var y: Int
    var width: Int
    var height: Int

    var maxX: Int { x + width }
    var maxY: Int { y + height }

    func intersects(_ other: PixelRect) -> Bool {
        x < other.maxX && other.x < maxX && y < other.maxY && other.y < maxY
    }

    func contains(x px: Int, y py: Int) -> Bool { px >= x && px < maxX && py >= y && py < maxY }

    /// The part inside a `width` × `height` frame (possibly empty).
    func clipped(toWidth frameWidth: Int, height frameHeight: Int) -> PixelRect {
        let x0 = max(x, 0), y0 = max(y, 0)
        let x1 = min(maxX, frameWidth), y1 = min(maxY, frameHeight)
        return PixelRect(x: x0, y: y0, width: max(0, x1 - x0), height: max(0, y1 - y0))
    }
}

/// Fills and darkens rectangles of an RGB frame, clipped to it.
enum RectanglePainter {
    static func fill(_ rect: PixelRect, with color: RGBColor, in pixels: UnsafeMutablePointer<UInt8>,
                     width: Int, height: Int) {
        let area = rect.clipped(toWidth: width, height: height)
        for y in area.y..<area.maxY {
            var pixel = pixels + (y * width + area.x) * 3
            for _ in 0..<area.width {
                pixel[0] = color.r
                pixel[1] = color.g
                pixel[2] = color.b
                pixel += 3
            }
        }
    }

    /// Blends black over the rectangle: `f ← (f · keep + 128) >> 8`, keep = 256 − round(opacity · 256).
    static func darken(_ rect: PixelRect, keep: UInt32, in pixels: UnsafeMutablePointer<UInt8>,
                       width: Int, height: Int) {
        let area = rect.clipped(toWidth: width, height: height)
        for y in area.y..<area.maxY {
            let row = pixels + (y * width + area.x) * 3
            for i in 0..<(area.width * 3) { row[i] = UInt8(truncatingIfNeeded: (UInt32(row[i]) * keep + 128) >> 8) }
        }
    }
}
