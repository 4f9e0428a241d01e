import VocaSegCore
import VocaSegMedia
import VocaSegPipeline

/// Encodes the overlay frames into an H.264 video with the input's timestamps, copying its audio and subtitles.
final class OverlayVideoSink: FrameSink {
    private let writer: VideoWriter

    init(path: String, input: String, info: MediaInfo, crf: Int, preset: String) throws {
        var settings = EncoderSettings()
        settings.crf = crf
        settings.preset = preset
        settings.sampleAspectRatio = info.sampleAspectRatio  // anamorphic input stays anamorphic
        writer = try VideoWriter(path: path, settings: settings, width: info.width, height: info.height,
                                 timeBase: info.timeBase, frameRate: info.averageFrameRate,
                                 copyStreamsFrom: info.isStillImage || info.isImageSequence || input == "-" ? nil : input)
    }

    var warnings: [String] { writer.warnings }

    func consume(_ frame: ProcessedFrame) throws {
        try writer.write(frame.overlay ?? frame.frame.image, pts: frame.frame.pts, duration: frame.frame.duration)
    }

    func finish() throws { try writer.finish() }
    func abort() { writer.abort() }
}

/// A still image in gives a still image out (png or jpg by extension).
final class OverlayImageSink: FrameSink {
    private let path: String
    private var image: RGBImage?

    init(path: String) { self.path = path }

    func consume(_ frame: ProcessedFrame) throws {
        // A still image decodes to one frame; keep the last in case a format yields more.
        image = frame.overlay ?? frame.frame.image
    }

    func finish() throws {
        guard let image else { throw VocaSegError(.input, "the input held no decodable picture", path: path) }
        try ImageFileWriter.write(image, to: path)
    }

    func abort() { image = nil }
}
