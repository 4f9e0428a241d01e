import VocaSegCore
import VocaSegMedia
import VocaSegPipeline
import VocaSegRender

/// Feeds decoded frames from FFmpeg into the pipeline.
final class MediaFrameSource: FrameSource {
    let media: MediaSource
    init(_ media: MediaSource) { self.media = media }

    func nextFrame() throws -> VideoFrame? {
        guard let f = try media.nextFrame() else { return nil }
        var frame = VideoFrame(image: f.image, index: f.index, pts: f.pts, duration: f.duration,
                               ptsSeconds: f.ptsSeconds, sourceName: f.sourceName)
        frame.motion = f.motion
        return frame
    }
}

/// The overlay renderer as the pipeline's renderer stage sees it.
final class OverlayFrameRenderer: FrameRenderer, @unchecked Sendable {
    let renderer: OverlayRenderer
    init(_ renderer: OverlayRenderer) { self.renderer = renderer }
    func render(frame: RGBImage, result: SegmentationResult) throws -> RGBImage {
        try renderer.render(frame: frame, result: result)
    }
}
