import Testing
@testable import VocaSegRender
import VocaSegCore

@Suite struct BlendTests {
    static let red = RGBColor(r: 200, g: 100, b: 0)
    static let teal = RGBColor(r: 1, g: 254, b: 37)
    static let overrides = ["red thing": red, "Teal Thing": teal]

    @Test func halfAlphaBlendIsRoundHalfUpOfTheMean() throws {
        // 3x1 frame: class 0, class 1, unlabeled.
        let frame = RGBImage(width: 3, height: 1, pixels: [10, 21, 255, 0, 0, 0, 9, 8, 7])
        let labels = LabelMap(width: 3, height: 1, labels: [0, 1, LabelMap.unlabeled])
        // Override keys are matched case-insensitively ("Teal Thing" names class "teal thing").
        let renderer = try OverlayRenderer(classNames: ["red thing", "teal thing"],
                                           options: blendOnly(alpha: 0.5, overrides: Self.overrides))
        let out = try renderer.render(frame: frame, labels: labels)
        // out = round(0.5·c + 0.5·f), halves rounding up:
        //   (200+10)/2 = 105, (100+21)/2 = 60.5 → 61, (0+255)/2 = 127.5 → 128
        #expect(pixel(out, 0, 0) == [105, 61, 128])
        //   (1+0)/2 = 0.5 → 1, (254+0)/2 = 127, (37+0)/2 = 18.5 → 19
        #expect(pixel(out, 1, 0) == [1, 127, 19])
        // Unlabeled: untouched.
        #expect(pixel(out, 2, 0) == [9, 8, 7])
    }

    @Test func quarterAlphaBlend() throws {
        let frame = RGBImage(width: 1, height: 1, pixels: [10, 21, 255])
        let labels = LabelMap(width: 1, height: 1, labels: [0])
        let renderer = try OverlayRenderer(classNames: ["red thing"],
                                           options: blendOnly(alpha: 0.25, overrides: Self.overrides))
        let out = try renderer.render(frame: frame, labels: labels)
        // round(0.25·c + 0.75·f): 0.25·200 + 0.75·10 = 57.5 → 58; 25 + 15.75 = 40.75 → 41; 0 + 191.25 → 191
        #expect(pixel(out, 0, 0) == [58, 41, 191])
    }

    @Test func alphaOneAndZero() throws {
        let frame = RGBImage(width: 1, height: 1, pixels: [10, 21, 255])
        let labels = LabelMap(width: 1, height: 1, labels: [0])
        let opaque = try OverlayRenderer(classNames: ["red thing"],
                                         options: blendOnly(alpha: 1, overrides: Self.overrides))
        #expect(pixel(try opaque.render(frame: frame, labels: labels), 0, 0) == [200, 100, 0])
        let clear = try OverlayRenderer(classNames: ["red thing"],
                                        options: blendOnly(alpha: 0, overrides: Self.overrides))
        #expect(pixel(try clear.render(frame: frame, labels: labels), 0, 0) == [10, 21, 255])
    }

    @Test func paletteColoursAreUsedWithoutOverrides() throws {
        let renderer = try OverlayRenderer(classNames: ["person", "car"], options: blendOnly())
        let p = Palette.color(forClassName: "car")
        #expect(renderer.color(ofClass: 1) == RGBColor(r: p.r, g: p.g, b: p.b))
        #expect(renderer.color(ofClass: 2) == nil)
    }

    /// A vocabulary file may name two classes alike (ADE-847's two `screen`s): they are drawn in different colours,
    /// the first in the name's own; an override by name colours them all.
    @Test func classesSharingANameGetTheirOwnColours() throws {
        let names = ["screen", "sky", "Screen"]
        let renderer = try OverlayRenderer(classNames: names, options: blendOnly())
        let p = Palette.color(forClassName: "screen")
        #expect(renderer.color(ofClass: 0) == RGBColor(r: p.r, g: p.g, b: p.b))
        #expect(renderer.color(ofClass: 2) != renderer.color(ofClass: 0))
        let overridden = try OverlayRenderer(classNames: names, options: blendOnly(overrides: ["SCREEN": Self.red]))
        #expect(overridden.color(ofClass: 0) == Self.red && overridden.color(ofClass: 2) == Self.red)
    }

    @Test func smallerLabelMapIsSampledNearestWithFloorRule() throws {
        // 2x2 label map onto a 5x3 frame. Column of frame x: floor(x·2/5) = 0,0,0,1,1 (x = 0…4);
        // row of frame y: floor(y·2/3) = 0,0,1 (y = 0…2). Alpha 1 makes each pixel show its class colour.
        let classes = ["a", "b", "c", "d"]
        let colours = [RGBColor(r: 10, g: 0, b: 0), RGBColor(r: 20, g: 0, b: 0),
                       RGBColor(r: 30, g: 0, b: 0), RGBColor(r: 40, g: 0, b: 0)]
        let renderer = try OverlayRenderer(classNames: classes, options: blendOnly(
            alpha: 1, overrides: Dictionary(uniqueKeysWithValues: zip(classes, colours))))
        let labels = LabelMap(width: 2, height: 2, labels: [0, 1, 2, 3])
        let out = try renderer.render(frame: RGBImage(width: 5, height: 3), labels: labels)
        let expected: [[UInt8]] = [
            [10, 10, 10, 20, 20],
            [10, 10, 10, 20, 20],
            [30, 30, 30, 40, 40],
        ]
        for y in 0..<3 {
            #expect((0..<5).map { pixel(out, $0, y)[0] } == expected[y], "row \(y)")
        }
    }

    @Test func nearestIndexTableMatchesFloorRule() {
        // floor(d·3/7) for d = 0…6: 0, 0, 0, 1, 1, 2, 2
        #expect(NearestIndexTable.indices(outputCount: 7, inputCount: 3) == [0, 0, 0, 1, 1, 2, 2])
        // Downsampling 7 → 3: floor(d·7/3) = 0, 2, 4
        #expect(NearestIndexTable.indices(outputCount: 3, inputCount: 7) == [0, 2, 4])
    }

    @Test func largeFrameMatchesPerPixelFormula() throws {
        // Full-HD frame, 160x90 label map with stripes and holes: checks the parallel row chunks and the
        // upsampling together against the formula evaluated pixel by pixel here.
        let frame = gradientFrame(width: 1920, height: 1080)
        var values = [UInt16](repeating: 0, count: 160 * 90)
        for i in values.indices { values[i] = i % 13 == 0 ? LabelMap.unlabeled : UInt16((i / 7) % 5) }
        let labels = LabelMap(width: 160, height: 90, labels: values)
        let names = ["sky", "road", "tree", "car", "person"]
        let renderer = try OverlayRenderer(classNames: names, options: blendOnly(alpha: 0.6))
        let out = try renderer.render(frame: frame, labels: labels)
        let a = 154 // round(0.6 · 256)
        var mismatches = 0
        for y in 0..<1080 {
            for x in 0..<1920 {
                let label = values[(y * 90 / 1080) * 160 + x * 160 / 1920]
                let i = (y * 1920 + x) * 3
                for ch in 0..<3 {
                    var expected = frame.pixels[i + ch]
                    if label != LabelMap.unlabeled {
                        let c = Palette.color(forClassName: names[Int(label)])
                        let component = Int([c.r, c.g, c.b][ch])
                        expected = UInt8((a * component + (256 - a) * Int(frame.pixels[i + ch]) + 128) >> 8)
                    }
                    if out.pixels[i + ch] != expected { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
    }
}
