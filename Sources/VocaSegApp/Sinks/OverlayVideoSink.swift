import Foundation
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline

/// Encodes the overlay frames into an H.264 video with the input's timestamps, copying its audio and subtitles.
final class OverlayVideoSink: FrameSink {
    private let writer: VideoWriter
    private let input: String
    private let size: (width: Int, height: Int)

    init(path: String, input: String, info: MediaInfo, crf: Int, preset: String, streamFormat: String? = nil) throws {
        var settings = EncoderSettings()
        settings.crf = crf
        settings.preset = preset
        settings.sampleAspectRatio = info.sampleAspectRatio  // anamorphic input stays anamorphic
        // Tagged with what the pixels hold: BT.709 after tone mapping, else the input's primaries and transfer.
        settings.colorPrimaries = info.framePrimaries
        settings.colorTransfer = info.frameTransfer
        settings.interlacedFieldOrder = info.framesInterlaced ? info.fieldOrder : nil
        self.input = input
        size = (info.width, info.height)
        writer = try VideoWriter(path: path, settings: settings, width: info.width, height: info.height,
                                 timeBase: info.timeBase, frameRate: info.averageFrameRate,
                                 copyStreamsFrom: Self.audioSource(input: input, info: info, streamFormat: streamFormat),
                                 streamFormat: streamFormat)
    }

    var warnings: [String] { writer.warnings }

    /// Where the audio and subtitles to copy come from: a file or URL that can be opened a second time, and only
    /// into containers that hold them (y4m and a raw JPEG stream are video only). A live source is read once.
    static func audioSource(input: String, info: MediaInfo, streamFormat: String?) -> String? {
        if info.isStillImage || info.isImageSequence || input == "-" || info.isNetworkStream { return nil }
        if let streamFormat, streamFormat == "y4m" || streamFormat == "mjpeg" { return nil }
        return input
    }

    func consume(_ frame: ProcessedFrame) throws {
        let image = frame.overlay ?? frame.frame.image
        // Only a folder of pictures changes size midway (a video stream is scaled back to its first size).
        if image.width != size.width || image.height != size.height {
            let name = frame.frame.sourceName ?? "frame \(frame.frame.index)"
            throw VocaSegError(.usage, "\(name) is \(image.width)x\(image.height) but the video is "
                               + "\(size.width)x\(size.height): pictures of different sizes go to a folder of "
                               + "overlays (-o DIR/)", path: input)
        }
        try writer.write(image, pts: frame.frame.pts, duration: frame.frame.duration)
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

/// A folder of pictures in gives a folder of overlay pictures out: same base names, each picture at its own size,
/// JPEG for JPEG inputs and PNG otherwise; all moved into place together when the run ends.
final class OverlayImageFolderSink: FrameSink {
    private let folder: StagedFolder

    init(directory: String) throws { folder = try StagedFolder(directory: directory) }

    func consume(_ frame: ProcessedFrame) throws {
        guard let source = frame.frame.sourceName else {
            throw VocaSegError(.internal, "a frame without its picture name reached the folder writer",
                               path: folder.directory)
        }
        let ext = (source as NSString).pathExtension.lowercased()
        let name = Self.outputName(for: source, extension: ext == "jpg" || ext == "jpeg" ? ext : "png", in: folder)
        try ImageFileWriter.write(frame.overlay ?? frame.frame.image, to: folder.path(for: name))
    }

    /// `photo.bmp` → `photo.png`; when two pictures would share a name (`a.png` and `a.bmp`), the later one keeps
    /// its whole name (`a.bmp.png`).
    static func outputName(for source: String, extension ext: String, in folder: StagedFolder) -> String {
        let plain = (source as NSString).deletingPathExtension + "." + ext
        return folder.contains(plain) ? source + "." + ext : plain
    }

    func finish() throws { try folder.commit() }
    func abort() { folder.abort() }
}

/// Any input to a numbered image sequence (`-o name_%06d.png`): one overlay picture per frame, numbered from
/// `startNumber` in output order as FFmpeg's image2 muxer numbers them (from 1 by default). The pictures are staged
/// and moved into place together when the run ends, so a failed run leaves none of them.
final class OverlayImageSequenceSink: FrameSink {
    private let pattern: SequencePattern
    private let folder: StagedFolder
    private var next: Int

    init(pattern: String, startNumber: Int) throws {
        self.pattern = try SequencePattern(pattern)
        folder = try StagedFolder(directory: self.pattern.directory)
        next = startNumber
    }

    func consume(_ frame: ProcessedFrame) throws {
        let name = (pattern.path(for: next) as NSString).lastPathComponent
        next += 1
        try ImageFileWriter.write(frame.overlay ?? frame.frame.image, to: folder.path(for: name))
    }

    func finish() throws { try folder.commit() }
    func abort() { folder.abort() }
}
