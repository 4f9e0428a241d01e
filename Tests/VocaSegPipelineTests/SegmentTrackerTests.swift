import Testing
import VocaSegCore
import VocaSegPipeline

/// The tracker on hand-made id maps (4×1 or 4×2 frames).
@Suite struct SegmentTrackerTests {
    func result(_ ids: [UInt32], width: Int = 4, _ segments: [(UInt32, Int, Bool)]) -> PanopticResult {
        PanopticResult(width: width, height: ids.count / width, segmentIds: ids,
                       segments: segments.map { PanopticSegment(id: $0.0, classIndex: $0.1, isThing: $0.2, score: 1) })
            .normalized()
    }

    @Test func aThingKeepsItsIdWhenTheModelRenumbersIt() {
        let tracker = SegmentTracker()
        let first = tracker.update(result([1, 1, 2, 2], [(1, 0, true), (2, 0, true)]))
        // Same masks, model ids swapped.
        let second = tracker.update(result([2, 2, 1, 1], [(1, 0, true), (2, 0, true)]))
        #expect(first.segmentIds == second.segmentIds)
        #expect(first.segmentIds == [1, 1, 2, 2])
    }

    @Test func aSegmentOfAnotherClassDoesNotContinueATrack() {
        let tracker = SegmentTracker()
        _ = tracker.update(result([1, 1, 0, 0], [(1, 0, true)]))
        let second = tracker.update(result([1, 1, 0, 0], [(1, 1, true)]))
        #expect(second.segmentIds == [2, 2, 0, 0])
    }

    @Test func stuffKeepsOneIdPerClassEvenApartAndAcrossCuts() {
        let tracker = SegmentTracker()
        let first = tracker.update(result([1, 1, 2, 2], [(1, 5, false), (2, 0, true)]))
        let second = tracker.update(result([0, 0, 0, 1], [(1, 5, false)]), sceneCut: true)
        #expect(first.segmentIds[0] == second.segmentIds[3])
    }

    @Test func aSceneCutEndsThingTracks() {
        let tracker = SegmentTracker()
        let first = tracker.update(result([1, 1, 1, 1], [(1, 0, true)]))
        let second = tracker.update(result([1, 1, 1, 1], [(1, 0, true)]), sceneCut: true)
        #expect(first.segmentIds[0] != second.segmentIds[0])
        #expect(second.segments.map(\.id) == [second.segmentIds[0]])
    }

    @Test func memoryBridgesAGapAndThenForgets() {
        let tracker = SegmentTracker(options: TrackingOptions(memory: 1))
        let seen = tracker.update(result([1, 1, 0, 0], [(1, 0, true)]))
        _ = tracker.update(result([0, 0, 0, 0], []))
        let back = tracker.update(result([1, 1, 0, 0], [(1, 0, true)]))
        #expect(back.segmentIds == seen.segmentIds)
        _ = tracker.update(result([0, 0, 0, 0], []))
        _ = tracker.update(result([0, 0, 0, 0], []))
        let late = tracker.update(result([1, 1, 0, 0], [(1, 0, true)]))
        #expect(late.segmentIds[0] != seen.segmentIds[0])
    }

    @Test func theCutDetectorSeesAShotChangeButNotAMovingObject() {
        let detector = SceneCutDetector(threshold: 0.3)
        var dark = RGBImage(width: 64, height: 36, fill: 20)
        #expect(!detector.isCut(dark))
        // A small bright square appears: no cut.
        for y in 0..<8 { for x in 0..<8 { for c in 0..<3 { dark.pixels[(y * 64 + x) * 3 + c] = 250 } } }
        #expect(!detector.isCut(dark))
        #expect(detector.isCut(RGBImage(width: 64, height: 36, fill: 230)))
    }
}
