import Foundation
import Logging
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline
import VocaSegRender
import VocaSegTensor

/// What one input produced.
public struct InputReport: Sendable, Codable {
    public var input: String
    public var overlay: String
    public var masksDirectory: String?
    public var panopticDirectory: String?
    public var jsonLines: String?
    public var frames: Int
    public var inferredFrames: Int
    /// Live mode: frames dropped because inference was still busy with an earlier one.
    public var droppedFrames: Int
    /// Live mode: whether the run kept latency bounded by dropping frames.
    public var live: Bool
    public var interrupted: Bool
    public var wallSeconds: Double
    public var timings: [StageTiming]
    public var corruptPackets: Int
    public var warnings: [String]
}

/// `vocaseg segment`: checks every input, output and the vocabulary first (so that bad input fails fast with exit
/// 2 or 3 whether or not a model is installed), then loads the model once and runs each input through the pipeline.
public final class SegmentJob {
    public let options: SegmentOptions
    private let logger: Logger
    /// Lets tests and embedders supply a model instead of the CLI's loader.
    private let modelProvider: (SegmentOptions) throws -> SegmentationModel
    private var keptSources: [String: MediaSource] = [:]

    public init(options: SegmentOptions, logger: Logger = Logger(label: "vocaseg"),
                modelProvider: ((SegmentOptions) throws -> SegmentationModel)? = nil) {
        self.options = options
        self.logger = logger
        self.modelProvider = modelProvider ?? { o in try ModelLoader.load(options: o) }
    }

    public func run() throws -> [InputReport] {
        try options.validateFlags()
        let vocabulary = try VocabularyLoader.load(classes: options.classes, file: options.vocabularyFile)
        for notice in VocabularyLoader.notices(for: vocabulary, file: options.vocabularyFile)
            + ModelLoader.notices(options: options, vocabularySize: vocabulary.count)
        {
            logger.notice("\(notice)")
        }

        // Probe every input before loading anything heavy.
        var probed: [(path: String, info: MediaInfo)] = []
        for input in options.inputs {
            let source = try MediaSource(path: input, options: options.sourceOptions)
            // A pipe or a live stream can be read once: keep the probing decoder for the run itself.
            if input == "-" || source.info.isNetworkStream { keptSources[input] = source }
            probed.append((input, source.info))
            if let filters = source.info.filterSummary { logger.notice("\(input): \(filters)") }
        }
        let plans = try OutputPlan.make(kinds: probed.map { ($0.path, OutputPlan.kind(of: $0.info)) }, options: options)

        if let threads = options.threads { ParallelConfig.setThreads(threads) }
        let model = try modelProvider(options)
        try Self.checkOutputs(options, fit: model)
        if model.usesRandomWeights {
            logger.warning("\(String(repeating: "!", count: 12)) RANDOM WEIGHTS: \(model.name) runs with seeded random weights; the segmentation it produces is MEANINGLESS (use only for pipeline and speed checks) \(String(repeating: "!", count: 12))")
        }
        try model.prepare(vocabulary: vocabulary)
        let renderer = try makeRenderer(vocabulary: vocabulary)

        var reports: [InputReport] = []
        for (plan, probe) in zip(plans, probed) {
            let report = try runOne(plan: plan, info: probe.info, model: model, vocabulary: vocabulary,
                                    renderer: renderer)
            reports.append(report)
            if report.interrupted { break }
        }
        if let path = options.timingsPath {
            let data = try JSONEncoder.pretty.encode(reports)
            let out = try AtomicOutputFile(finalPath: path)
            do {
                try data.write(to: URL(fileURLWithPath: out.temporaryPath))
                try out.commit()
            } catch let error as VocaSegError {
                out.abort()
                throw error
            } catch {
                out.abort()
                throw VocaSegError(.io, "cannot write the timings file: \(AtomicOutputFile.describe(error))", path: path)
            }
        }
        return reports
    }

    /// Panoptic outputs need a panoptic model.
    static func checkOutputs(_ options: SegmentOptions, fit model: SegmentationModel) throws {
        let wanted = options.panopticOnlyOutputs
        if !model.isPanoptic, !wanted.isEmpty {
            throw VocaSegError(.usage, "\(wanted.joined(separator: " and ")) \(wanted.count == 1 ? "needs" : "need") a "
                               + "panoptic model; \(model.name) is semantic (use --masks or --jsonl)")
        }
    }

    func makeRenderer(vocabulary: Vocabulary) throws -> OverlayRenderer {
        var overlayOptions = OverlayOptions()
        overlayOptions.alpha = options.alpha
        overlayOptions.drawsOutlines = options.outlines
        overlayOptions.drawsLabels = options.labels
        overlayOptions.drawsLegend = options.legend
        for (name, hex) in options.colorOverrides {
            if let v = UInt32(hex.dropFirst(), radix: 16) {
                overlayOptions.colorOverrides[name] = RGBColor(r: UInt8(v >> 16 & 0xFF), g: UInt8(v >> 8 & 0xFF),
                                                               b: UInt8(v & 0xFF))
            }
        }
        return try OverlayRenderer(vocabulary: vocabulary, options: overlayOptions)
    }

