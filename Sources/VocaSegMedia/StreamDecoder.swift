import CFFmpeg
import CFFmpegShim
import VocaSegCore

/// One demuxer + video decoder over one libavformat input. Yields decoded AVFrames in presentation order and
/// keeps going past corrupt packets, counting them in `stats`.
final class StreamDecoder {
    let path: String
    private(set) var format: UnsafeMutablePointer<AVFormatContext>?
    private(set) var codec: UnsafeMutablePointer<AVCodecContext>?
    // Set once in init (implicitly unwrapped only so that init can clean up with `defer` before they are known).
    private(set) var stream: UnsafeMutablePointer<AVStream>!
    private(set) var streamIndex: Int32 = -1
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var draining = false
    private var finished = false
    private var packetsRead = 0
    private var consecutiveErrors = 0
    /// A network source: a read error after the timeout is how its stream ends.
    private var isNetwork = false
    var stats = DecodeStats()

    /// Opens `url` (a file, URL, `pipe:0`, or an image2 pattern with `formatName: "image2"`).
    /// `displayPath` is what error messages name.
    init(url: String, formatName: String?, displayPath: String, options: SourceOptions) throws {
        _ = MediaLibrary.configureOnce
        path = displayPath
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        var demuxerOptions: OpaquePointer? = nil
        defer { av_dict_free(&demuxerOptions) }
        var inputFormat: UnsafePointer<AVInputFormat>? = nil
        if let formatName { inputFormat = av_find_input_format(formatName) }
        // Demuxers without timestamps of their own (image2, image pipes, raw elementary streams) read `framerate`;
        // the others leave it unused in the dictionary.
        if formatName == "image2" || options.frameRateIsExplicit {
            av_dict_set(&demuxerOptions, "framerate", options.frameRateText, 0)
        }
        isNetwork = Self.isNetwork(url)
        if isNetwork {
            // A live stream ends in silence, not with an end-of-file: give up reading after the timeout (µs).
            let micros = "\(Int64(options.networkTimeoutSeconds * 1_000_000))"
            av_dict_set(&demuxerOptions, "rw_timeout", micros, 0)
            if url.hasPrefix("udp:") || url.hasPrefix("rtp:") { av_dict_set(&demuxerOptions, "timeout", micros, 0) }
        }
        let opened = avformat_open_input(&ctx, url, inputFormat, &demuxerOptions)
        guard opened >= 0, let ctx else {
            if opened == FF.invalidData {
                throw VocaSegError(.input, "not a media file FFmpeg can read (\(FF.describe(opened)))", path: displayPath)
            }
            throw VocaSegError(.input, "cannot open: \(FF.describe(opened))", path: displayPath)
        }
        format = ctx
        var cleanup = true
        defer { if cleanup { avformat_close_input(&self.format) } }

        let probed = avformat_find_stream_info(ctx, nil)
        if probed < 0 {
            throw VocaSegError(.input, "cannot read stream information: \(FF.describe(probed))", path: displayPath)
        }
        var decoder: UnsafePointer<AVCodec>? = nil
        let best = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        if best < 0 {
            let (audio, subtitles) = Self.countStreams(ctx)
            if best == vs_averror_decoder_not_found_value, let video = Self.firstVideoStream(ctx) {
                let name = FF.string(avcodec_get_name(video.pointee.codecpar.pointee.codec_id)) ?? "unknown"
                throw VocaSegError(.input, "unsupported video codec '\(name)': this FFmpeg build has no decoder for it",
                                   path: displayPath)
            }
            throw VocaSegError(.input, "no video stream (\(audio) audio, \(subtitles) subtitle streams)", path: displayPath)
        }
        guard let decoder, let stream = ctx.pointee.streams[Int(best)] else {
            throw VocaSegError(.input, "no decoder for the video stream", path: displayPath)
        }
        // Cover art in a music file is a one-picture "video" stream; it is not a video to segment.
        if stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 {
            let (audio, subtitles) = Self.countStreams(ctx)
            throw VocaSegError(.input, "no video stream, only cover art (\(audio) audio, \(subtitles) subtitle streams)",
                               path: displayPath)
        }
        self.stream = stream
        streamIndex = best
        // Only the video stream is read; the demuxer can skip the others' payloads.
        for i in 0..<Int(ctx.pointee.nb_streams) where i != Int(best) { ctx.pointee.streams[i]?.pointee.discard = AVDISCARD_ALL }

        guard let codecContext = avcodec_alloc_context3(decoder) else {
            throw VocaSegError(.internal, "out of memory allocating a decoder", path: displayPath)
        }
        codec = codecContext
        avcodec_parameters_to_context(codecContext, stream.pointee.codecpar)
        codecContext.pointee.pkt_timebase = stream.pointee.time_base
        codecContext.pointee.thread_count = Int32(options.threadCount)
        // Under frame threading, exported motion vectors went missing from some frames in our tests: slices only.
        codecContext.pointee.thread_type = options.exportMotionVectors ? FF_THREAD_SLICE : FF_THREAD_FRAME | FF_THREAD_SLICE
        var codecOptions: OpaquePointer? = nil
        defer { av_dict_free(&codecOptions) }
        if options.exportMotionVectors { av_dict_set(&codecOptions, "flags2", "+export_mvs", 0) }
        let codecOpened = avcodec_open2(codecContext, decoder, &codecOptions)
        guard codecOpened >= 0 else {
            avcodec_free_context(&codec)
            throw VocaSegError(.input, "cannot open the \(FF.string(decoder.pointee.name) ?? "video") decoder: "
                               + FF.describe(codecOpened), path: displayPath)
        }
        packet = av_packet_alloc()
        frame = av_frame_alloc()
        cleanup = false
    }

