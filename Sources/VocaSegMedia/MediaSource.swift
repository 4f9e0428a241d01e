import CFFmpeg
import VocaSegCore

/// Decodes the video of anything libavformat opens — files, URLs, stdin (`-`), single images, `name_%04d.png`
/// sequences — or a folder of images in natural order, into upright RGB24 frames.
///
/// Frames come out as RGB24 converted by swscale with the stream's colour matrix and range (BT.601 when untagged,
/// as FFmpeg assumes); an alpha channel is dropped (colour kept as stored, not composited). Rotation and mirroring
/// from the display matrix are applied to the pixels.
///
/// Use from one thread at a time (it may be handed from thread to thread, hence `@unchecked Sendable`).
public final class MediaSource: @unchecked Sendable {
    public let path: String
    public private(set) var info: MediaInfo
    public var stats: DecodeStats {
        var s = finishedStats
        if let decoder { merge(decoder.stats, into: &s) }
        return s
    }

    private let options: SourceOptions
    private var decoder: StreamDecoder?
    /// Remaining pictures of a folder input (each opened as its own input when its turn comes).
    private var pendingFolderFiles: [String]
    private let isFolder: Bool
    private var finishedStats = DecodeStats()
    private let converter = RGBConverter()
    /// Holds the unrotated RGB picture when the display matrix asks for a rotation or flip.
    private var rotationScratch: [UInt8] = []
    private var nextIndex = 0
    private var lastPTS: Int64?
    private var lastDuration: Int64 = 0
    private var firstFrameSize: (Int, Int)?
    private var warnedAboutSizeChange = false
    /// Reads each frame's motion vectors when `options.exportMotionVectors` (a new one per input picture stream).
    private let motionReader = MotionVectorReader()
    /// Frames decoded while probing (a picture stream is looked into to tell one picture from many).
    private var lookahead: [DecodedFrame] = []
    /// The filter chain of the current decoder (HDR tone mapping, deinterlacing), when its stream needs one.
    private var filterStage: FilterStage?
    /// Whether the current decoder's first frame has been seen (its interlace flag can ask for deinterlacing).
    private var firstFrameSeen = false

    public init(path: String, options: SourceOptions = .init()) throws {
        self.path = path
        self.options = options
        switch try InputLocator.locate(path) {
        case let .stream(url, formatName, isPattern):
            let decoder = try StreamDecoder(url: url, formatName: formatName, displayPath: path, options: options)
            self.decoder = decoder
            pendingFolderFiles = []
            isFolder = false
            info = Self.describe(decoder, options: options, isSequence: isPattern, folderCount: nil)
            info.isNetworkStream = StreamDecoder.isNetwork(url)
            describeFiltering(decoder, plan: Self.plan(for: decoder, options: options, firstFrame: nil))
            if info.isStillImage { try lookIntoPictureStream() }
        case let .folder(files):
            let first = try StreamDecoder(url: files[0], formatName: nil, displayPath: files[0], options: options)
            decoder = first
            pendingFolderFiles = Array(files.dropFirst())
            isFolder = true
            var described = Self.describe(first, options: options, isSequence: true, folderCount: files.count)
            described.isFolder = true
            info = described
        }
    }

    /// The next upright RGB frame, or nil after the last one. Corrupt packets are skipped (see `stats`); only a
    /// failure to open the next picture of a folder throws.
    public func nextFrame() throws -> DecodedFrame? {
        if !lookahead.isEmpty { return lookahead.removeFirst() }
        while true {
            guard let decoder else { return nil }
            if let frame = try nextDecodedFrame(decoder) {
                return try makeFrame(from: frame, decoder: decoder)
            }
            merge(decoder.stats, into: &finishedStats)
            self.decoder = nil
            filterStage = nil
            firstFrameSeen = false
            guard isFolder, !pendingFolderFiles.isEmpty else { return nil }
            let file = pendingFolderFiles.removeFirst()
            self.decoder = try StreamDecoder(url: file, formatName: nil, displayPath: file, options: options)
        }
    }

