import Foundation
import Testing
import VocaSegCore
import VocaSegPipeline
import VocaSegTestSupport

/// Frames of `ShapesClip`, uncompressed, so the stand-in model's segments are exact.
private final class ShapesSource: FrameSource {
    private var next = 0
    func nextFrame() throws -> VideoFrame? {
        guard next < ShapesClip.frameCount else { return nil }
        defer { next += 1 }
        return VideoFrame(image: ShapesClip.frame(next).image, index: next, pts: Int64(next), duration: 1,
                          ptsSeconds: Double(next) / 25)
    }
}

/// Scores the segment ids of every inferred frame against the clip's true identities. Frames between inferred
/// ones (`--every N`) show an earlier frame's masks, which do not line up with their own truth.
private final class ScoringSink: FrameSink {
    var score = TrackingScore()
    var frames = 0
    func consume(_ frame: ProcessedFrame) throws {
        frames += 1
        guard frame.inferred else { return }
        let ids = try #require(frame.result.panoptic).segmentIds
        score.add(truth: ShapesClip.frame(frame.frame.index).truth, trackIds: ids)
    }
    func finish() throws {}
    func abort() {}
}

/// The tracking figures: identity switches, fragmentations and merges on the synthetic clip, through the real
/// pipeline (tracking stage included) with the stand-in panoptic model. Printed for the record; run with
/// `swift test --filter TrackingFiguresTests`.
@Suite struct TrackingFiguresTests {
    func score(every: Int, tracking: TrackingOptions = TrackingOptions()) throws -> TrackingScore {
        let model = ShapesPanopticModel()
        try model.prepare(vocabulary: try Vocabulary(commaSeparated: ShapesClip.vocabulary))
        let sink = ScoringSink()
        let pipeline = FramePipeline(source: ShapesSource(), model: model, renderer: nil, sinks: [sink],
                                     options: .init(every: every, tracking: tracking))
        _ = try pipeline.run()
        #expect(sink.frames == ShapesClip.frameCount)
        print("tracking figures (every \(every), IoU \(tracking.iouThreshold), memory \(tracking.memory)): \(sink.score)")
        return sink.score
    }

    @Test func noSwitchesNoFragmentsOnEveryFrame() throws {
        let s = try score(every: 1)
        // Five people and cars, each seen in many frames; a switch or split would show in these counts.
        #expect(s.objects == 5)
        #expect(s.identitySwitches == 0)
        #expect(s.fragmentations == 0)
        #expect(s.merges == 0)
    }

    /// With `--every N` masks move N times as far between matches, so fast or growing objects (one entering at
    /// the frame edge) can fall under the IoU threshold; these are the figures measured when this was written,
    /// kept as a bound so that a regression shows.
    @Test(arguments: [(2, 1), (3, 2)]) func fewSwitchesWhenInferringEveryNthFrame(every: Int, bound: Int) throws {
        let s = try score(every: every)
        #expect(s.objects == 5)
        #expect(s.identitySwitches <= bound)
        #expect(s.fragmentations <= bound)
        #expect(s.merges == 0)
    }

    /// The measure can fail: without memory the car hidden for four frames comes back under a new id.
    @Test func withoutMemoryTheHiddenCarFragments() throws {
        let s = try score(every: 1, tracking: TrackingOptions(memory: 0))
        #expect(s.identitySwitches == 1)
        #expect(s.fragmentations == 1)
    }

    /// And with an IoU threshold no moving mask can reach, every frame gives new ids.
    @Test func anImpossibleThresholdFragmentsEverything() throws {
        let s = try score(every: 1, tracking: TrackingOptions(iouThreshold: 1.0))
        #expect(s.identitySwitches > 100)
        #expect(s.merges == 0)
    }
}
