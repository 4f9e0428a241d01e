import Testing
@testable import VocaSegRender
import VocaSegCore

@Suite struct OutlineTests {
    static let left = RGBColor(r: 200, g: 100, b: 40)
    static let right = RGBColor(r: 20, g: 220, b: 120)

    /// Darker shade: c · 141/256, rounded: (c·141 + 128) >> 8.
    static func dark(_ c: RGBColor) -> [UInt8] {
        [c.r, c.g, c.b].map { UInt8((Int($0) * 141 + 128) >> 8) }
    }

    @Test func outlinesOnlyOnClassBoundaries() throws {
        // 8x6 frame: columns 0-3 class 0, columns 4-7 class 1; row 5 unlabeled.
        let labels = labelMap(width: 8, height: 6, rectangles: [(0, 0, 0, 4, 5), (1, 4, 0, 4, 5)])
        let frame = RGBImage(width: 8, height: 6, fill: 50)
        let renderer = try OverlayRenderer(classNames: ["left", "right"], options: blendOnly(
            alpha: 0.5, outlines: true, overrides: ["left": Self.left, "right": Self.right]))
        let out = try renderer.render(frame: frame, labels: labels)
        // Interior pixel of class 0: round((c + 50)/2) = (125, 75, 45).
        let leftInterior: [UInt8] = [125, 75, 45]
        // Class 1: (20+50)/2 = 35, (220+50)/2 = 135, (120+50)/2 = 85.
        let rightInterior: [UInt8] = [35, 135, 85]
        for y in 0..<6 {
            for x in 0..<8 {
                let expected: [UInt8]
                if y == 5 {
                    expected = [50, 50, 50] // unlabeled stays as it was
                } else if y == 4 || x == 3 || x == 4 {
                    // Next to the other class (x = 3 | 4) or above the unlabeled row: outline. The frame's own
                    // edges (x = 0, x = 7, y = 0) are not boundaries.
                    expected = x < 4 ? Self.dark(Self.left) : Self.dark(Self.right)
                } else {
                    expected = x < 4 ? leftInterior : rightInterior
                }
                #expect(pixel(out, x, y) == expected, "pixel (\(x), \(y))")
            }
        }
    }

    @Test func upsampledOutlineFollowsBlockEdges() throws {
        // A 2x1 map [0, 1] on a 6x2 frame: columns 0-2 class 0, 3-5 class 1; only columns 2 and 3 are outline.
        let labels = LabelMap(width: 2, height: 1, labels: [0, 1])
        let renderer = try OverlayRenderer(classNames: ["left", "right"], options: blendOnly(
            alpha: 1, outlines: true, overrides: ["left": Self.left, "right": Self.right]))
        let out = try renderer.render(frame: RGBImage(width: 6, height: 2), labels: labels)
        let fill = [Self.left, Self.left, Self.left, Self.right, Self.right, Self.right].map { [$0.r, $0.g, $0.b] }
        for y in 0..<2 {
            #expect(pixel(out, 0, y) == fill[0])
            #expect(pixel(out, 1, y) == fill[1])
            #expect(pixel(out, 2, y) == Self.dark(Self.left))
            #expect(pixel(out, 3, y) == Self.dark(Self.right))
            #expect(pixel(out, 4, y) == fill[4])
            #expect(pixel(out, 5, y) == fill[5])
        }
    }
}

