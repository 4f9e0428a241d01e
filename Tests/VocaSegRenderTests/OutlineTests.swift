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
