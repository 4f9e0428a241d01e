/// A line of text rasterised once: white-text coverage plus a dark halo (the coverage dilated by a disk) that
/// keeps it readable on any background. Cached per string and size by the renderer, so drawing a label on a
/// frame is only a composite.
struct TextMask: Sendable {
    let width: Int
    let height: Int
    /// Row of the baseline inside the mask.
    let baseline: Int
    /// Column of the pen's start inside the mask.
    let origin: Int
    /// Coverage of the white text, 0 … 255.
    let fill: [UInt8]
    /// Opacity of the black halo, 0 … 255.
    let halo: [UInt8]

    /// Halo opacity relative to full coverage (85 %): dark enough to outline, light enough to see through.
    static let haloOpacity: UInt32 = 217

    static func haloRadius(pixelSize: Int) -> Int { max(1, (pixelSize + 7) / 14) }

    init(text: String, pixelSize: Int, font: FontRasterizer) throws {
        let (ascender, descender) = try font.lineMetrics(pixelSize: pixelSize)
        var placed: [(glyph: Glyph, x: Int, y: Int)] = []
        var pen = 0
        // Extents relative to the pen start on the baseline, y growing downwards; always at least the line box.
        var minX = 0, maxX = 0, minY = -ascender, maxY = descender
        for scalar in text.unicodeScalars {
            let glyph = try font.glyph(for: scalar, pixelSize: pixelSize)
            let x = pen + glyph.left, y = -glyph.top
            if glyph.width > 0 && glyph.height > 0 {
                placed.append((glyph, x, y))
                minX = min(minX, x)
                maxX = max(maxX, x + glyph.width)
                minY = min(minY, y)
                maxY = max(maxY, y + glyph.height)
            }
            pen += glyph.advance
            maxX = max(maxX, pen)
        }
        let pad = Self.haloRadius(pixelSize: pixelSize)
        width = maxX - minX + 2 * pad
        height = maxY - minY + 2 * pad
        origin = pad - minX
        baseline = pad - minY

        var fill = [UInt8](repeating: 0, count: width * height)
        for (glyph, gx, gy) in placed {
            let left = origin + gx, top = baseline + gy
            for row in 0..<glyph.height {
                for column in 0..<glyph.width {
                    let target = (top + row) * width + left + column
                    fill[target] = max(fill[target], glyph.coverage[row * glyph.width + column])
                }
            }
        }
        self.fill = fill
        halo = Self.dilate(fill, width: width, height: height, radius: pad)
    }

    /// Max filter over a disk of `radius`, scaled to the halo opacity.
    private static func dilate(_ source: [UInt8], width: Int, height: Int, radius: Int) -> [UInt8] {
        var offsets: [(dx: Int, dy: Int)] = []
        for dy in -radius...radius {
            for dx in -radius...radius where dx * dx + dy * dy <= radius * radius + radius { offsets.append((dx, dy)) }
        }
        var result = [UInt8](repeating: 0, count: source.count)
        for y in 0..<height {
            for x in 0..<width {
                var strongest: UInt8 = 0
                for (dx, dy) in offsets {
                    let sx = x + dx, sy = y + dy
                    if sx >= 0 && sx < width && sy >= 0 && sy < height {
                        strongest = max(strongest, source[sy * width + sx])
                    }
                }
                result[y * width + x] = UInt8((UInt32(strongest) * haloOpacity + 127) / 255)
            }
        }
        return result
    }

    /// Composites the mask with its top-left corner at (`x`, `y`), clipped to the frame: first the black halo
    /// `f ← f·(255 − h)/255`, then white text `f ← f + (255 − f)·t/255`, both rounded to nearest.
    func draw(at x: Int, _ y: Int, into pixels: UnsafeMutablePointer<UInt8>, frameWidth: Int, frameHeight: Int) {
        let area = PixelRect(x: x, y: y, width: width, height: height).clipped(toWidth: frameWidth, height: frameHeight)
        guard area.width > 0, area.height > 0 else { return }
        fill.withUnsafeBufferPointer { fill in
            halo.withUnsafeBufferPointer { halo in
                for frameY in area.y..<area.maxY {
                    let maskRow = (frameY - y) * width - x
                    var pixel = pixels + (frameY * frameWidth + area.x) * 3
                    for frameX in area.x..<area.maxX {
                        let h = UInt32(halo[maskRow + frameX]), t = UInt32(fill[maskRow + frameX])
                        if h != 0 || t != 0 {
                            for channel in 0..<3 {
                                let shaded = (UInt32(pixel[channel]) * (255 - h) + 127) / 255
                                pixel[channel] = UInt8((shaded * (255 - t) + 255 * t + 127) / 255)
                            }
                        }
                        pixel += 3
                    }
                }
            }
        }
    }
}
