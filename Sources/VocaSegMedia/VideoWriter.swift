import CFFmpeg
import Foundation
import VocaSegCore

/// Encodes RGB frames to H.264 (libx264, yuv420p, BT.709 limited range) in an mp4/mov/mkv chosen from the final
/// path's extension, keeping the caller's timestamps exactly (variable frame rate survives) and copying the audio
/// and subtitle packets of `copyStreamsFrom` unchanged.
///
/// The file is written under a hidden temporary name and only renamed to `path` by `finish()`; `abort()` or
/// dropping an unfinished writer deletes it. Use from one thread at a time.
///
/// `path` "-" writes a stream to standard output instead, in `streamFormat`: `mp4` (fragmented, so a reader can
/// play it before the end), `nut` (H.264 like the files), `y4m` (raw 4:2:0) or `mjpeg` (a raw JPEG stream, full
/// range BT.601 as JPEG defines it).
public final class VideoWriter: @unchecked Sendable {
    public let path: String
    /// What messages call the destination (the path, or "standard output").
    private var displayPath: String { path == "-" ? "standard output" : path }
    /// Things the caller should tell the user: encoder fallback, padding of odd sizes, streams not copied.
    public var warnings: [String] { ownWarnings + (copier?.warnings ?? []) }
    public private(set) var framesWritten = 0
    /// Size actually encoded (the input size rounded up to even numbers).
    public let encodedWidth: Int
    public let encodedHeight: Int

    private let file: AtomicOutputFile?
    private let codecChoice: CodecChoice
    private var output: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    private var stream: UnsafeMutablePointer<AVStream>
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private var copier: StreamCopier?
    private var ownWarnings: [String] = []
    private let width: Int, height: Int
    /// The caller's time base (that of the input stream).
    private let timeBase: AVRational
    /// The encoder's time base: the caller's, except where an encoder cannot represent it (MPEG-4 Part 2 needs a
    /// denominator below 2^16), then the nearest coarser one.
    private var encoderTimeBase: AVRational
    private var warnedAboutRounding = false
    /// RGB copy padded to even size, only used for odd input sizes.
    /// The RGB side of the RGB→YUV conversion, at the encoded (even) size.
    private var rgbInput: SwscalePicture?
    private var lastPTS: Int64?
    /// Durations by pts, because libx264 does not carry frame durations over to its packets.
    private var durations: [Int64: Int64] = [:]
    private var state: State = .open

    private enum State { case open, finished, aborted }

    /// What the video stream is coded as: H.264 for files, mp4 and nut; raw or JPEG for the y4m and mjpeg streams.
    private enum CodecChoice {
        case h264, rawYUV, mjpeg
        init(format: String?) {
            switch format {
            case "y4m": self = .rawYUV
            case "mjpeg": self = .mjpeg
            default: self = .h264
            }
        }
    }

    /// Standard output formats and their FFmpeg muxer names.
    public static let streamMuxers = ["mp4": "mp4", "nut": "nut", "y4m": "yuv4mpegpipe", "mjpeg": "mjpeg"]

