import Dispatch
import Foundation
import VocaSegCore

/// decode → preprocess → inference → track → overlay → sinks, each stage on its own serial dispatch queue, joined
/// by bounded queues. The track stage gives panoptic segments persistent ids and passes semantic results through.
///
/// Back-pressure: a slow stage fills the queue in front of it and its producer blocks, so no frame is ever dropped
/// and at most `queueDepth` frames wait between two stages: memory does not grow with the input's length.
/// `--every N` runs the model on frames 0, N, 2N, … and reuses the latest result for the frames in between (the
/// overlay is still drawn on every frame, so the output keeps every frame and timestamp of the input).
public final class FramePipeline: @unchecked Sendable {
    public struct Options: Sendable {
        /// Frames that may wait between two stages (2-4 is enough to keep every stage busy).
        public var queueDepth: Int = 3
        /// Run inference on every Nth frame only (`keyframes` overrides it when set).
        public var every: Int = 1
        /// Which frames the model runs on; nil: `.every(every)`.
        public var keyframes: KeyframePolicy?
        /// What the other frames get: the previous result warped by their motion vectors, or the last one held.
        public var propagation: Propagation = .hold
        /// Frames per stage left out of the timings (benchmark warm-up).
        public var warmupFrames: Int = 0
        /// How panoptic segments are matched across frames.
        public var tracking = TrackingOptions()
        /// Bounded latency for live sources: the queues in front of preprocessing and inference hold one frame
        /// each and drop the older one when a newer arrives, so inference always takes the newest frame and the
        /// decoder never waits; drops are counted and end-to-end latency is timed (`latency`).
        public var live = false
        public init(queueDepth: Int = 3, every: Int = 1, warmupFrames: Int = 0,
                    tracking: TrackingOptions = TrackingOptions(), live: Bool = false,
                    keyframes: KeyframePolicy? = nil, propagation: Propagation = .hold) {
            self.queueDepth = queueDepth
            self.every = every
            self.keyframes = keyframes
            self.propagation = propagation
            self.warmupFrames = warmupFrames
            self.tracking = tracking
            self.live = live
        }
    }

    public struct Outcome: Sendable {
        public var frames: Int
        public var inferredFrames: Int
        /// Live mode: frames decoded but dropped because inference was busy with an earlier one.
        public var droppedFrames: Int
        /// True when `requestStop()` ended the run early; the outputs are complete up to the last frame.
        public var interrupted: Bool
        public var timings: [StageTiming]
        public var wallSeconds: Double
        /// Model-internal stage timings (e.g. backbone, head) summed over frames.
        public var queueHighWaterMarks: [String: Int]
    }

    private let source: FrameSource
    private let model: SegmentationModel
    private let renderer: FrameRenderer?
    private let sinks: [FrameSink]
    private let options: Options
    public let clock: StageClock
    private let stopFlag = AtomicFlag()
    private let firstError = ErrorBox()

    /// Called on the sink stage's thread after each frame is written.
    public var onFrameWritten: (@Sendable (ProcessedFrame) -> Void)?

    public init(source: FrameSource, model: SegmentationModel, renderer: FrameRenderer?, sinks: [FrameSink],
                options: Options = Options()) {
        precondition(options.every >= 1 && options.queueDepth >= 1, "FramePipeline: bad options")
        self.source = source
        self.model = model
        self.renderer = renderer
        self.sinks = sinks
        self.options = options
        clock = StageClock(warmupSamples: options.warmupFrames)
    }

    /// Ask the run to end after the frame in flight: decoding stops, queued frames are finished, outputs are
    /// finalised. Safe to call from a signal handler's queue.
    public func requestStop() { stopFlag.set() }

    private struct Prepared { var frame: VideoFrame; var input: PreprocessedFrame? }
    private struct Inferred {
        var frame: VideoFrame
        var result: SegmentationResult
        var inferred: Bool
        var propagated = false
    }

    /// `result` carried to the next frame by `motion`: the label map and the panoptic segment map; nil when the
    /// sizes differ (the caller holds the result then). The model's timings and payload stay those of the keyframe.
    static func propagate(_ result: SegmentationResult, by motion: MotionField) -> SegmentationResult? {
        guard let labels = result.labels.propagated(by: motion) else { return nil }
        var out = result
        out.labels = labels
        if let panoptic = result.panoptic {
            guard let warped = panoptic.propagated(by: motion) else { return nil }
            out.panoptic = warped
        }
        return out
    }

