import CFFmpeg
import Foundation
import VocaSegCore

/// Encodes RGB frames to H.264 (libx264, yuv420p, BT.709 limited range) in an mp4/mov/mkv chosen from the final
/// path's extension, keeping the caller's timestamps exactly (variable frame rate survives) and copying the audio
/// and subtitle packets of `copyStreamsFrom` unchanged.
///
/// The file is written under a hidden temporary name and only renamed to `path` by `finish()`; `abort()` or
/// dropping an unfinished writer deletes it. Use from one thread at a time.
public final class VideoWriter: @unchecked Sendable {
    public let path: String
    /// Things the caller should tell the user: encoder fallback, padding of odd sizes, streams not copied.
    public var warnings: [String] { ownWarnings + (copier?.warnings ?? []) }
    public private(set) var framesWritten = 0
    /// Size actually encoded (the input size rounded up to even numbers).
    public let encodedWidth: Int
    public let encodedHeight: Int

    private let file: AtomicOutputFile
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

    public init(path: String, settings: EncoderSettings = .init(), width: Int, height: Int,
                timeBase: (num: Int32, den: Int32), frameRate: (num: Int32, den: Int32),
                copyStreamsFrom: String? = nil) throws {
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
        file = try AtomicOutputFile(finalPath: path)

        guard let muxer = av_guess_format(nil, path, nil) else {
            throw VocaSegError(.usage, "cannot tell the container from the file name (use .mp4, .mov or .mkv)", path: path)
        }
        if avformat_query_codec(muxer, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL) == 0 {
            throw VocaSegError(.usage, "the \(FF.string(muxer.pointee.name) ?? "") container cannot hold H.264 video "
                               + "(use .mp4, .mov or .mkv)", path: path)
        }
        var oc: UnsafeMutablePointer<AVFormatContext>? = nil
        guard avformat_alloc_output_context2(&oc, muxer, nil, file.temporaryPath) >= 0, let oc else {
            throw VocaSegError(.internal, "cannot create the muxer", path: path)
        }
        output = oc
        guard let videoStream = avformat_new_stream(oc, nil) else {
            avformat_free_context(oc)
            throw VocaSegError(.internal, "out of memory adding the video stream", path: path)
        }
        stream = videoStream
        if encodedWidth != width || encodedHeight != height {
            ownWarnings.append("\(path): \(width)x\(height) is odd-sized; H.264 4:2:0 needs even sizes, so the video is "
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
        var encoder = avcodec_find_encoder_by_name(settings.encoderName)
        let usingFallback = encoder == nil
        if usingFallback {
            encoder = avcodec_find_encoder(AV_CODEC_ID_MPEG4)
            ownWarnings.append("\(path): encoder \(settings.encoderName) is not in this FFmpeg build; "
                               + "encoding MPEG-4 Part 2 instead (larger files, lower quality)")
        }
        guard let encoder, let ctx = avcodec_alloc_context3(encoder) else {
            throw VocaSegError(.internal, "no usable video encoder in this FFmpeg build", path: path)
        }
        codec = ctx
        ctx.pointee.width = Int32(encodedWidth)
        ctx.pointee.height = Int32(encodedHeight)
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
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
        ctx.pointee.color_range = AVCOL_RANGE_MPEG
        ctx.pointee.colorspace = AVCOL_SPC_BT709
        ctx.pointee.color_primaries = AVCOL_PRI_BT709
        ctx.pointee.color_trc = AVCOL_TRC_BT709
        ctx.pointee.thread_count = Int32(settings.threadCount)
        if output!.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
            ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        var options: OpaquePointer? = nil
        defer { av_dict_free(&options) }
        if usingFallback {
            // MPEG-4 Part 2 has no CRF: a fixed quantiser of similar visual quality (crf 20 → q 3).
            ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
            ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * Int32(max(2, min(31, settings.crf / 6)))
        } else if FF.string(encoder.pointee.name) == "libx264" {
            av_dict_set(&options, "crf", "\(settings.crf)", 0)
            av_dict_set(&options, "preset", settings.preset, 0)
        }
        let opened = avcodec_open2(ctx, encoder, &options)
        guard opened >= 0 else {
            throw VocaSegError(.usage, "cannot open the \(FF.string(encoder.pointee.name) ?? "") encoder "
                               + "(crf \(settings.crf), preset \(settings.preset)): \(FF.describe(opened))", path: path)
        }
        avcodec_parameters_from_context(stream.pointee.codecpar, ctx)
        stream.pointee.time_base = timeBase
        stream.pointee.sample_aspect_ratio = ctx.pointee.sample_aspect_ratio
        stream.pointee.avg_frame_rate = ctx.pointee.framerate

        guard let f = av_frame_alloc() else { throw VocaSegError(.internal, "out of memory", path: path) }
        frame = f
        f.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        f.pointee.width = Int32(encodedWidth)
        f.pointee.height = Int32(encodedHeight)
        f.pointee.color_range = AVCOL_RANGE_MPEG
        f.pointee.colorspace = AVCOL_SPC_BT709
        f.pointee.color_primaries = AVCOL_PRI_BT709
        f.pointee.color_trc = AVCOL_TRC_BT709
        guard av_frame_get_buffer(f, 0) >= 0, let p = av_packet_alloc() else {
            throw VocaSegError(.internal, "out of memory", path: path)
        }
        packet = p
        scaler = sws_getContext(Int32(encodedWidth), Int32(encodedHeight), AV_PIX_FMT_RGB24,
                                Int32(encodedWidth), Int32(encodedHeight), AV_PIX_FMT_YUV420P, SWS_BILINEAR, nil, nil, nil)
        guard let scaler else { throw VocaSegError(.internal, "cannot create the RGB→YUV converter", path: path) }
        // RGB in (full range by nature) → BT.709 limited-range YUV, matching the tags written above.
        let bt709 = sws_getCoefficients(SWS_CS_ITU709)
        sws_setColorspaceDetails(scaler, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16)
    }

    private func openFile(settings: EncoderSettings) throws {
        guard let oc = output else { return }
        if oc.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            let opened = avio_open(&oc.pointee.pb, file.temporaryPath, AVIO_FLAG_WRITE)
            guard opened >= 0 else {
                throw VocaSegError(.io, "cannot create the output file: \(FF.describe(opened))", path: path)
            }
        }
        var options: OpaquePointer? = nil
        defer { av_dict_free(&options) }
        let muxerName = FF.string(oc.pointee.oformat.pointee.name) ?? ""
        if settings.fastStart, muxerName == "mp4" || muxerName == "mov" {
            av_dict_set(&options, "movflags", "+faststart", 0)
        }
        let header = avformat_write_header(oc, &options)
        guard header >= 0 else {
            throw VocaSegError(.io, "cannot write the container header: \(FF.describe(header))", path: path)
        }
    }

    /// Encodes one frame shown at `pts` for `duration` (both in the time base given at init). Frames must come in
    /// presentation order; a pts that does not increase is bumped by one tick (and a warning recorded) because
    /// encoders reject it.
    public func write(_ image: RGBImage, pts: Int64, duration: Int64) throws {
        guard state == .open, let codec, let frame, let scaler else {
            throw VocaSegError(.internal, "write after finish/abort", path: path)
        }
        guard image.width == width, image.height == height else {
            throw VocaSegError(.internal, "frame is \(image.width)x\(image.height), the writer was opened for "
                               + "\(width)x\(height)", path: path)
        }
        var stamp = pts
        if let last = lastPTS, stamp <= last {
            if ownWarnings.count < 20 { ownWarnings.append("\(path): pts \(pts) does not increase; written as \(last + 1)") }
            stamp = last + 1
        }
        lastPTS = stamp
        try copier?.copy(upTo: stamp, timeBase: timeBase, into: output!, outputPath: path)

        let made = av_frame_make_writable(frame)
        guard made >= 0 else { throw VocaSegError(.internal, "cannot reuse the frame buffer", path: path) }
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
            throw VocaSegError(.internal, "RGB→YUV conversion failed", path: path)
        }
    }