    public init(path: String, settings: EncoderSettings = .init(), width: Int, height: Int,
                timeBase: (num: Int32, den: Int32), frameRate: (num: Int32, den: Int32),
                copyStreamsFrom: String? = nil, streamFormat: String? = nil) throws {
        _ = MediaLibrary.configureOnce
        guard width > 0, height > 0, timeBase.num > 0, timeBase.den > 0 else {
            throw VocaSegError(.internal, "VideoWriter: invalid size \(width)x\(height) or time base \(timeBase)", path: path)
        }
        self.path = path
        self.width = width
        self.height = height
        self.timeBase = AVRational(num: timeBase.num, den: timeBase.den)
        encoderTimeBase = self.timeBase
        // yuv420p halves chroma both ways, so x264 needs even sizes: an odd width/height is PADDED by one pixel
        // (the last column/row repeated) rather than cropped, so no picture content is lost.
        encodedWidth = width + (width & 1)
        encodedHeight = height + (height & 1)
        let toStdout = path == "-"
        codecChoice = CodecChoice(format: toStdout ? (streamFormat ?? "nut") : nil)
        file = toStdout ? nil : try AtomicOutputFile(finalPath: path)

        let muxerName = toStdout ? Self.streamMuxers[streamFormat ?? "nut"] : nil
        if toStdout, muxerName == nil {
            throw VocaSegError(.usage, "cannot write \(streamFormat ?? "") to standard output (use "
                               + Self.streamMuxers.keys.sorted().joined(separator: ", ") + ")")
        }
        guard let muxer = av_guess_format(muxerName, toStdout ? nil : path, nil) else {
            throw VocaSegError(.usage, "cannot tell the container from the file name (use .mp4, .mov or .mkv)", path: path)
        }
        if codecChoice == .h264, avformat_query_codec(muxer, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL) == 0 {
            throw VocaSegError(.usage, "the \(FF.string(muxer.pointee.name) ?? "") container cannot hold H.264 video "
                               + "(use .mp4, .mov or .mkv)", path: path)
        }
        var oc: UnsafeMutablePointer<AVFormatContext>? = nil
        guard avformat_alloc_output_context2(&oc, muxer, nil, file?.temporaryPath ?? "pipe:1") >= 0, let oc else {
            throw VocaSegError(.internal, "cannot create the muxer", path: path)
        }
        output = oc
        guard let videoStream = avformat_new_stream(oc, nil) else {
            avformat_free_context(oc)
            throw VocaSegError(.internal, "out of memory adding the video stream", path: path)
        }
        stream = videoStream
        if encodedWidth != width || encodedHeight != height {
            ownWarnings.append("\(displayPath): \(width)x\(height) is odd-sized; 4:2:0 needs even sizes, so the video is "
                               + "padded to \(encodedWidth)x\(encodedHeight) by repeating the last column/row")
        }
        do {
            try openEncoder(settings: settings, frameRate: frameRate)
            if let source = copyStreamsFrom { copier = try StreamCopier(path: source, output: oc) }
            try openFile(settings: settings)
        } catch {
            abort()
            throw error
        }
    }

    deinit { if state == .open { abort() } }

