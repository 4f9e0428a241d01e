import CFFmpeg
import VocaSegCore

/// One libavfilter graph, `buffer` → chain → `buffersink`, for frames of one size and pixel format. Frames go in
/// with `send`, come out with `receive`; `sendEnd` flushes what filters hold back (bwdif keeps one frame).
final class VideoFilterGraph {
    /// What the buffer source was configured with: a frame that differs needs a new graph.
    struct InputKey: Equatable {
        var width: Int32, height: Int32, format: Int32
        init(_ frame: UnsafePointer<AVFrame>) {
            width = frame.pointee.width
            height = frame.pointee.height
            format = frame.pointee.format
        }
    }

    enum Received { case frame(UnsafeMutablePointer<AVFrame>), needsInput, ended }

    let key: InputKey
    private var graph: UnsafeMutablePointer<AVFilterGraph>?
    private var source: UnsafeMutablePointer<AVFilterContext>?
    private var sink: UnsafeMutablePointer<AVFilterContext>?
    private var output: UnsafeMutablePointer<AVFrame>?
    private let path: String
    /// The decoder's time base: what frames come back in, whatever the sink's is (bwdif halves it).
    private let timeBase: AVRational

    /// `description`: FFmpeg filter-graph syntax for the chain between the source and the sink.
    init(description: String, firstFrame: UnsafePointer<AVFrame>, timeBase: AVRational, threads: Int, path: String) throws {
        self.path = path
        self.timeBase = timeBase
        key = InputKey(firstFrame)
        guard let graph = avfilter_graph_alloc(), let output = av_frame_alloc() else {
            throw VocaSegError(.internal, "out of memory allocating a filter graph", path: path)
        }
        self.graph = graph
        self.output = output
        graph.pointee.nb_threads = Int32(max(0, threads))
        var sar = firstFrame.pointee.sample_aspect_ratio
        if sar.num <= 0 || sar.den <= 0 { sar = AVRational(num: 1, den: 1) }
        let args = "video_size=\(key.width)x\(key.height):pix_fmt=\(key.format):time_base=\(timeBase.num)/\(timeBase.den)"
            + ":pixel_aspect=\(sar.num)/\(sar.den)"
        var created = avfilter_graph_create_filter(&source, avfilter_get_by_name("buffer"), "in", args, nil, graph)
        guard created >= 0 else { throw failure("cannot create the filter source", created) }
        created = avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", nil, nil, graph)
        guard created >= 0 else { throw failure("cannot create the filter sink", created) }

        // The parser's open ends: its input "in" is fed by our source, its output "out" feeds our sink.
        // avfilter_graph_parse_ptr takes both lists and hands back what it left unlinked, which is freed here.
        var openOutputs = avfilter_inout_alloc()
        var openInputs = avfilter_inout_alloc()
        defer { avfilter_inout_free(&openInputs); avfilter_inout_free(&openOutputs) }
        guard let outputs = openOutputs, let inputs = openInputs else {
            throw VocaSegError(.internal, "out of memory in the filter graph", path: path)
        }
        outputs.pointee.name = av_strdup("in")
        outputs.pointee.filter_ctx = source
        outputs.pointee.pad_idx = 0
        outputs.pointee.next = nil
        inputs.pointee.name = av_strdup("out")
        inputs.pointee.filter_ctx = sink
        inputs.pointee.pad_idx = 0
        inputs.pointee.next = nil
        let parsed = avfilter_graph_parse_ptr(graph, description, &openInputs, &openOutputs, nil)
        guard parsed >= 0 else { throw failure("cannot build the filter graph '\(description)'", parsed) }
        let configured = avfilter_graph_config(graph, nil)
        guard configured >= 0 else { throw failure("cannot configure the filter graph '\(description)'", configured) }
    }

    deinit {
        av_frame_free(&output)
        avfilter_graph_free(&graph)
    }

    /// Hands a decoded frame to the graph (a new reference; the caller keeps its frame).
    func send(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        let added = av_buffersrc_add_frame_flags(source, frame, Int32(AV_BUFFERSRC_FLAG_KEEP_REF))
        guard added >= 0 else { throw failure("cannot filter a frame", added) }
    }

    /// Tells the graph that no more frames come, so that it releases what it holds.
    func sendEnd() throws {
        let added = av_buffersrc_add_frame_flags(source, nil, 0)
        guard added >= 0 else { throw failure("cannot flush the filter graph", added) }
    }

    /// The next filtered frame (valid until the next call), or what the graph needs.
    func receive() throws -> Received {
        guard let output else { return .ended }
        av_frame_unref(output)
        let got = av_buffersink_get_frame(sink, output)
        if got >= 0 {
            let sinkBase = av_buffersink_get_time_base(sink)
            if sinkBase.num != timeBase.num || sinkBase.den != timeBase.den {
                if output.pointee.pts != FF.noPTS { output.pointee.pts = av_rescale_q(output.pointee.pts, sinkBase, timeBase) }
                output.pointee.pkt_duration = av_rescale_q(output.pointee.pkt_duration, sinkBase, timeBase)
            }
            return .frame(output)
        }
        if got == FF.eagain { return .needsInput }
        if got == FF.eof { return .ended }
        throw failure("filtering failed", got)
    }

    private func failure(_ what: String, _ code: Int32) -> VocaSegError {
        VocaSegError(.input, "\(what): \(FF.describe(code))", path: path)
    }
}
