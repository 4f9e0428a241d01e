import Testing
@testable import VocaSegRender
import VocaSegCore

@Suite struct TextLabelTests {
    static func labelsOnly() -> OverlayOptions {
        OverlayOptions(alpha: 0.5, drawsOutlines: false, drawsLabels: true, drawsLegend: false)
    }

    /// 320x240 grey frame, a "person" rectangle in the middle of a 160x120 label map, the rest unlabeled.
    static func personScene() -> (RGBImage, LabelMap) {
        let frame = RGBImage(width: 320, height: 240, fill: 100)
        let labels = labelMap(width: 160, height: 120, rectangles: [(0, 40, 30, 80, 60)])
        return (frame, labels)
    }

    @Test func personLabelDrawsGlyphsInsideItsBoxOnly() throws {
        let (frame, labels) = Self.personScene()
        let withText = try OverlayRenderer(classNames: ["person"], options: Self.labelsOnly())
        var texted = frame
        let layout = try withText.renderWithLayout(into: &texted, labels: labels)
        var noTextOptions = Self.labelsOnly()
        noTextOptions.drawsLabels = false
        let plain = try OverlayRenderer(classNames: ["person"], options: noTextOptions)
            .render(frame: frame, labels: labels)

        let placed = try #require(layout.labelBoxes.first)
        #expect(layout.labelBoxes.count == 1)
        #expect(placed.classIndex == 0)
        // The person region is frame x 80..<240, y 60..<180; its label sits inside it.
        let region = PixelRect(x: 80, y: 60, width: 160, height: 120)
        #expect(region.contains(x: placed.box.x, y: placed.box.y))
        #expect(region.contains(x: placed.box.maxX - 1, y: placed.box.maxY - 1))

        var changedInside = 0, changedOutside = 0, white = 0
        for y in 0..<240 {
            for x in 0..<320 where pixel(texted, x, y) != pixel(plain, x, y) {
                if placed.box.contains(x: x, y: y) { changedInside += 1 } else { changedOutside += 1 }
                if pixel(texted, x, y).allSatisfy({ $0 >= 230 }) { white += 1 }
            }
        }
        #expect(changedOutside == 0)
        // 12 px text ("person" ≈ 45x12 px box): a few hundred pixels change, the well-covered ones turn near white
        // (the blended grey underneath is ≈ 100–200).
        #expect(changedInside > 100)
        #expect(white > 10)
    }

    @Test func textRenderingIsDeterministic() throws {
        let (frame, labels) = Self.personScene()
        let first = try OverlayRenderer(classNames: ["person"], options: Self.labelsOnly())
        let a = try first.render(frame: frame, labels: labels)
        let b = try first.render(frame: frame, labels: labels) // from the caches
        let c = try OverlayRenderer(classNames: ["person"], options: Self.labelsOnly())
            .render(frame: frame, labels: labels)
        #expect(a.pixels == b.pixels)
        #expect(a.pixels == c.pixels)
    }

    @Test func textSizeScalesWithFrameHeight() throws {
        #expect(OverlayRenderer.labelPixelSize(frameHeight: 240) == 12)
        #expect(OverlayRenderer.labelPixelSize(frameHeight: 1080) == 27)
        let font = try FontRasterizer(path: OverlayOptions.defaultFontPath)
        let small = try TextMask(text: "person", pixelSize: 12, font: font)
        let large = try TextMask(text: "person", pixelSize: 27, font: font)
        #expect(large.width > 2 * small.width - 10)
        #expect(large.height > 2 * small.height - 6)
    }

    @Test func glyphsComeFromFreeType() throws {
        let font = try FontRasterizer(path: OverlayOptions.defaultFontPath)
        let o = try font.glyph(for: "o", pixelSize: 20)
        let space = try font.glyph(for: " ", pixelSize: 20)
        // An "o" has ink, anti-aliased edges (partial coverage) and fully covered pixels; a space has no bitmap.
        #expect(o.width > 5 && o.height > 5)
        #expect(o.coverage.contains(255))
        #expect(o.coverage.contains { $0 > 0 && $0 < 255 })
        #expect(space.coverage.isEmpty)
        #expect(space.advance > 0)
        // "o" has a hole: its centre pixel is blank.
        #expect(o.coverage[(o.height / 2) * o.width + o.width / 2] < 64)
    }

    @Test func smallClassesGetNoLabel() throws {
        // Class 1 covers 4 of 19200 label pixels (0.02 % < 0.5 %): no label, though it is blended.
        let frame = RGBImage(width: 320, height: 240, fill: 100)
        let labels = labelMap(width: 160, height: 120, rectangles: [(0, 40, 30, 80, 60), (1, 0, 0, 2, 2)])
        var out = frame
        let layout = try OverlayRenderer(classNames: ["person", "dog"], options: Self.labelsOnly())
            .renderWithLayout(into: &out, labels: labels)
        #expect(layout.labelBoxes.map(\.classIndex) == [0])
    }

    @Test func overlappingLabelGivesWayToLargerRegion() throws {
        // Two long names over two neighbouring regions; their boxes (≈ 150 px wide at 12 px) would overlap, so only
        // the larger region (class 0: 110 of 200 columns) is named.
        let names = ["a rather long class name", "another long class name"]
        let frame = RGBImage(width: 200, height: 60, fill: 80)
        let labels = labelMap(width: 200, height: 60, rectangles: [(0, 0, 0, 110, 60), (1, 110, 0, 90, 60)])
        var out = frame
        let layout = try OverlayRenderer(classNames: names, options: Self.labelsOnly())
            .renderWithLayout(into: &out, labels: labels)
        #expect(layout.labelBoxes.map(\.classIndex) == [0])
    }
}