    /// Runs one input through the pipeline into the outputs of `plan`. `onPipeline` receives the pipeline before
    /// it starts, so that the caller can stop it (the CLI on Ctrl-C, the watcher on SIGTERM).
    func runOne(plan: OutputPlan, info: MediaInfo, model: SegmentationModel, vocabulary: Vocabulary,
                renderer: OverlayRenderer, onPipeline: ((FramePipeline) -> Void)? = nil) throws -> InputReport {
        let media = try keptSources.removeValue(forKey: plan.input)
            ?? MediaSource(path: plan.input, options: options.sourceOptions)
        var sinks: [FrameSink] = []
        var videoSink: OverlayVideoSink?
        do {
            if !options.writeOverlay {
                // Label maps and JSON lines only.
            } else if plan.overlayIsFolder {
                sinks.append(try OverlayImageFolderSink(directory: plan.overlay))
            } else if plan.overlayIsSequence {
                sinks.append(try OverlayImageSequenceSink(pattern: plan.overlay, startNumber: options.startNumber))
            } else if info.isStillImage && !plan.overlayIsStdout {
                sinks.append(OverlayImageSink(path: plan.overlay))
            } else {
                let sink = try OverlayVideoSink(path: plan.overlay, input: plan.input, info: media.info,
                                                crf: options.crf, preset: options.preset,
                                                streamFormat: plan.overlayIsStdout ? options.streamFormat ?? "nut" : nil)
                videoSink = sink
                sinks.append(sink)
            }
            if let masks = plan.masksDirectory {
                try OutputPlan.ensureDirectory(masks, what: "masks directory")
                sinks.append(try LabelMapSink(directory: masks, vocabulary: vocabulary))
            }
            if let panoptic = plan.panopticDirectory {
                try OutputPlan.ensureDirectory(panoptic, what: "panoptic directory")
                sinks.append(try PanopticSink(directory: panoptic, vocabulary: vocabulary))
            }
            if let jsonl = plan.jsonLines {
                var header: [String: Any] = [
                    "input": plan.input, "model": model.name, "random_weights": model.usesRandomWeights,
                    "width": info.width, "height": info.height, "every": options.every,
                    "keyframes": options.keyframePolicy.description, "propagate": options.propagation.rawValue,
                    "model_settings": model.settingsSummary,
                    "task": model.isPanoptic ? "panoptic" : "semantic",
                ]
                if model.isPanoptic {
                    header["things"] = vocabulary.classes.map(\.isThing)
                    header["tracking"] = ["iou": options.tracking.iouThreshold, "memory": options.tracking.memory]
                }
                sinks.append(try JSONLinesSink(path: jsonl, header: header, vocabulary: vocabulary, rle: options.rle))
            }
        } catch {
            for s in sinks { s.abort() }
            throw error
        }

        let live = options.live ?? media.info.isNetworkStream
        if live { logger.info("\(plan.input): live source: bounded latency, frames dropped while inference is busy") }
        let pipeline = FramePipeline(source: MediaFrameSource(media), model: model,
                                     renderer: options.writeOverlay ? OverlayFrameRenderer(renderer) : nil, sinks: sinks,
                                     options: .init(queueDepth: options.queueDepth, every: options.every,
                                                    tracking: options.tracking, live: live,
                                                    keyframes: options.keyframePolicy,
                                                    propagation: options.propagation))
        let progress = ProgressReporter(label: OutputPlan.stem(of: plan.input), totalFrames: info.estimatedFrameCount,
                                        mode: options.progress, quiet: options.quiet)
        pipeline.onFrameWritten = { frame in progress.update(frames: frame.frame.index + 1) }
        if let onPipeline {
            onPipeline(pipeline)
        } else {
            InterruptHandler.shared.onStop { pipeline.requestStop() }
        }
        defer { if onPipeline == nil { InterruptHandler.shared.clearActions() } }

        let outcome = try pipeline.run()
        progress.finish(frames: outcome.frames)
        let stats = media.stats
        var warnings = stats.warnings + (videoSink?.warnings ?? [])
        if stats.corruptPackets > 0 {
            warnings.append("skipped \(stats.corruptPackets) corrupt packet(s)")
        }
        for w in warnings { logger.warning("\(plan.input): \(w)") }
        return InputReport(input: plan.input, overlay: plan.overlay, masksDirectory: plan.masksDirectory,
                           panopticDirectory: plan.panopticDirectory, jsonLines: plan.jsonLines, frames: outcome.frames, inferredFrames: outcome.inferredFrames,
                           droppedFrames: outcome.droppedFrames, live: live,
                           interrupted: outcome.interrupted, wallSeconds: outcome.wallSeconds,
                           timings: outcome.timings, corruptPackets: stats.corruptPackets, warnings: warnings)
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}
