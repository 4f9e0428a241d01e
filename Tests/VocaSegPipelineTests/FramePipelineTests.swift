import Foundation
import Testing
import VocaSegCore
import VocaSegPipeline

@Suite struct FramePipelineTests {
    func makeModel(_ model: RedChannelModel = RedChannelModel()) throws -> RedChannelModel {
        try model.prepare(vocabulary: Vocabulary(commaSeparated: "a, b, c, d"))
        return model
    }

    @Test func everyFrameArrivesInOrderWithItsTimestamps() throws {
        let source = CountingSource(total: 50)
        let sink = CollectingSink()
        let pipeline = FramePipeline(source: source, model: try makeModel(), renderer: nil, sinks: [sink])
        let outcome = try pipeline.run()
        #expect(outcome.frames == 50)
        #expect(outcome.inferredFrames == 50)
        #expect(!outcome.interrupted)
        #expect(sink.finished && !sink.aborted)
        #expect(sink.frames.map(\.frame.index) == Array(0..<50))
        #expect(sink.frames.map(\.frame.pts) == (0..<50).map { Int64($0 * 512) })
        // Frame i has red = i, 4 classes → class i*4/256.
        for f in sink.frames {
            #expect(f.result.labels.labels.allSatisfy { Int($0) == f.frame.index * 4 / 256 })
        }
    }

    @Test func everyNRunsTheModelOnEveryNthFrameAndReusesTheResult() throws {
        let model = try makeModel()
        let source = CountingSource(total: 300)
        let sink = CollectingSink()
        let pipeline = FramePipeline(source: source, model: model, renderer: nil, sinks: [sink],
                                     options: .init(queueDepth: 2, every: 7))
        let outcome = try pipeline.run()
        #expect(outcome.frames == 300)
        #expect(outcome.inferredFrames == 43)  // frames 0, 7, …, 294
        #expect(model.segmentCalls == 43)
        for f in sink.frames {
            let source = f.frame.index / 7 * 7
            #expect(f.inferred == (f.frame.index % 7 == 0))
            #expect(f.result.labels.labels[0] == UInt16(source % 256 * 4 / 256))
        }
    }

    @Test func aSlowSinkHoldsBackTheDecoder() throws {
        let sink = CollectingSink(delay: 0.002)
        let source = CountingSource(total: 120, written: { sink.writtenCount })
        let pipeline = FramePipeline(source: source, model: try makeModel(), renderer: nil, sinks: [sink],
                                     options: .init(queueDepth: 2))
        _ = try pipeline.run()
        // 5 queues of depth 2 (decoded, prepared, inferred, tracked, rendered), plus one frame held by each of the 5
        // stage threads after decode and the one being decoded.
        #expect(source.maxInFlight <= 5 * 2 + 6)
        #expect(sink.frames.count == 120)
    }

    @Test func aModelErrorAbortsEverySinkAndIsRethrown() throws {
        let sinkA = CollectingSink(), sinkB = CollectingSink()
        let pipeline = FramePipeline(source: CountingSource(total: 100),
                                     model: try makeModel(RedChannelModel(failAtCall: 10)), renderer: nil,
                                     sinks: [sinkA, sinkB])
        #expect(throws: VocaSegError.self) { try pipeline.run() }
        #expect(sinkA.aborted && sinkB.aborted)
        #expect(!sinkA.finished && !sinkB.finished)
        #expect(sinkA.frames.count < 10)
    }

    @Test func stopFinishesTheFramesInFlightAndFinalisesOutputs() throws {
        let sink = CollectingSink(delay: 0.001)
        let pipeline = FramePipeline(source: CountingSource(total: 100_000), model: try makeModel(), renderer: nil,
                                     sinks: [sink])
        // Weak: the pipeline holds this closure, so a strong capture would be a cycle (LeakSanitizer reports it).
        pipeline.onFrameWritten = { [weak pipeline] frame in if frame.frame.index == 20 { pipeline?.requestStop() } }
        let outcome = try pipeline.run()
        #expect(outcome.interrupted)
        #expect(sink.finished && !sink.aborted)
        #expect(outcome.frames >= 21 && outcome.frames < 100)
        #expect(sink.frames.map(\.frame.index) == Array(0..<outcome.frames))
    }

    @Test func stageTimingsCoverEveryStage() throws {
        let pipeline = FramePipeline(source: CountingSource(total: 20), model: try makeModel(), renderer: nil,
                                     sinks: [CollectingSink()])
        let outcome = try pipeline.run()
        let byName = Dictionary(uniqueKeysWithValues: outcome.timings.map { ($0.stage, $0) })
        for stage in ["decode", "preprocess", "inference", "write"] {
            let t = try #require(byName[stage])
            #expect(t.p50Milliseconds <= t.p95Milliseconds && t.p95Milliseconds <= t.maxMilliseconds + 0.001)
        }
        #expect(byName["preprocess"]?.frames == 20)
        #expect(byName["inference"]?.frames == 20)
    }

    /// Memory must not grow with the input's length. What the pipeline holds is the frames in flight between
    /// decode and write; over 3000 frames that number must stay within the queue bound, whichever stage is slow.
    /// (Peak RSS of the whole CLI over a 3000-frame input is measured in a separate process by the app tests.)
    @Test(arguments: [(0.0, 0.0), (0.0005, 0.0), (0.0, 0.0005)])
    func framesInFlightStayBoundedOverThreeThousandFrames(modelDelay: Double, sinkDelay: Double) throws {
        let sink = CollectingSink(delay: sinkDelay, keepFrames: false)
        let source = CountingSource(total: 3000, width: 4, height: 2, written: { sink.writtenCount })
        let pipeline = FramePipeline(source: source, model: try makeModel(RedChannelModel(segmentDelay: modelDelay)),
                                     renderer: nil, sinks: [sink], options: .init(queueDepth: 3))
        let outcome = try pipeline.run()
        #expect(outcome.frames == 3000)
        #expect(source.maxInFlight <= 5 * 3 + 6, "max in flight \(source.maxInFlight)")
        #expect(outcome.queueHighWaterMarks.values.allSatisfy { $0 <= 3 })
    }
}