    /// An image demuxer (png_pipe, jpeg_pipe, image2pipe, …) cannot say how many pictures follow: piped MJPEG or
    /// PNG frames look like one picture until the second arrives. Decode up to two now and keep them for
    /// `nextFrame()`; two or more make the input a picture stream (a video or a sequence out, never one image).
    private func lookIntoPictureStream() throws {
        while lookahead.count < 2, let decoder, let frame = try nextDecodedFrame(decoder) {
            lookahead.append(try makeFrame(from: frame, decoder: decoder))
        }
        guard lookahead.count >= 2 else { return }
        info.isStillImage = false
        info.isImageSequence = true
        info.estimatedFrameCount = nil
    }

    /// The decoder's next frame, through the filter chain when the stream needs one. The chain is chosen from the
    /// stream's tags and the first frame's interlace flag (some containers leave the field order unknown).
    private func nextDecodedFrame(_ decoder: StreamDecoder) throws -> UnsafeMutablePointer<AVFrame>? {
        if let stage = filterStage { return try stage.nextFrame(from: decoder) }
        guard let frame = decoder.nextFrame() else { return nil }
        guard !firstFrameSeen else { return frame }
        firstFrameSeen = true
        let plan = Self.plan(for: decoder, options: options, firstFrame: frame)
        guard let stage = FilterStage(plan: plan, threads: options.threadCount) else { return frame }
        if !isFolder { describeFiltering(decoder, plan: plan) }
        filterStage = stage
        try stage.accept(frame, decoder: decoder)
        return try stage.nextFrame(from: decoder)
    }

    static func plan(for decoder: StreamDecoder, options: SourceOptions,
                     firstFrame: UnsafePointer<AVFrame>?) -> FilterPlan {
        let par = decoder.stream.pointee.codecpar.pointee
        return FilterPlan.decide(transfer: firstFrame?.pointee.color_trc ?? par.color_trc,
                                 fieldOrderInterlaced: FilterPlan.isInterlaced(par.field_order),
                                 firstFrameInterlaced: firstFrame.map { $0.pointee.interlaced_frame != 0 } ?? false,
                                 hdr: options.hdr, deinterlace: options.deinterlace)
    }

    /// Records the stream's colour and field tags and what the frames hold after `plan`.
    private func describeFiltering(_ decoder: StreamDecoder, plan: FilterPlan) {
        let par = decoder.stream.pointee.codecpar.pointee
        info.colorPrimaries = FF.string(av_color_primaries_name(par.color_primaries)) ?? "unknown"
        info.colorTransfer = FF.string(av_color_transfer_name(par.color_trc)) ?? "unknown"
        switch par.field_order {
        case AV_FIELD_PROGRESSIVE: info.fieldOrder = "progressive"
        case AV_FIELD_TT: info.fieldOrder = "tt"
        case AV_FIELD_BB: info.fieldOrder = "bb"
        case AV_FIELD_TB: info.fieldOrder = "tb"
        case AV_FIELD_BT: info.fieldOrder = "bt"
        default: info.fieldOrder = "unknown"
        }
        info.filterSummary = plan.summary
        let known = { (name: String) in name != "unknown" && name != "unspecified" && name != "reserved" }
        if plan.toneMapFrom != nil {
            info.framePrimaries = "bt709"
            info.frameTransfer = "bt709"
        } else {
            info.framePrimaries = known(info.colorPrimaries) ? info.colorPrimaries : "bt709"
            info.frameTransfer = known(info.colorTransfer) ? info.colorTransfer : "bt709"
        }
        info.framesInterlaced = !plan.deinterlace && FilterPlan.isInterlaced(par.field_order)
    }