    private func openEncoder(settings: EncoderSettings, frameRate: (num: Int32, den: Int32)) throws {
        var encoder: UnsafePointer<AVCodec>?
        switch codecChoice {
        case .h264: encoder = avcodec_find_encoder_by_name(settings.encoderName)
        // FFmpeg 5's y4m muxer takes frames wrapped in packets, not rawvideo.
        case .rawYUV: encoder = avcodec_find_encoder(AV_CODEC_ID_WRAPPED_AVFRAME)
        case .mjpeg: encoder = avcodec_find_encoder(AV_CODEC_ID_MJPEG)
        }
        let usingFallback = encoder == nil && codecChoice == .h264
        if usingFallback {
            encoder = avcodec_find_encoder(AV_CODEC_ID_MPEG4)
            ownWarnings.append("\(path): encoder \(settings.encoderName) is not in this FFmpeg build; "
                               + "encoding MPEG-4 Part 2 instead (larger files, lower quality)")
        }
        guard let encoder, let ctx = avcodec_alloc_context3(encoder) else {
            throw VocaSegError(.internal, "no usable video encoder in this FFmpeg build", path: displayPath)
        }
        codec = ctx
        ctx.pointee.width = Int32(encodedWidth)
        ctx.pointee.height = Int32(encodedHeight)
        // JPEG is full-range BT.601 by definition; the rest are BT.709 limited range, tagged so.
        let isJPEG = codecChoice == .mjpeg
        let pixelFormat = isJPEG ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P
        let range = isJPEG ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG
        let matrix = isJPEG ? AVCOL_SPC_BT470BG : AVCOL_SPC_BT709
        ctx.pointee.pix_fmt = pixelFormat
        if usingFallback, timeBase.den > 65535 {
            // Coarsen by the smallest factor that fits; exact whenever the timestamps are multiples of it
            // (e.g. 1/90000 → 1/45000 for 30 fps material).
            var factor = (timeBase.den + 65534) / 65535
            while timeBase.den % factor != 0, factor < timeBase.den { factor += 1 }
            var reduced = AVRational()
            av_reduce(&reduced.num, &reduced.den, Int64(timeBase.num) * Int64(factor), Int64(timeBase.den), 65535)
            encoderTimeBase = reduced
        }
        ctx.pointee.time_base = encoderTimeBase
        if frameRate.num > 0, frameRate.den > 0 { ctx.pointee.framerate = AVRational(num: frameRate.num, den: frameRate.den) }
        let sar = settings.sampleAspectRatio
        ctx.pointee.sample_aspect_ratio = sar.num > 0 && sar.den > 0 ? AVRational(num: sar.num, den: sar.den)
                                                                     : AVRational(num: 1, den: 1)
        ctx.pointee.color_range = range
        ctx.pointee.colorspace = matrix
        let primariesCode = av_color_primaries_from_name(settings.colorPrimaries)
        let transferCode = av_color_transfer_from_name(settings.colorTransfer)
        let primaries = isJPEG || primariesCode < 0 ? AVCOL_PRI_BT709 : AVColorPrimaries(rawValue: UInt32(primariesCode))
        let transfer = isJPEG || transferCode < 0 ? AVCOL_TRC_BT709
            : AVColorTransferCharacteristic(rawValue: UInt32(transferCode))
        ctx.pointee.color_primaries = primaries
        ctx.pointee.color_trc = transfer
        switch settings.interlacedFieldOrder {
        case "tt"?, "tb"?: ctx.pointee.field_order = AV_FIELD_TT
        case "bb"?, "bt"?: ctx.pointee.field_order = AV_FIELD_BB
        default: ctx.pointee.field_order = AV_FIELD_PROGRESSIVE
        }
        // Frames that still hold two fields are coded as fields (as the input was), so that the bitstream, not only
        // the container, says interlaced.
        let interlaced = settings.interlacedFieldOrder != nil && codecChoice == .h264 && !usingFallback
        if interlaced { ctx.pointee.flags |= AV_CODEC_FLAG_INTERLACED_DCT | AV_CODEC_FLAG_INTERLACED_ME }
        ctx.pointee.thread_count = Int32(settings.threadCount)
        if output!.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        var options: OpaquePointer? = nil
        defer { av_dict_free(&options) }
        if usingFallback || isJPEG {
            // MPEG-4 Part 2 and JPEG have no CRF: a fixed quantiser of similar visual quality (crf 20 → q 3).
            ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
            ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * Int32(max(2, min(31, settings.crf / 6)))
        } else if FF.string(encoder.pointee.name) == "libx264" {
            av_dict_set(&options, "crf", "\(settings.crf)", 0)
            av_dict_set(&options, "preset", settings.preset, 0)
        }
        let opened = avcodec_open2(ctx, encoder, &options)
        guard opened >= 0 else {
            throw VocaSegError(.usage, "cannot open the \(FF.string(encoder.pointee.name) ?? "") encoder "
                               + "(crf \(settings.crf), preset \(settings.preset)): \(FF.describe(opened))", path: displayPath)
        }
        avcodec_parameters_from_context(stream.pointee.codecpar, ctx)
        stream.pointee.time_base = timeBase
        if codecChoice == .rawYUV, frameRate.num > 0, frameRate.den > 0 {
            // y4m states its rate in the header from the stream time base: make it the frame rate.
            stream.pointee.time_base = AVRational(num: frameRate.den, den: frameRate.num)
        }
        stream.pointee.sample_aspect_ratio = ctx.pointee.sample_aspect_ratio
        stream.pointee.avg_frame_rate = ctx.pointee.framerate

        guard let f = av_frame_alloc() else { throw VocaSegError(.internal, "out of memory", path: displayPath) }
        frame = f
        f.pointee.format = pixelFormat.rawValue
        f.pointee.width = Int32(encodedWidth)
        f.pointee.height = Int32(encodedHeight)
        f.pointee.color_range = range
        f.pointee.colorspace = matrix
        f.pointee.color_primaries = primaries
        f.pointee.color_trc = transfer
        if interlaced {
            f.pointee.interlaced_frame = 1
            f.pointee.top_field_first = ctx.pointee.field_order == AV_FIELD_TT ? 1 : 0
        }
        guard av_frame_get_buffer(f, 0) >= 0, let p = av_packet_alloc() else {
            throw VocaSegError(.internal, "out of memory", path: displayPath)
        }
        packet = p
        scaler = sws_getContext(Int32(encodedWidth), Int32(encodedHeight), AV_PIX_FMT_RGB24,
                                Int32(encodedWidth), Int32(encodedHeight), pixelFormat, SWS_BILINEAR, nil, nil, nil)
        guard let scaler else { throw VocaSegError(.internal, "cannot create the RGB→YUV converter", path: displayPath) }
        // RGB in (full range by nature) → YUV with the matrix and range tagged above.
        let coefficients = sws_getCoefficients(isJPEG ? SWS_CS_ITU601 : SWS_CS_ITU709)
        sws_setColorspaceDetails(scaler, coefficients, 1, coefficients, isJPEG ? 1 : 0, 0, 1 << 16, 1 << 16)
    }