@Suite struct ResampledOutlineTests {
    /// Pixel by pixel from the definitions: the label of frame pixel (x, y) is labels[floor(y·lh/h)][floor(x·lw/w)];
    /// a labeled pixel is outline if a 4-neighbour inside the frame has another label.
    static func expected(frame: RGBImage, labels: LabelMap, renderer: OverlayRenderer) -> [UInt8] {
        let w = frame.width, h = frame.height
        func label(_ x: Int, _ y: Int) -> UInt16 {
            labels.labels[(y * labels.height / h) * labels.width + x * labels.width / w]
        }
        var out = frame.pixels
        for y in 0..<h {
            for x in 0..<w {
                let l = label(x, y)
                if l == LabelMap.unlabeled { continue }
                let neighbours = [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                    .filter { $0.0 >= 0 && $0.0 < w && $0.1 >= 0 && $0.1 < h }
                let c = renderer.color(ofClass: Int(l))!
                let i = (y * w + x) * 3
                for (ch, component) in [c.r, c.g, c.b].enumerated() {
                    if neighbours.contains(where: { label($0.0, $0.1) != l }) {
                        out[i + ch] = UInt8((Int(component) * 141 + 128) >> 8)
                    } else {
                        // alpha 0.5 → a = 128: (128·c + 128·f + 128) >> 8
                        out[i + ch] = UInt8((128 * Int(component) + 128 * Int(frame.pixels[i + ch]) + 128) >> 8)
                    }
                }
            }
        }
        return out
    }

    /// A noisy label map so that almost every pixel sits on some boundary.
    static func noisyLabels(width: Int, height: Int) -> LabelMap {
        var state: UInt32 = 12345
        var values = [UInt16](repeating: 0, count: width * height)
        for i in values.indices {
            state = state &* 1_664_525 &+ 1_013_904_223
            let r = state >> 24
            values[i] = r < 20 ? LabelMap.unlabeled : UInt16(r % 3)
        }
        return LabelMap(width: width, height: height, labels: values)
    }

    @Test(arguments: [(23, 17), (97, 61), (41, 200), (300, 9)])
    func outlinesMatchDefinitionForResampledMaps(labelWidth: Int, labelHeight: Int) throws {
        // Frame 97x61: label maps smaller (upsampled), equal, and larger (downsampled, rows skipped) in each axis.
        let frame = gradientFrame(width: 97, height: 61)
        let labels = Self.noisyLabels(width: labelWidth, height: labelHeight)
        let renderer = try OverlayRenderer(classNames: ["a", "b", "c"], options: blendOnly(alpha: 0.5, outlines: true))
        let out = try renderer.render(frame: frame, labels: labels)
        let expected = Self.expected(frame: frame, labels: labels, renderer: renderer)
        let mismatches = zip(out.pixels, expected).filter { $0 != $1 }.count
        #expect(mismatches == 0)
    }

    /// Blocks of one class (`blockWidth` x `blockHeight` label pixels) with an unlabeled diagonal: long runs, so the
    /// 16-pixel vector paths carry most of the work.
    static func blockyLabels(width: Int, height: Int, blockWidth: Int, blockHeight: Int) -> LabelMap {
        var values = [UInt16](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                values[y * width + x] = x == y ? LabelMap.unlabeled : UInt16((x / blockWidth + y / blockHeight) % 3)
            }
        }
        return LabelMap(width: width, height: height, labels: values)
    }

    @Test(arguments: [(211, 97, 37, 23), (200, 50, 200, 50), (190, 64, 95, 128)])
    func longRunsMatchDefinition(frameWidth: Int, frameHeight: Int, labelWidth: Int, labelHeight: Int) throws {
        let frame = gradientFrame(width: frameWidth, height: frameHeight)
        let labels = Self.blockyLabels(width: labelWidth, height: labelHeight, blockWidth: max(1, labelWidth / 5),
                                       blockHeight: max(1, labelHeight / 4))
        for outlines in [false, true] {
            let renderer = try OverlayRenderer(classNames: ["a", "b", "c"],
                                               options: blendOnly(alpha: 0.5, outlines: outlines))
            let out = try renderer.render(frame: frame, labels: labels)
            var expected = Self.expected(frame: frame, labels: labels, renderer: renderer)
            if !outlines {
                // Without outlines every labeled pixel is blended: (128·c + 128·f + 128) >> 8.
                expected = frame.pixels
                for y in 0..<frameHeight {
                    for x in 0..<frameWidth {
                        let l = labels.labels[(y * labelHeight / frameHeight) * labelWidth
                                              + x * labelWidth / frameWidth]
                        guard let c = renderer.color(ofClass: Int(l)) else { continue }
                        for (ch, component) in [c.r, c.g, c.b].enumerated() {
                            let i = (y * frameWidth + x) * 3 + ch
                            expected[i] = UInt8((128 * Int(component) + 128 * Int(frame.pixels[i]) + 128) >> 8)
                        }
                    }
                }
            }
            let mismatches = zip(out.pixels, expected).filter { $0 != $1 }.count
            #expect(mismatches == 0, "outlines \(outlines)")
        }
    }
}