    deinit {
        av_frame_free(&frame)
        av_packet_free(&packet)
        avcodec_free_context(&codec)
        avformat_close_input(&format)
    }

    /// The next decoded frame (valid until the next call), or nil at the end of the stream.
    func nextFrame() -> UnsafeMutablePointer<AVFrame>? {
        guard !finished, let codec, let frame, let packet, let format else { return nil }
        while true {
            let received = avcodec_receive_frame(codec, frame)
            if received == 0 {
                consecutiveErrors = 0
                if frame.pointee.decode_error_flags != 0 || frame.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 {
                    stats.corruptFrames += 1
                }
                stats.framesDecoded += 1
                return frame
            }
            if received == FF.eof { finishStream(); return nil }
            if received != FF.eagain {
                // A decoding error surfacing on output (frame threading reports them late): skip it like a corrupt
                // packet. While draining keep receiving, the frames queued behind it are still good; a decoder
                // that only ever returns errors is given up on.
                stats.corruptPackets += 1
                consecutiveErrors += 1
                if consecutiveErrors > 64 { finishStream(); return nil }
                continue
            }
            consecutiveErrors = 0
            if draining { finishStream(); return nil }
            let read = av_read_frame(format, packet)
            if read < 0 {
                if read != FF.eof && !(isNetwork && packetsRead > 0) {
                    stats.truncated = true
                    stats.warnings.append("\(path): reading stopped early: \(FF.describe(read))")
                }
                draining = true
                avcodec_send_packet(codec, nil)
                continue
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            packetsRead += 1
            if packet.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
                // The demuxer knows this packet is damaged (short read at a cut, MPEG-TS continuity error, …). It is
                // still decoded, since decoders conceal such damage; a cut file is detected as truncation elsewhere.
                stats.corruptPackets += 1
                if stats.corruptPackets <= 10 {
                    stats.warnings.append("\(path): video packet \(packetsRead) is damaged")
                }
            }
            let sent = avcodec_send_packet(codec, packet)
            if sent < 0, sent != FF.eagain {
                stats.corruptPackets += 1
                if stats.corruptPackets <= 10 {
                    stats.warnings.append("\(path): skipped a corrupt packet (\(FF.describe(sent)))")
                }
            }
        }
    }

    private func finishStream() {
        finished = true
        // A container index (mp4 stts) promising more samples than could be read means the file was cut.
        let promised = Int(stream.pointee.nb_frames)
        if promised > 0, packetsRead < promised, !stats.truncated {
            stats.truncated = true
            stats.warnings.append("\(path): the file is truncated: \(packetsRead) of \(promised) video packets present")
        }
    }

    /// Every picture of this codec is coded on its own (MJPEG, PNG, ProRes, …): there are no motion vectors.
    var isIntraOnly: Bool {
        guard let descriptor = avcodec_descriptor_get(stream.pointee.codecpar.pointee.codec_id) else { return true }
        return descriptor.pointee.props & AV_CODEC_PROP_INTRA_ONLY != 0
    }

    /// A URL whose protocol reads from the network (udp, rtp, rtsp, srt, http, tcp, …), as opposed to a file or pipe.
    static func isNetwork(_ url: String) -> Bool {
        guard let proto = avio_find_protocol_name(url).map({ String(cString: $0) }) else { return false }
        return !["file", "pipe", "fd", "cache", "concat", "subfile", "data", "crypto"].contains(proto)
    }

    static func countStreams(_ ctx: UnsafeMutablePointer<AVFormatContext>) -> (audio: Int, subtitles: Int) {
        var audio = 0, subtitles = 0
        for i in 0..<Int(ctx.pointee.nb_streams) {
            guard let type = ctx.pointee.streams[i]?.pointee.codecpar.pointee.codec_type else { continue }
            if type == AVMEDIA_TYPE_AUDIO { audio += 1 }
            if type == AVMEDIA_TYPE_SUBTITLE { subtitles += 1 }
        }
        return (audio, subtitles)
    }

    static func firstVideoStream(_ ctx: UnsafeMutablePointer<AVFormatContext>) -> UnsafeMutablePointer<AVStream>? {
        for i in 0..<Int(ctx.pointee.nb_streams) {
            if let s = ctx.pointee.streams[i], s.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO { return s }
        }
        return nil
    }
}

private let vs_averror_decoder_not_found_value: Int32 = vs_averror_decoder_not_found()