    private func openFile(settings: EncoderSettings) throws {
        guard let oc = output else { return }
        if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            let opened = avio_open(&oc.pointee.pb, file?.temporaryPath ?? "pipe:1", AVIO_FLAG_WRITE)
            guard opened >= 0 else {
                throw VocaSegError(.io, "cannot create the output file: \(FF.describe(opened))", path: displayPath)
            }
        }
        var options: OpaquePointer? = nil
        defer { av_dict_free(&options) }
        let muxerName = FF.string(oc.pointee.oformat.pointee.name) ?? ""
        if file == nil, muxerName == "mp4" {
            // A pipe cannot seek back to write the index: fragments, each with its own index, after an empty moov.
            av_dict_set(&options, "movflags", "+frag_keyframe+empty_moov+default_base_moof", 0)
        } else if settings.fastStart, muxerName == "mp4" || muxerName == "mov" {
            av_dict_set(&options, "movflags", "+faststart", 0)
        }
        let header = avformat_write_header(oc, &options)
        guard header >= 0 else {
            throw VocaSegError(.io, "cannot write the container header: \(FF.describe(header))", path: displayPath)
        }
    }

    /// Encodes one frame shown at `pts` for `duration` (both in the time base given at init). Frames must come in
    /// presentation order; a pts that does not increase is bumped by one tick (and a warning recorded) because
    /// encoders reject it.
    public func write(_ image: RGBImage, pts: Int64, duration: Int64) throws {
        guard state == .open, let codec, let frame, let scaler else {
            throw VocaSegError(.internal, "write after finish/abort", path: displayPath)
        }
        guard image.width == width, image.height == height else {
            throw VocaSegError(.internal, "frame is \(image.width)x\(image.height), the writer was opened for "
                               + "\(width)x\(height)", path: displayPath)
        }
        var stamp = pts
        if let last = lastPTS, stamp <= last {
            if ownWarnings.count < 20 { ownWarnings.append("\(path): pts \(pts) does not increase; written as \(last + 1)") }
            stamp = last + 1
        }
        lastPTS = stamp
        try copier?.copy(upTo: stamp, timeBase: timeBase, into: output!, outputPath: path)

        let made = av_frame_make_writable(frame)
        guard made >= 0 else { throw VocaSegError(.internal, "cannot reuse the frame buffer", path: displayPath) }
        try convert(image, into: frame, scaler: scaler)
        let encoderStamp = av_rescale_q(stamp, timeBase, encoderTimeBase)
        if !warnedAboutRounding, av_rescale_q(encoderStamp, encoderTimeBase, timeBase) != stamp {
            warnedAboutRounding = true
            ownWarnings.append("\(path): timestamps rounded to the encoder's time base "
                               + "\(encoderTimeBase.num)/\(encoderTimeBase.den)")
        }
        let encoderDuration = av_rescale_q(duration, timeBase, encoderTimeBase)
        frame.pointee.pts = encoderStamp
        frame.pointee.pkt_duration = encoderDuration
        durations[encoderStamp] = encoderDuration
        try send(frame, codec: codec)
        framesWritten += 1
    }

    private func convert(_ image: RGBImage, into frame: UnsafeMutablePointer<AVFrame>, scaler: OpaquePointer) throws {
        // swscale reads its source through an FFmpeg-allocated picture (see `SwscalePicture`); filling it also pads
        // odd sizes to the even size 4:2:0 needs, repeating the last column and row.
        let input = try SwscalePicture.reuse(rgbInput, width: encodedWidth, height: encodedHeight,
                                             format: AV_PIX_FMT_RGB24)
        rgbInput = input
        let stride = Int(input.avFrame.pointee.linesize.0), plane = input.avFrame.pointee.data.0!
        let inRow = width * 3
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<encodedHeight {
                let to = plane + y * stride
                to.update(from: src.baseAddress! + min(y, height - 1) * inRow, count: inRow)
                if encodedWidth != width { (to + inRow).update(from: to + inRow - 3, count: 3) }
            }
        }
        guard Swscale.scale(scaler, from: input.avFrame, into: frame) else {
            throw VocaSegError(.internal, "RGB→YUV conversion failed", path: displayPath)
        }
    }

    private func send(_ frame: UnsafeMutablePointer<AVFrame>?, codec: UnsafeMutablePointer<AVCodecContext>) throws {
        let sent = avcodec_send_frame(codec, frame)
        guard sent >= 0 else { throw VocaSegError(.internal, "the encoder refused a frame: \(FF.describe(sent))", path: displayPath) }
        try drainEncoder(codec)
    }

    private func drainEncoder(_ codec: UnsafeMutablePointer<AVCodecContext>) throws {
        guard let packet, let output else { return }
        while true {
            let received = avcodec_receive_packet(codec, packet)
            if received == FF.eagain || received == FF.eof { return }
            guard received >= 0 else {
                throw VocaSegError(.internal, "the encoder failed: \(FF.describe(received))", path: displayPath)
            }
            if packet.pointee.duration <= 0, let d = durations[packet.pointee.pts] { packet.pointee.duration = d }
            durations[packet.pointee.pts] = nil
            packet.pointee.stream_index = stream.pointee.index
            av_packet_rescale_ts(packet, encoderTimeBase, stream.pointee.time_base)
            let written = av_interleaved_write_frame(output, packet)
            guard written >= 0 else {
                throw VocaSegError(.io, "cannot write the video: \(FF.describe(written))", path: displayPath)
            }
        }
    }

    /// Flushes the encoder, copies the remaining audio/subtitle packets, writes the index and renames the file
    /// to its final name. On failure the temporary file is deleted and the error thrown.
    public func finish() throws {
        guard state == .open else {
            if state == .finished { return }
            throw VocaSegError(.internal, "finish after abort", path: displayPath)
        }
        do {
            guard let codec, let output else { throw VocaSegError(.internal, "writer not open", path: displayPath) }
            try send(nil, codec: codec)
            try copier?.copy(upTo: nil, timeBase: timeBase, into: output, outputPath: path)
            let trailer = av_write_trailer(output)
            guard trailer >= 0 else {
                throw VocaSegError(.io, "cannot finish the file: \(FF.describe(trailer))", path: displayPath)
            }
            let closed = avio_closep(&output.pointee.pb)
            guard closed >= 0 else {
                throw VocaSegError(.io, "cannot close the file: \(FF.describe(closed))", path: displayPath)
            }
            try file?.commit()
            state = .finished
            release()
        } catch {
            abort()
            throw error
        }
    }

    /// Stops writing and deletes the temporary file; nothing appears under `path`. Safe to call more than once.
    public func abort() {
        guard state != .aborted else { return }
        let wasFinished = state == .finished
        state = .aborted
        release()
        if !wasFinished { file?.abort() }
    }

    private func release() {
        if let copier { ownWarnings += copier.warnings }
        copier = nil
        if let output {
            if output.pointee.pb != nil { avio_closep(&output.pointee.pb) }
            avformat_free_context(output)
            self.output = nil
        }
        avcodec_free_context(&codec)
        av_frame_free(&frame)
        av_packet_free(&packet)
        sws_freeContext(scaler)
        scaler = nil
        rgbInput = nil
    }
}
