@testable import VocaSegRender
import VocaSegCore

/// Options with nothing but the blend, so tests of the arithmetic need no font.
func blendOnly(alpha: Double = 0.5, outlines: Bool = false, overrides: [String: RGBColor] = [:]) -> OverlayOptions {
    OverlayOptions(alpha: alpha, drawsOutlines: outlines, drawsLabels: false, drawsLegend: false,
                   colorOverrides: overrides)
}

func pixel(_ image: RGBImage, _ x: Int, _ y: Int) -> [UInt8] {
    let i = (y * image.width + x) * 3
    return Array(image.pixels[i..<(i + 3)])
}

func color(_ image: RGBImage, _ x: Int, _ y: Int) -> RGBColor {
    let p = pixel(image, x, y)
    return RGBColor(r: p[0], g: p[1], b: p[2])
}

/// A frame whose every pixel is different, so misplaced writes show.
func gradientFrame(width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 3
            pixels[i] = UInt8(truncatingIfNeeded: x * 7 + y)
            pixels[i + 1] = UInt8(truncatingIfNeeded: y * 5 + 3)
            pixels[i + 2] = UInt8(truncatingIfNeeded: x * 3 + y * 11)
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// A label map filled with `background`, with `classIndex` painted over each rectangle (x, y, width, height).
func labelMap(width: Int, height: Int, background: UInt16 = LabelMap.unlabeled,
              rectangles: [(classIndex: UInt16, x: Int, y: Int, width: Int, height: Int)]) -> LabelMap {
    var labels = [UInt16](repeating: background, count: width * height)
    for r in rectangles {
        for y in r.y..<(r.y + r.height) {
            for x in r.x..<(r.x + r.width) { labels[y * width + x] = r.classIndex }
        }
    }
    return LabelMap(width: width, height: height, labels: labels)
}