    private func makeFrame(from frame: UnsafeMutablePointer<AVFrame>, decoder: StreamDecoder) throws -> DecodedFrame {
        // A stream that changes resolution midway is scaled back to its first size (as an encoder needs one size);
        // the pictures of a folder each keep their own size.
        var width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        if !isFolder {
            if let first = firstFrameSize, first != (width, height) {
                if !warnedAboutSizeChange {
                    warnedAboutSizeChange = true
                    finishedStats.warnings.append("\(path): the picture size changes from \(first.0)x\(first.1) to "
                                                  + "\(width)x\(height) at frame \(nextIndex); later frames are scaled to the first size")
                }
                (width, height) = first
            } else if firstFrameSize == nil {
                firstFrameSize = (width, height)
            }
        }
        let orientation = options.autorotate ? Self.orientation(of: decoder.stream) : .identity
        let (outWidth, outHeight) = orientation.outputSize(width: width, height: height)
        var converted = true
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { buffer, count in
            count = width * height * 3
            guard let out = buffer.baseAddress else { return }
            if orientation.isIdentity {
                converted = converter.convert(frame, into: buffer, outWidth: width, outHeight: height)
            } else {
                if rotationScratch.count != width * height * 3 { rotationScratch = [UInt8](repeating: 0, count: width * height * 3) }
                rotationScratch.withUnsafeMutableBufferPointer { scratch in
                    converted = converter.convert(frame, into: scratch, outWidth: width, outHeight: height)
                    orientation.apply(source: scratch.baseAddress!, width: width, height: height, destination: out)
                }
            }
        }
        guard converted else {
            let name = FF.string(av_get_pix_fmt_name(AVPixelFormat(rawValue: frame.pointee.format))) ?? "unknown"
            throw VocaSegError(.input, "cannot convert pixel format \(name) to RGB", path: decoder.path)
        }
        let timing = timestamps(of: frame, decoder: decoder)
        defer { nextIndex += 1 }
        var decoded = DecodedFrame(image: RGBImage(width: outWidth, height: outHeight, pixels: pixels), index: nextIndex,
                                   pts: timing.pts, duration: timing.duration, timeBase: timing.timeBase)
        if options.exportMotionVectors, !isFolder, !decoder.isIntraOnly {
            // Vectors are in coded coordinates: a turned picture or one scaled back to the first size holds none.
            let usable = orientation.isIdentity && Int(frame.pointee.width) == width && Int(frame.pointee.height) == height
            decoded.motion = usable ? motionReader.field(of: frame, image: decoded.image, index: nextIndex) : nil
        }
        if isFolder { decoded.sourceName = decoder.path.split(separator: "/").last.map(String.init) }
        return decoded
    }

    /// Best-effort timestamp in the stream time base; synthesised as previous pts + previous duration when absent.
    /// A folder of images gets frame-index timestamps at `imageSequenceFrameRate`.
    private func timestamps(of frame: UnsafeMutablePointer<AVFrame>, decoder: StreamDecoder)
        -> (pts: Int64, duration: Int64, timeBase: (num: Int32, den: Int32)) {
        if isFolder {
            return (Int64(nextIndex), 1, (options.frameRate.den, options.frameRate.num))
        }
        let timeBase = decoder.stream.pointee.time_base
        let nominal = Self.nominalFrameDuration(decoder.stream)
        var duration = frame.pointee.pkt_duration
        if duration <= 0 { duration = nominal }
        var pts = frame.pointee.best_effort_timestamp
        if pts == FF.noPTS {
            pts = lastPTS.map { $0 + max(lastDuration, 1) } ?? 0
            finishedStats.synthesisedTimestamps += 1
        }
        lastPTS = pts
        lastDuration = duration
        return (pts, duration, (timeBase.num, timeBase.den))
    }

    private func merge(_ s: DecodeStats, into total: inout DecodeStats) {
        total.framesDecoded += s.framesDecoded
        total.corruptPackets += s.corruptPackets
        total.corruptFrames += s.corruptFrames
        total.truncated = total.truncated || s.truncated
        total.warnings += s.warnings
    }

    // MARK: Describing the input

