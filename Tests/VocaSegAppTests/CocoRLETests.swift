import Testing
import VocaSegCore
@testable import VocaSegApp

/// Expected strings are pycocotools' `mask.encode(np.asfortranarray(m))["counts"]` for the same masks.
@Suite struct CocoRLETests {
    @Test func matchesPycocotools() {
        // 3×4 frame, row-major ids:
        // 1 1 2 2
        // 1 0 2 2
        // 0 0 0 2
        let p = PanopticResult(width: 4, height: 3, segmentIds: [1, 1, 2, 2, 1, 0, 2, 2, 0, 0, 0, 2],
                               segments: [PanopticSegment(id: 1, classIndex: 0, isThing: true, score: 1),
                                          PanopticSegment(id: 2, classIndex: 0, isThing: true, score: 1)])
        let rle = CocoRLE.encodeSegments(p)
        #expect(rle[1]?["counts"] as? String == "021O7")
        #expect(rle[2]?["counts"] as? String == "6211")
        #expect(rle[1]?["size"] as? [Int] == [3, 4])
    }

    @Test func largeCountsUseSeveralCharacters() {
        // A 1100×1 mask whose first 100 pixels are set: counts [0, 100, 1000].
        #expect(CocoRLE.compress([0, 100, 1000]) == "0T3Xo0")
    }
}
