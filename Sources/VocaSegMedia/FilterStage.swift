import CFFmpeg
import VocaSegCore

/// Sits between one decoder and the RGB conversion when the stream needs a filter chain (`FilterPlan`): decoded
/// frames go through a libavfilter graph, filtered frames come out with the decoder's timestamps. A change of frame
/// size or pixel format midway ends the current graph (its held frames still come out) and starts a new one.
final class FilterStage {
    private let description: String
    private let threads: Int
    private var graph: VideoFilterGraph?
    /// A decoded frame of a new size or format, waiting for the old graph to drain.
    private var parked: UnsafeMutablePointer<AVFrame>?
    private var decoderEnded = false

    init?(plan: FilterPlan, threads: Int) {
        guard let description = plan.graphDescription else { return nil }
        self.description = description
        self.threads = threads
    }

    deinit { av_frame_free(&parked) }

    /// The next filtered frame (valid until the next call), or nil when the stream and the graph are done.
    func nextFrame(from decoder: StreamDecoder) throws -> UnsafeMutablePointer<AVFrame>? {
        while true {
            if let current = graph {
                switch try current.receive() {
                case let .frame(frame):
                    // Our timestamp reader uses best_effort_timestamp; filters carry pts.
                    frame.pointee.best_effort_timestamp = frame.pointee.pts
                    return frame
                case .needsInput:
                    // After the end was sent a graph has nothing more to give.
                    if decoderEnded || parked != nil { graph = nil }
                case .ended:
                    graph = nil
                }
            }
            if graph == nil, let waiting = parked {
                parked = nil
                var owned: UnsafeMutablePointer<AVFrame>? = waiting
                defer { av_frame_free(&owned) }
                try start(with: waiting, decoder: decoder)
                continue
            }
            if decoderEnded {
                if graph == nil { return nil }
                continue
            }
            guard let frame = decoder.nextFrame() else {
                decoderEnded = true
                if let current = graph { try current.sendEnd() } else { return nil }
                continue
            }
            try accept(frame, decoder: decoder)
        }
    }

    /// Feeds one decoded frame (also the first, which the caller decoded to choose the plan).
    func accept(_ frame: UnsafeMutablePointer<AVFrame>, decoder: StreamDecoder) throws {
        // As the ffmpeg CLI does: filters see the best-effort timestamp as pts.
        frame.pointee.pts = frame.pointee.best_effort_timestamp
        guard let current = graph else { return try start(with: frame, decoder: decoder) }
        if current.key == VideoFilterGraph.InputKey(frame) {
            try current.send(frame)
        } else {
            parked = av_frame_clone(frame)
            try current.sendEnd()
        }
    }

    private func start(with frame: UnsafeMutablePointer<AVFrame>, decoder: StreamDecoder) throws {
        let made = try VideoFilterGraph(description: description, firstFrame: frame, timeBase: decoder.stream.pointee.time_base,
                                        threads: threads, path: decoder.path)
        try made.send(frame)
        graph = made
    }
}