    static func orientation(of stream: UnsafeMutablePointer<AVStream>) -> Orientation {
        guard let matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nil) else { return .identity }
        return matrix.withMemoryRebound(to: Int32.self, capacity: 9) { Orientation(displayMatrix: UnsafePointer($0)) }
    }

    /// One frame at the average (else the nominal) frame rate, in stream time base units; 0 when unknown.
    static func nominalFrameDuration(_ stream: UnsafeMutablePointer<AVStream>) -> Int64 {
        var rate = stream.pointee.avg_frame_rate
        if rate.num <= 0 || rate.den <= 0 { rate = stream.pointee.r_frame_rate }
        guard rate.num > 0, rate.den > 0 else { return 0 }
        return av_rescale_q(1, av_inv_q(rate), stream.pointee.time_base)
    }

    static func describe(_ decoder: StreamDecoder, options: SourceOptions, isSequence: Bool, folderCount: Int?) -> MediaInfo {
        let stream = decoder.stream!
        let par = stream.pointee.codecpar.pointee
        let format = decoder.format!.pointee
        let orientation = options.autorotate ? orientation(of: stream) : .identity
        let upright = orientation.outputSize(width: Int(par.width), height: Int(par.height))
        var rotation = 0.0
        if let matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nil) {
            var m = [Int32](repeating: 0, count: 9)
            matrix.withMemoryRebound(to: Int32.self, capacity: 9) { for i in 0..<9 { m[i] = $0[i] } }
            // A mirrored matrix is "flip horizontally, then rotate": undo the flip (negate the x row) so that the
            // angle reported is the rotation part alone.
            if orientation.isMirrored { m[0] = -m[0]; m[1] = -m[1] }
            let degrees = av_display_rotation_get(m)
            if degrees.isFinite { rotation = degrees == 0 ? 0 : degrees }
        }
        let timeBase = stream.pointee.time_base
        var rate = stream.pointee.avg_frame_rate
        if rate.num <= 0 || rate.den <= 0 { rate = stream.pointee.r_frame_rate }
        if rate.num <= 0 || rate.den <= 0 { rate = AVRational(num: 0, den: 1) }
        var duration: Double? = nil
        if stream.pointee.duration != FF.noPTS, stream.pointee.duration > 0 {
            duration = Double(stream.pointee.duration) * av_q2d(timeBase)
        } else if format.duration != FF.noPTS, format.duration > 0 {
            duration = Double(format.duration) / Double(AV_TIME_BASE)
        }
        var frameCount: Int? = stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil
        if frameCount == nil, let duration, rate.num > 0 { frameCount = Int((duration * av_q2d(rate)).rounded()) }
        let demuxer = FF.string(format.iformat.pointee.name) ?? "unknown"
        let isImageDemuxer = demuxer == "image2" || demuxer.hasSuffix("_pipe")
        // A single picture opened through an image demuxer is one frame, even when the demuxer cannot say so.
        if isImageDemuxer, !isSequence { frameCount = 1 }
        if let folderCount {
            frameCount = folderCount
            rate = AVRational(num: options.frameRate.num, den: options.frameRate.den)
            duration = Double(folderCount) * Double(options.frameRate.den) / Double(options.frameRate.num)
        }
        let (audio, subtitles) = StreamDecoder.countStreams(decoder.format!)
        // The container's value wins over the bitstream's, as in FFmpeg (e.g. mkv/mov display size overrides).
        var sar = av_guess_sample_aspect_ratio(decoder.format, stream, nil)
        // Turning the picture by 90° turns its pixels too: a wide pixel becomes a tall one.
        if orientation.swapsAxes { sar = AVRational(num: sar.den, den: sar.num) }
        return MediaInfo(
            width: upright.width, height: upright.height, codedWidth: Int(par.width), codedHeight: Int(par.height),
            rotationDegrees: rotation, isMirrored: orientation.isMirrored,
            timeBase: folderCount != nil ? (options.frameRate.den, options.frameRate.num) : (timeBase.num, timeBase.den),
            averageFrameRate: (rate.num, rate.den), estimatedFrameCount: frameCount, durationSeconds: duration,
            codecName: FF.string(avcodec_get_name(par.codec_id)) ?? "unknown",
            pixelFormatName: FF.string(av_get_pix_fmt_name(AVPixelFormat(rawValue: par.format))) ?? "unknown",
            sampleAspectRatio: sar.num > 0 && sar.den > 0 ? (sar.num, sar.den) : (1, 1),
            colorRange: par.color_range == AVCOL_RANGE_JPEG ? "pc" : (par.color_range == AVCOL_RANGE_MPEG ? "tv" : "unknown"),
            colorSpace: FF.string(av_color_space_name(par.color_space)) ?? "unknown",
            isStillImage: isImageDemuxer && !isSequence, isImageSequence: isSequence,
            audioStreamCount: audio, subtitleStreamCount: subtitles, containerName: demuxer)
    }
}