    private func send(_ frame: UnsafeMutablePointer<AVFrame>?, codec: UnsafeMutablePointer<AVCodecContext>) throws {
        let sent = avcodec_send_frame(codec, frame)
        guard sent >= 0 else { throw VocaSegError(.internal, "the encoder refused a frame: \(FF.describe(sent))", path: path) }
        try drainEncoder(codec)
    }

    private func drainEncoder(_ codec: UnsafeMutablePointer<AVCodecContext>) throws {
        guard let packet, let output else { return }
        while true {
            let received = avcodec_receive_packet(codec, packet)
            if received == FF.eagain || received == FF.eof { return }
            guard received >= 0 else {
                throw VocaSegError(.internal, "the encoder failed: \(FF.describe(received))", path: path)
            }
            if packet.pointee.duration <= 0, let d = durations[packet.pointee.pts] { packet.pointee.duration = d }
            durations[packet.pointee.pts] = nil
            packet.pointee.stream_index = stream.pointee.index
            av_packet_rescale_ts(packet, encoderTimeBase, stream.pointee.time_base)
            let written = av_interleaved_write_frame(output, packet)
            guard written >= 0 else {
                throw VocaSegError(.io, "cannot write the video: \(FF.describe(written))", path: path)
            }
        }
    }

    /// Flushes the encoder, copies the remaining audio/subtitle packets, writes the index and renames the file
    /// to its final name. On failure the temporary file is deleted and the error thrown.
    public func finish() throws {
        guard state == .open else {
            if state == .finished { return }
            throw VocaSegError(.internal, "finish after abort", path: path)
        }
        do {
            guard let codec, let output else { throw VocaSegError(.internal, "writer not open", path: path) }
            try send(nil, codec: codec)
            try copier?.copy(upTo: nil, timeBase: timeBase, into: output, outputPath: path)
            let trailer = av_write_trailer(output)
            guard trailer >= 0 else {
                throw VocaSegError(.io, "cannot finish the file: \(FF.describe(trailer))", path: path)
            }
            let closed = avio_closep(&output.pointee.pb)
            guard closed >= 0 else {
                throw VocaSegError(.io, "cannot close the file: \(FF.describe(closed))", path: path)
            }
            try file.commit()
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
        if !wasFinished { file.abort() }
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