    /// Runs to the end of the input (or until stopped or failed). On failure every sink is aborted and the first
    /// error is rethrown; on success or stop every sink is finished.
    public func run() throws -> Outcome {
        let start = DispatchTime.now().uptimeNanoseconds
        let live = options.live
        let decoded = BoundedQueue<VideoFrame>(capacity: live ? 1 : options.queueDepth, leaky: live)
        let prepared = BoundedQueue<Prepared>(capacity: live ? 1 : options.queueDepth, leaky: live)
        let inferred = BoundedQueue<Inferred>(capacity: options.queueDepth)
        let tracked = BoundedQueue<Inferred>(capacity: options.queueDepth)
        let rendered = BoundedQueue<ProcessedFrame>(capacity: options.queueDepth)
        let queues: [(String, any CancellableQueue)] = [
            ("decoded", decoded), ("prepared", prepared), ("inferred", inferred), ("tracked", tracked),
            ("rendered", rendered),
        ]
        let group = DispatchGroup()
        let fail: (Error) -> Void = { [firstError] error in
            firstError.store(error)
            for (_, q) in queues { q.cancel() }
        }
        let chooser = KeyframeChooser(options.keyframes ?? .every(options.every))
        var inferredCount = 0
        var droppedBeforeFirstResult = 0

        stage("decode", group) { [source, clock, stopFlag] in
            defer { decoded.close() }
            while !stopFlag.isSet {
                guard var frame = try clock.measure("decode", { try source.nextFrame() }) else { break }
                frame.arrivalNanoseconds = DispatchTime.now().uptimeNanoseconds
                if !decoded.push(frame) { return }
            }
        } onError: { fail($0) }

        stage("preprocess", group) { [model, clock] in
            defer { prepared.close() }
            // Decided on the frames that reach this stage (in live mode some drop out before it).
            while let frame = decoded.pop() {
                var input: PreprocessedFrame?
                if chooser.isKeyframe(frame) {
                    input = try clock.measure("preprocess") { try model.preprocess(frame.image) }
                }
                if !prepared.push(Prepared(frame: frame, input: input)) { return }
            }
        } onError: { fail($0) }

        stage("inference", group) { [model, clock] in
            defer { inferred.close() }
            var state: FrameState?
            var latest: SegmentationResult?
            while let item = prepared.pop() {
                var ran = false
                if let input = item.input {
                    let result = try clock.measure("inference") { try model.segment(input, state: &state) }
                    for (name, seconds) in result.timings.sorted(by: { $0.key < $1.key }) {
                        clock.record("inference.\(name)", seconds: seconds)
                    }
                    latest = result
                    ran = true
                    inferredCount += 1
                }
                guard let result = latest else {
                    // Live: the frame chosen for inference was dropped for a newer one; nothing to show yet.
                    if live { droppedBeforeFirstResult += 1; continue }
                    throw VocaSegError(.internal, "no inference result for frame \(item.frame.index)")
                }
                if !inferred.push(Inferred(frame: item.frame, result: result, inferred: ran)) { return }
            }
        } onError: { fail($0) }

        stage("track", group) { [clock, options] in
            defer { tracked.close() }
            let tracker = SegmentTracker(options: options.tracking)
            let cuts = SceneCutDetector(threshold: options.tracking.sceneCutThreshold)
            // Frames between keyframes carry the previous frame's tracked result forward (warped by their motion
            // vectors, or held), so track ids survive them.
            var latest: SegmentationResult?
            var latestIndex = -1
            while var item = inferred.pop() {
                // Vectors lead to the frame decoded just before: in live mode frames may have dropped out between.
                let follows = item.frame.index == latestIndex + 1
                latestIndex = item.frame.index
                if item.inferred {
                    if let panoptic = item.result.panoptic {
                        item.result.panoptic = clock.measure("track") {
                            tracker.update(panoptic, sceneCut: cuts.isCut(item.frame.image))
                        }
                    }
                } else if let previous = latest {
                    item.result = previous
                    if options.propagation == .motion, follows, let motion = item.frame.motion,
                       let warped = clock.measure("propagate", { Self.propagate(previous, by: motion) }) {
                        item.result = warped
                        item.propagated = true
                    }
                }
                latest = item.result
                if !tracked.push(item) { return }
            }
        } onError: { fail($0) }

        stage("overlay", group) { [renderer, clock] in
            defer { rendered.close() }
            while let item = tracked.pop() {
                var overlay: RGBImage?
                if let renderer {
                    overlay = try clock.measure("overlay") {
                        try renderer.render(frame: item.frame.image, result: item.result)
                    }
                }
                var out = ProcessedFrame(frame: item.frame, result: item.result, inferred: item.inferred,
                                         overlay: overlay)
                out.propagated = item.propagated
                if !rendered.push(out) { return }
            }
        } onError: { fail($0) }

        // The sink stage runs on the caller's thread: outputs are written in frame order by one thread.
        var frames = 0
        do {
            while let item = rendered.pop() {
                try clock.measure("write") {
                    for sink in sinks { try sink.consume(item) }
                }
                if live {
                    let now = DispatchTime.now().uptimeNanoseconds
                    clock.record("latency", seconds: Double(now - min(now, item.frame.arrivalNanoseconds)) / 1e9)
                }
                frames += 1
                onFrameWritten?(item)
            }
        } catch {
            fail(error)
        }
        group.wait()

        if let error = firstError.error {
            for sink in sinks { sink.abort() }
            throw error
        }
        do {
            for sink in sinks { try sink.finish() }
        } catch {
            for sink in sinks { sink.abort() }
            throw error
        }
        var marks: [String: Int] = [:]
        for (name, q) in queues { marks[name] = q.highWater }
        return Outcome(frames: frames, inferredFrames: inferredCount, droppedFrames: decoded.dropped + prepared.dropped + droppedBeforeFirstResult,
                       interrupted: stopFlag.isSet,
                       timings: clock.timings(),
                       wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                       queueHighWaterMarks: marks)
    }

    private func stage(_ name: String, _ group: DispatchGroup, _ body: @escaping () throws -> Void,
                       onError: @escaping (Error) -> Void) {
        // A serial queue of its own per stage: each stage blocks on its queues, so it must not borrow a thread from
        // the pool that the model's parallel loops use.
        DispatchQueue(label: "vocaseg.pipeline.\(name)", qos: .userInitiated).async(group: group) {
            do { try body() } catch { onError(error) }
        }
    }
}

// MARK: - Small synchronisation helpers

protocol CancellableQueue: AnyObject {
    func cancel()
    var highWater: Int { get }
}

extension BoundedQueue: CancellableQueue {
    var highWater: Int { highWaterMark }
}

final class AtomicFlag: @unchecked Sendable {
    private var value = false
    private let lock = NSLock()
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

final class ErrorBox: @unchecked Sendable {
    private var stored: Error?
    private let lock = NSLock()
    /// Keeps the first error only: later ones are usually consequences of the cancellation it caused.
    func store(_ error: Error) { lock.lock(); if stored == nil { stored = error }; lock.unlock() }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
}
