import Testing
@testable import VocaSegRender
import VocaSegCore

@Suite struct RegionAnchorTests {
    @Test func anchorOfRingIsOnTheRing() throws {
        // 100x100 map: class 0 is a ring (square annulus 10..<90 minus 30..<70), class 1 fills its hole. The ring's
        // centroid is in the hole, so the anchor must be elsewhere, on the ring itself.
        var values = [UInt16](repeating: LabelMap.unlabeled, count: 100 * 100)
        for y in 10..<90 {
            for x in 10..<90 { values[y * 100 + x] = (30..<70).contains(x) && (30..<70).contains(y) ? 1 : 0 }
        }
        let labels = LabelMap(width: 100, height: 100, labels: values)
        let anchors = RegionAnchorFinder.anchors(labels: labels, frameWidth: 400, frameHeight: 400, classes: [0, 1])
        #expect(anchors.map(\.classIndex) == [0, 1])
        for anchor in anchors {
            let label = values[(anchor.y * 100 / 400) * 100 + anchor.x * 100 / 400]
            #expect(Int(label) == anchor.classIndex, "anchor \(anchor) lies on class \(label)")
        }
        // The hole's anchor is its centre (deepest point): label pixel 49 or 50 → frame ≈ 198…202.
        let hole = anchors[1]
        #expect(abs(hole.x - 200) <= 4 && abs(hole.y - 200) <= 4)
    }

    @Test func largestComponentWins() throws {
        // Class 0 has a small blob at the top left and a large one at the bottom right.
        let labels = labelMap(width: 60, height: 40, rectangles: [(0, 2, 2, 5, 5), (0, 30, 20, 25, 15)])
        let anchors = RegionAnchorFinder.anchors(labels: labels, frameWidth: 60, frameHeight: 40, classes: [0])
        let anchor = try #require(anchors.first)
        #expect(PixelRect(x: 30, y: 20, width: 25, height: 15).contains(x: anchor.x, y: anchor.y))
        #expect(anchor.regionCells == 25 * 15)
    }

    @Test func preimageMiddleMapsBack() {
        // Every label pixel's chosen frame pixel samples that label pixel again (upsampling 37 → 1080).
        for source in 0..<37 {
            let dst = RegionAnchorFinder.middleOfPreimage(source: source, inputCount: 37, outputCount: 1080)
            #expect(dst * 37 / 1080 == source)
        }
    }
}
