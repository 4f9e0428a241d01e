import VocaSegCore

/// A decoded, upright frame with its timing, as it travels down the pipeline.
public struct VideoFrame: Sendable {
    public var image: RGBImage
    /// 0-based position in decode order.
    public var index: Int
    /// Presentation timestamp and duration in the source stream's time base; kept unchanged to the output so that
    /// variable frame rate survives.
    public var pts: Int64
    public var duration: Int64
    public var ptsSeconds: Double
    /// The picture's file name when the input is a folder of pictures (outputs are named after it).
    public var sourceName: String?
    /// Block motion relative to the previous frame (from the codec's motion vectors), when asked for.
    public var motion: MotionField?
    /// When the decode stage received the frame (monotonic clock, ns): end-to-end latency is measured from here.
    public var arrivalNanoseconds: UInt64 = 0

    public init(image: RGBImage, index: Int, pts: Int64, duration: Int64, ptsSeconds: Double,
                sourceName: String? = nil) {
        self.image = image
        self.index = index
        self.pts = pts
        self.duration = duration
        self.ptsSeconds = ptsSeconds
        self.sourceName = sourceName
    }
}

/// Where frames come from (a decoder, a test generator). Called from the decode stage's thread only.
public protocol FrameSource: AnyObject {
    /// The next frame, or nil at the end of the input.
    func nextFrame() throws -> VideoFrame?
}

/// A frame after inference and rendering: what sinks consume.
public struct ProcessedFrame: Sendable {
    public var frame: VideoFrame
    public var result: SegmentationResult
    /// True when the model ran on this frame; false when `--every N` reused an earlier frame's result.
    public var inferred: Bool
    /// Not inferred, and carried forward from the previous frame by its motion vectors (false: held unchanged).
    public var propagated = false
    /// The overlay picture, when the pipeline has a renderer.
    public var overlay: RGBImage?
}

/// Where processed frames go (overlay video, label-map PNGs, JSON lines). All calls come from the sink stage's
/// thread, in frame order.
public protocol FrameSink: AnyObject {
    func consume(_ frame: ProcessedFrame) throws
    /// Flush and publish the output under its final name. Called once, after the last frame.
    func finish() throws
    /// Remove everything written so far. Called instead of `finish` when the run fails.
    func abort()
}

/// Draws the overlay for one frame (the renderer module conforms through a small adapter).
public protocol FrameRenderer: AnyObject, Sendable {
    /// Draws the panoptic segments when the result has them, else the semantic label map.
    func render(frame: RGBImage, result: SegmentationResult) throws -> RGBImage
}
