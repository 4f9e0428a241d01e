import CFFmpeg
import VocaSegCore

/// Copies the audio and subtitle streams of an input into a muxer packet for packet (no re-encoding, so the
/// payloads stay bit-identical), interleaved with the video the caller is encoding.
///
/// It opens the input a second time with its own demuxer that reads only those streams, so the decoding side
/// and the encoding side stay independent and memory stays bounded: before each video frame is muxed, the
/// caller asks for every copied packet up to that frame's time.
final class StreamCopier {
    private var input: UnsafeMutablePointer<AVFormatContext>?
    /// Input stream index → output stream, for the streams being copied.
    private var mapping: [Int32: UnsafeMutablePointer<AVStream>] = [:]
    private var inputTimeBases: [Int32: AVRational] = [:]
    private var packet: UnsafeMutablePointer<AVPacket>?
    /// A packet read ahead whose time had not come yet.
    private var hasPending = false
    private var exhausted = false
    private(set) var warnings: [String] = []
    private(set) var copiedPackets = 0
    let path: String

    var isCopyingAnything: Bool { !mapping.isEmpty }

    /// Adds one output stream per audio/subtitle stream of `path` to `output` (before its header is written).
    init(path: String, output: UnsafeMutablePointer<AVFormatContext>) throws {
        self.path = path
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let opened = avformat_open_input(&ctx, path, nil, nil)
        guard opened >= 0, let ctx else {
            throw VocaSegError(.input, "cannot reopen to copy audio/subtitles: \(FF.describe(opened))", path: path)
        }
        input = ctx
        let probed = avformat_find_stream_info(ctx, nil)
        if probed < 0 {
            avformat_close_input(&input)
            throw VocaSegError(.input, "cannot read stream information: \(FF.describe(probed))", path: path)
        }
        for i in 0..<Int(ctx.pointee.nb_streams) {
            guard let stream = ctx.pointee.streams[i] else { continue }
            let par = stream.pointee.codecpar!
            let type = par.pointee.codec_type
            guard type == AVMEDIA_TYPE_AUDIO || type == AVMEDIA_TYPE_SUBTITLE else {
                stream.pointee.discard = AVDISCARD_ALL
                continue
            }
            let codecName = FF.string(avcodec_get_name(par.pointee.codec_id)) ?? "unknown"
            // 0 means the muxer cannot hold this codec (e.g. SubRip in mp4); negative means "unknown, try it".
            if avformat_query_codec(output.pointee.oformat, par.pointee.codec_id, FF_COMPLIANCE_NORMAL) == 0 {
                warnings.append("\(path): stream \(i) (\(codecName)) cannot be stored in this output container; not copied")
                stream.pointee.discard = AVDISCARD_ALL
                continue
            }
            guard let out = avformat_new_stream(output, nil) else {
                throw VocaSegError(.internal, "out of memory adding an output stream", path: path)
            }
            avcodec_parameters_copy(out.pointee.codecpar, par)
            // The input container's codec tag may not be valid in the output container; let the muxer choose.
            out.pointee.codecpar.pointee.codec_tag = 0
            out.pointee.time_base = stream.pointee.time_base
            out.pointee.disposition = stream.pointee.disposition
            av_dict_copy(&out.pointee.metadata, stream.pointee.metadata, 0)
            mapping[Int32(i)] = out
            inputTimeBases[Int32(i)] = stream.pointee.time_base
        }
        packet = av_packet_alloc()
    }

    deinit {
        av_packet_free(&packet)
        avformat_close_input(&input)
    }

    /// Muxes every copied packet whose timestamp is at or before `time` (in `timeBase`); nil copies all the rest.
    func copy(upTo time: Int64?, timeBase: AVRational, into output: UnsafeMutablePointer<AVFormatContext>,
              outputPath: String) throws {
        guard let input, let packet, !mapping.isEmpty else { return }
        while true {
            if !hasPending {
                if exhausted { return }
                let read = av_read_frame(input, packet)
                if read < 0 {
                    exhausted = true
                    if read != FF.eof { warnings.append("\(path): copying audio/subtitles stopped early: \(FF.describe(read))") }
                    return
                }
                guard mapping[packet.pointee.stream_index] != nil else { av_packet_unref(packet); continue }
                hasPending = true
            }
            let index = packet.pointee.stream_index
            let inTB = inputTimeBases[index]!
            let stamp = packet.pointee.dts != FF.noPTS ? packet.pointee.dts : packet.pointee.pts
            if let time, stamp != FF.noPTS, av_compare_ts(stamp, inTB, time, timeBase) > 0 { return }
            let out = mapping[index]!
            packet.pointee.stream_index = out.pointee.index
            packet.pointee.pos = -1
            av_packet_rescale_ts(packet, inTB, out.pointee.time_base)
            // av_interleaved_write_frame takes the packet's reference and leaves `packet` blank.
            let written = av_interleaved_write_frame(output, packet)
            hasPending = false
            if written < 0 {
                throw VocaSegError(.io, "cannot write a copied packet: \(FF.describe(written))", path: outputPath)
            }
            copiedPackets += 1
        }
    }
}
