import Testing
@testable import VocaSegRender
import VocaSegCore

/// The panoptic overlay: instance shades picked by track id, outlines between touching instances of one class,
/// and `person 3` labels.
@Suite struct InstanceOverlayTests {
    static let person = RGBColor(r: 200, g: 100, b: 40)
    static let grass = RGBColor(r: 20, g: 160, b: 60)
    static let classNames = ["grass", "person"]

    /// Darker outline shade, as the blender draws it: c · 141/256, rounded.
    static func dark(_ c: RGBColor) -> [UInt8] {
        [c.r, c.g, c.b].map { UInt8((Int($0) * 141 + 128) >> 8) }
    }

    static func rgb(_ c: RGBColor) -> [UInt8] { [c.r, c.g, c.b] }

    /// A panoptic frame: grass (stuff, id `grassId`, which must differ from the people's ids) everywhere, with each
    /// thing rectangle (track id, x, y, w, h) painted over it as a person.
    static func scene(width: Int, height: Int, grassId: UInt32 = 100,
                      people: [(id: UInt32, x: Int, y: Int, w: Int, h: Int)]) -> PanopticResult {
        var ids = [UInt32](repeating: grassId, count: width * height)
        for p in people {
            for y in p.y..<(p.y + p.h) { for x in p.x..<(p.x + p.w) { ids[y * width + x] = p.id } }
        }
        let segments = [PanopticSegment(id: grassId, classIndex: 0, isThing: false, score: 1)]
            + people.map { PanopticSegment(id: $0.id, classIndex: 1, isThing: true, score: 1) }
        return PanopticResult(width: width, height: height, segmentIds: ids, segments: segments).normalized()
    }

    static func result(_ panoptic: PanopticResult) -> SegmentationResult {
        SegmentationResult(labels: panoptic.labelMap(), panoptic: panoptic)
    }

    /// Opaque colours and nothing else, so that a segment's interior pixel is exactly its colour.
    static func opaque(outlines: Bool = false) -> OverlayOptions {
        blendOnly(alpha: 1, outlines: outlines, overrides: ["person": person, "grass": grass])
    }

    @Test func aTrackKeepsItsShadeInAnyFrameAndAnyRun() throws {
        // Track 1 of class person: shade step (1 · 3) mod 7 = 3, i.e. 25 % towards white. Pinned as numbers, so
        // that a colour drawn from anything that changes between runs (a hash seed, dictionary order) fails.
        let expected: [UInt8] = [214, 139, 94]
        #expect(Self.rgb(InstanceColors.color(classColor: Self.person, trackId: 1, isThing: true)) == expected)

        // Frame A: track 1 alone on the left. Frame B: track 1 on the right, with two other people drawn first.
        let a = Self.scene(width: 40, height: 20, people: [(1, 2, 2, 8, 8)])
        let b = Self.scene(width: 40, height: 20, grassId: 9, people: [(5, 2, 2, 6, 6), (7, 12, 2, 6, 6),
                                                                        (1, 28, 8, 8, 8)])
        let frame = RGBImage(width: 40, height: 20, fill: 90)
        let first = try OverlayRenderer(classNames: Self.classNames, options: Self.opaque())
        let inA = try first.render(frame: frame, result: Self.result(a))
        let inB = try first.render(frame: frame, result: Self.result(b))
        #expect(pixel(inA, 5, 5) == expected)
        #expect(pixel(inB, 31, 11) == expected)
        // A second renderer (another run) draws the same pixels.
        let second = try OverlayRenderer(classNames: Self.classNames, options: Self.opaque())
        #expect(try second.render(frame: frame, result: Self.result(b)).pixels == inB.pixels)
        // Stuff keeps its class colour whatever its id.
        #expect(pixel(inA, 20, 15) == Self.rgb(Self.grass))
        #expect(pixel(inB, 20, 15) == Self.rgb(Self.grass))
    }

    @Test func differentTracksOfOneClassGetDifferentShades() throws {
        // Seven consecutive ids (a crowd born together) take all seven shades: no two alike.
        let colors = (1...7).map { Self.rgb(InstanceColors.color(classColor: Self.person, trackId: UInt32($0), isThing: true)) }
        #expect(Set(colors).count == 7, "\(colors)")
        // Drawn: two people side by side differ from each other and from the class colour where it is not a shade.
        let scene = Self.scene(width: 30, height: 10, people: [(3, 2, 2, 10, 6), (4, 14, 2, 10, 6)])
        let out = try OverlayRenderer(classNames: Self.classNames, options: Self.opaque())
            .render(frame: RGBImage(width: 30, height: 10), result: Self.result(scene))
        #expect(pixel(out, 6, 4) != pixel(out, 18, 4))
        #expect(pixel(out, 6, 4) == Self.rgb(InstanceColors.color(classColor: Self.person, trackId: 3, isThing: true)))
        #expect(pixel(out, 18, 4) == Self.rgb(InstanceColors.color(classColor: Self.person, trackId: 4, isThing: true)))
    }

