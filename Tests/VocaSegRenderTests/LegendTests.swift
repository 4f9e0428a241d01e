import Testing
@testable import VocaSegRender
import VocaSegCore

@Suite struct LegendTests {
    static let names = ["person", "car", "road", "tree"]

    static func legendOnly() -> OverlayOptions {
        OverlayOptions(alpha: 0.5, drawsOutlines: false, drawsLabels: false, drawsLegend: true)
    }

    @Test func legendListsOnlyPresentClassesInIndexOrder() throws {
        // Classes 2 (road) and 0 (person) present; 1 and 3 absent. Black frame: blending never yields an exact
        // class colour (round(c/2) ≠ c for these bright palette colours), so exact-colour pixels are swatches.
        let frame = RGBImage(width: 320, height: 240, fill: 0)
        let labels = labelMap(width: 320, height: 240, rectangles: [(2, 0, 120, 320, 120), (0, 200, 20, 60, 80)])
        let renderer = try OverlayRenderer(classNames: Self.names, options: Self.legendOnly())
        var out = frame
        let layout = try #require(try renderer.renderWithLayout(into: &out, labels: labels).legend)
        #expect(layout.entries.map(\.classIndex) == [0, 2])

        for (index, _) in Self.names.enumerated() {
            let c = try #require(renderer.color(ofClass: index))
            var exact = 0
            for y in 0..<240 {
                for x in 0..<320 where color(out, x, y) == c { exact += 1 }
            }
            if [0, 2].contains(index) {
                let swatch = layout.entries.first { $0.classIndex == index }!.swatch
                #expect(exact >= swatch.width * swatch.height, "class \(index)")
                #expect(color(out, swatch.x + swatch.width / 2, swatch.y + swatch.height / 2) == c)
                #expect(swatch.width >= 4)
            } else {
                #expect(exact == 0, "absent class \(index) has \(exact) pixels of its colour")
            }
        }
    }

    @Test func legendBackgroundIsSemiTransparent() throws {
        // Unlabeled white frame with one labeled pixel far from the legend: the legend box darkens the frame to
        // (255·115 + 128) >> 8 = 115 where nothing else is drawn; its top-left corner has no swatch or text.
        var values = [UInt16](repeating: LabelMap.unlabeled, count: 200 * 100)
        values[99 * 200 + 199] = 1
        let renderer = try OverlayRenderer(classNames: Self.names, options: Self.legendOnly())
        var out = RGBImage(width: 200, height: 100, fill: 255)
        let layout = try #require(try renderer.renderWithLayout(
            into: &out, labels: LabelMap(width: 200, height: 100, labels: values)).legend)
        #expect(layout.entries.map(\.classIndex) == [1])
        let box = layout.background
        #expect(pixel(out, box.x, box.y) == [115, 115, 115])
        #expect(pixel(out, box.maxX - 1, box.maxY - 1) == [115, 115, 115])
        // Just outside the box the frame is untouched.
        #expect(pixel(out, box.maxX, box.y) == [255, 255, 255])
        #expect(pixel(out, box.x, box.maxY) == [255, 255, 255])
    }

    @Test func noLegendWhenNothingIsLabeled() throws {
        let renderer = try OverlayRenderer(classNames: Self.names, options: Self.legendOnly())
        var out = RGBImage(width: 64, height: 48, fill: 7)
        let labels = LabelMap(width: 64, height: 48, labels: [UInt16](repeating: LabelMap.unlabeled, count: 64 * 48))
        let layout = try renderer.renderWithLayout(into: &out, labels: labels)
        #expect(layout.legend == nil)
        #expect(out.pixels.allSatisfy { $0 == 7 })
    }

    @Test func manyClassesWrapIntoColumns() throws {
        // 40 classes on a 240-pixel-high frame: rows continue in a second column instead of leaving the frame.
        let names = (0..<40).map { "class \($0)" }
        let labels = LabelMap(width: 40, height: 1, labels: (0..<40).map { UInt16($0) })
        let renderer = try OverlayRenderer(classNames: names, options: Self.legendOnly())
        var out = RGBImage(width: 640, height: 240, fill: 0)
        let layout = try #require(try renderer.renderWithLayout(into: &out, labels: labels).legend)
        #expect(layout.entries.count == 40)
        #expect(Set(layout.entries.map(\.swatch.x)).count > 1)
        #expect(layout.entries.allSatisfy { $0.swatch.maxY <= 240 })
        #expect(layout.background.maxY <= 240)
    }
}
