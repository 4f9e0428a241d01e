import Foundation
import VocaSegCore
import VocaSegPipeline

/// A deterministic stand-in for a segmentation model, for pipeline tests only: pixel (x, y) gets class
/// `(r / 256 * classes)`, from the red channel of the original frame kept in the preprocessed input.
final class RedChannelModel: SegmentationModel, @unchecked Sendable {
    let name = "test-red-channel"
    let usesRandomWeights = false
    private(set) var classes = 0
    let segmentDelay: Double
    let failAtCall: Int?
    private let lock = NSLock()
    private(set) var segmentCalls = 0

    init(segmentDelay: Double = 0, failAtCall: Int? = nil) {
        self.segmentDelay = segmentDelay
        self.failAtCall = failAtCall
    }

    func prepare(vocabulary: Vocabulary) throws { classes = vocabulary.count }

    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        let reds = stride(from: 0, to: frame.pixels.count, by: 3).map { Float(frame.pixels[$0]) }
        return PreprocessedFrame(channels: 1, width: frame.width, height: frame.height, data: reds,
                                 originalWidth: frame.width, originalHeight: frame.height)
    }

    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        lock.lock()
        segmentCalls += 1
        let call = segmentCalls
        lock.unlock()
        if let failAtCall, call == failAtCall { throw VocaSegError(.model, "test model fails on call \(call)") }
        if segmentDelay > 0 { Thread.sleep(forTimeInterval: segmentDelay) }
        let labels = input.data.map { UInt16(min(Int($0) * classes / 256, classes - 1)) }
        return SegmentationResult(labels: LabelMap(width: input.width, height: input.height, labels: labels))
    }
}

/// Frames whose red channel encodes the frame index, so that a sink can tell which frame it got.
final class CountingSource: FrameSource {
    let total: Int
    let width: Int
    let height: Int
    private(set) var produced = 0
    /// Largest number of frames produced but not yet written: the pipeline's in-flight frames.
    let written: () -> Int
    private(set) var maxInFlight = 0

    init(total: Int, width: Int = 8, height: Int = 4, written: @escaping () -> Int = { 0 }) {
        self.total = total
        self.width = width
        self.height = height
        self.written = written
    }

    func nextFrame() throws -> VideoFrame? {
        guard produced < total else { return nil }
        maxInFlight = max(maxInFlight, produced - written())
        let red = UInt8(produced % 256)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) { pixels[i] = red }
        let frame = VideoFrame(image: RGBImage(width: width, height: height, pixels: pixels), index: produced,
                               pts: Int64(produced * 512), duration: 512, ptsSeconds: Double(produced) / 25)
        produced += 1
        return frame
    }
}

final class CollectingSink: FrameSink, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var frames: [ProcessedFrame] = []
    private(set) var finished = false
    private(set) var aborted = false
    let delay: Double
    let keepFrames: Bool
    private(set) var count = 0

    init(delay: Double = 0, keepFrames: Bool = true) {
        self.delay = delay
        self.keepFrames = keepFrames
    }

    func consume(_ frame: ProcessedFrame) throws {
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        lock.lock()
        if keepFrames { frames.append(frame) }
        count += 1
        lock.unlock()
    }

    var writtenCount: Int { lock.lock(); defer { lock.unlock() }; return count }
    func finish() throws { finished = true }
    func abort() { aborted = true }
}