    @Test func touchingInstancesOfOneClassAreOutlinedWhereTheSemanticMapIsNot() throws {
        // 20x8: two people touching at x = 9 | 10 over grass; the people fill rows 0-7 of columns 2-17.
        let scene = Self.scene(width: 20, height: 8, people: [(2, 2, 0, 8, 8), (3, 10, 0, 8, 8)])
        let frame = RGBImage(width: 20, height: 8, fill: 50)
        let out = try OverlayRenderer(classNames: Self.classNames, options: Self.opaque(outlines: true))
            .render(frame: frame, result: Self.result(scene))
        let left = InstanceColors.color(classColor: Self.person, trackId: 2, isThing: true)
        let right = InstanceColors.color(classColor: Self.person, trackId: 3, isThing: true)
        for y in 0..<8 {
            // The boundary between the two instances is outlined on both sides.
            #expect(pixel(out, 9, y) == Self.dark(left), "row \(y)")
            #expect(pixel(out, 10, y) == Self.dark(right), "row \(y)")
            // Their interiors are not.
            #expect(pixel(out, 5, y) == Self.rgb(left), "row \(y)")
            #expect(pixel(out, 14, y) == Self.rgb(right), "row \(y)")
        }
        // The same pixels as a semantic map (both people one class): no line between them.
        let semantic = try OverlayRenderer(classNames: Self.classNames, options: Self.opaque(outlines: true))
            .render(frame: frame, result: SegmentationResult(labels: scene.labelMap()))
        for y in 0..<8 {
            #expect(pixel(semantic, 9, y) == Self.rgb(Self.person), "row \(y)")
            #expect(pixel(semantic, 10, y) == Self.rgb(Self.person), "row \(y)")
        }
    }

    @Test func aFrameListingOneIdTwiceIsRefused() throws {
        // Person 100 collides with the grass's id 100.
        let scene = Self.scene(width: 20, height: 8, people: [(100, 2, 0, 8, 8)])
        #expect(throws: VocaSegError(.internal, "segment id 100 is listed twice in one frame")) {
            try OverlayRenderer(classNames: Self.classNames, options: Self.opaque())
                .render(frame: RGBImage(width: 20, height: 8), result: Self.result(scene))
        }
    }

    @Test func thingsAreLabelledWithTheirTrackIdAndStuffByItsClass() throws {
        // Alpha 0 leaves the frame's pixels under the segments as they were, so only the text changes them.
        let options = OverlayOptions(alpha: 0, drawsOutlines: false, drawsLabels: true, drawsLegend: false)
        let scene = Self.scene(width: 320, height: 240, people: [(3, 80, 60, 160, 120)])
        let frame = RGBImage(width: 320, height: 240, fill: 100)
        let renderer = try OverlayRenderer(classNames: Self.classNames, options: options)
        var panoptic = frame
        let layout = try renderer.renderPanopticWithLayout(into: &panoptic, panoptic: scene)
        // Two labels: the grass (stuff) and person 3, each reported under its vocabulary class.
        #expect(Set(layout.labelBoxes.map(\.classIndex)) == [0, 1])

        // The same regions as a semantic map whose classes are literally named "grass" and "person 3" give the
        // same pixels: the thing's label is its class name and track id, the stuff's its class name alone.
        let named = try OverlayRenderer(classNames: ["grass", "person 3"], options: options)
            .render(frame: frame, labels: scene.labelMap())
        #expect(panoptic.pixels == named.pixels)
        let plainNames = try OverlayRenderer(classNames: Self.classNames, options: options)
            .render(frame: frame, labels: scene.labelMap())
        #expect(panoptic.pixels != plainNames.pixels)

        let person = try #require(layout.labelBoxes.first { $0.classIndex == 1 })
        let font = try FontRasterizer(path: OverlayOptions.defaultFontPath)
        let text = try TextMask(text: "person 3", pixelSize: OverlayRenderer.labelPixelSize(frameHeight: 240), font: font)
        #expect(person.box.width == text.width)
    }
}
