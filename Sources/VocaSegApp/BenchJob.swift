import Dispatch
import Foundation
import Logging
import VocaSegCore
import VocaSegMedia
import VocaSegModels
import VocaSegPipeline
import VocaSegRender
import VocaSegTensor

/// `vocaseg bench`: frame-rate benchmarking of a model, alone on a synthetic frame or in the real pipeline on a
/// video, with warm-up frames left out of every figure.
public struct BenchOptions: Sendable {
    public var model = "errseg-b"
    public var weights: SegmentOptions.Weights = .checkpoint
    public var size: Int?
    /// Width and height of the synthetic frame (nil: `size` square, else 640 square). EOV-Seg resizes any frame
    /// itself (short side 640), so its speed is measured on a frame of the shape it will see, e.g. 854×640.
    public var frameSize: (width: Int, height: Int)?
    /// A picture to repeat instead of the synthetic frame (its first frame), so that data-dependent work (SED's
    /// CER survivors) is the same as another implementation's on that picture.
    public var stillImage: String?
    /// A vocabulary of this many synthetic class names ("object 1" …), unless `vocabularyFile` is given.
    public var classCount = 150
    public var vocabularyFile: String?
    /// The family's own settings by flag name (ERR-Seg: crm-k …).
    public var modelSettings: FamilySettings = [:]
    public var task: String?
    public var mode = "full"
    public var input: String?
    public var frames = 10
    public var warmup = 2
    public var threads: Int?
    public var jsonPath: String?
    /// `--precision`: see `SegmentOptions.precision`.
    public var precision: GEMMPrecision = .fp32
    public init() {}
}

/// The `--json` document. Times in milliseconds unless the name says otherwise.
public struct BenchReport: Codable, Sendable {
    public struct Machine: Codable, Sendable {
        public var cpu: String
        public var cores: Int
        public var threads: Int
        public var blas: String
        /// Measured now: best of several 2048³ `cblas_sgemm` calls on OpenBLAS's own pool of `threads` threads.
        public var sgemmGFLOPS: Double
    }
    public struct Settings: Codable, Sendable {
        public var model: String
        /// semantic or panoptic.
        public var task: String?
        public var randomWeights: Bool
        public var inputSize: Int?
        public var classes: Int
        public var crmK: Int?
        public var mode: String
        public var input: String?
        /// The picture repeated as every frame (`--still`), when one was given.
        public var still: String? = nil
        public var frames: Int
        public var warmup: Int
        /// What the per-frame products ran at: fp32, or bf16 (`--precision bf16` on a CPU with AVX512_BF16).
        public var precision: String = GEMMPrecision.fp32.rawValue
    }
    public struct Compute: Codable, Sendable {
        public var stage: String
        /// Billions of floating-point operations (2 per multiply-accumulate) per frame.
        public var gflop: Double
        public var gflopsAtP50: Double
        /// Achieved GFLOP/s over the machine's measured sgemm GFLOP/s.
        public var fractionOfSgemm: Double
    }

    public var schema = "vocaseg-bench/1"
    public var machine: Machine
    public var settings: Settings
    /// Text encoding of the whole vocabulary, done once before the first frame.
    public var textEncodeMilliseconds: Double
    public var stages: [StageTiming]
    /// Frames per second of inference alone (preprocess excluded), from the summed inference times.
    public var inferenceFPS: Double
    /// Frames per second through the whole pipeline (decode to encode), when an input video was given.
    public var endToEndFPS: Double?
    public var peakRSSBytes: Int
    public var compute: [Compute]
    /// Classes per stage of the last frame, where the model reports them (SED: candidates, then CER's survivors).
    public var classesPerStage: [Int]?
    /// Sections inside the model (`VOCASEG_PROFILE=1` only; empty otherwise): milliseconds per timed frame.
    public struct Section: Codable, Sendable {
        public var name: String
        public var millisecondsPerFrame: Double
        public var callsPerFrame: Double
    }
    public var profile: [Section] = []
}

public enum BenchJob {
    /// `modelProvider` lets tests and embedders bench a model of their own instead of the CLI's loader.
    public static func run(_ o: BenchOptions,
                           modelProvider: ((SegmentOptions) throws -> SegmentationModel)? = nil) throws -> BenchReport {
        guard o.frames >= 1, o.warmup >= 0 else { throw VocaSegError(.usage, "--frames must be ≥ 1, --warmup ≥ 0") }
        if let t = o.threads { ParallelConfig.setThreads(t) }
        var segment = SegmentOptions()
        segment.model = o.model
        segment.weights = o.weights
        segment.size = o.size
        segment.modelSettings = o.modelSettings
        segment.task = o.task
        segment.sliding.mode = o.mode == "sliding" ? .sliding : .full
        segment.precision = o.precision
        try ModelLoader.validate(segment)
        let vocabulary: Vocabulary
        if let file = o.vocabularyFile {
            vocabulary = try VocabularyLoader.load(classes: nil, file: file)
            for notice in VocabularyLoader.notices(for: vocabulary, file: file) {
                Logger(label: "vocaseg.bench").notice("\(notice)")
            }
        } else {
            guard o.classCount >= 1 else { throw VocaSegError(.usage, "--classes must be at least 1") }
            vocabulary = try Vocabulary(classes: (1...o.classCount).map { .init(synonyms: ["object \($0)"]) })
        }
        var media: MediaSource?
        if let input = o.input { media = try MediaSource(path: input) }

        if o.precision == .bf16, let notice = ReducedPrecisionModel.unavailableNotice() {
            Logger(label: "vocaseg.bench").notice("\(notice)")
        }
        let sgemm = measureSgemmGFLOPS()
        let model = try (modelProvider ?? { try ModelLoader.load(options: $0) })(segment)
        let textStart = DispatchTime.now().uptimeNanoseconds
        try model.prepare(vocabulary: vocabulary)
        let textMs = Double(DispatchTime.now().uptimeNanoseconds - textStart) / 1e6

        let stages: [StageTiming]
        var endToEnd: Double?
        let inferenceTotal: Double
        if let media {
            let (timings, fps) = try runPipeline(media: media, model: model, vocabulary: vocabulary, options: o)
            stages = timings
            endToEnd = fps
            inferenceTotal = timings.first { $0.stage == "inference" }?.totalSeconds ?? 0
        } else {
            let clock = StageClock(warmupSamples: o.warmup)
            let side = o.size ?? 640
            let frame: RGBImage
            if let still = o.stillImage {
                guard let first = try MediaSource(path: still).nextFrame() else {
                    throw VocaSegError(.input, "no picture in the file", path: still)
                }
                frame = first.image
            } else {
                frame = syntheticFrame(width: o.frameSize?.width ?? side, height: o.frameSize?.height ?? side)
            }
            var state: FrameState?
            // Panoptic results go through the tracker as in the pipeline, so its cost is in the figures.
            let tracker = SegmentTracker()
            for i in 0..<(o.warmup + o.frames) {
                if i == o.warmup { _ = SectionProfile.drain() }
                let input = try clock.measure("preprocess") { try model.preprocess(frame) }
                let result = try clock.measure("inference") { try model.segment(input, state: &state) }
                for (name, s) in result.timings.sorted(by: { $0.key < $1.key }) { clock.record("inference.\(name)", seconds: s) }
                if let panoptic = result.panoptic { _ = clock.measure("track") { tracker.update(panoptic) } }
            }
            stages = clock.timings()
            inferenceTotal = stages.first { $0.stage == "inference" }?.totalSeconds ?? 0
        }

        var compute: [BenchReport.Compute] = []
        if let costed = model as? ComputeCostReporting {
            let macs = costed.multiplyAccumulatesPerFrame()
            for (stage, m) in macs.sorted(by: { $0.key < $1.key }) {
                guard let t = stages.first(where: { $0.stage == "inference.\(stage)" || $0.stage == stage }),
                      t.p50Milliseconds > 0 else { continue }
                let gflop = 2 * m / 1e9
                let gflops = gflop / (t.p50Milliseconds / 1000)
                compute.append(.init(stage: stage, gflop: gflop, gflopsAtP50: gflops, fractionOfSgemm: gflops / sgemm))
            }
        }
        let profile = SectionProfile.drain().map {
            BenchReport.Section(name: $0.name, millisecondsPerFrame: $0.seconds * 1000 / Double(o.frames),
                                callsPerFrame: Double($0.calls) / Double(o.frames))
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        var report = BenchReport(
            machine: .init(cpu: cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount,
                           threads: ParallelConfig.threads, blas: BLAS.configuration, sgemmGFLOPS: sgemm),
            settings: .init(model: model.name, task: model.isPanoptic ? "panoptic" : "semantic", randomWeights: model.usesRandomWeights, inputSize: o.size,
                            classes: vocabulary.count, crmK: o.modelSettings["crm-k"].flatMap { Int($0) }, mode: o.mode, input: o.input, still: o.stillImage,
                            frames: o.frames, warmup: o.warmup),
            textEncodeMilliseconds: textMs, stages: stages,
            inferenceFPS: inferenceTotal > 0 ? Double(o.frames) / inferenceTotal : 0, endToEndFPS: endToEnd,
            peakRSSBytes: Int(usage.ru_maxrss) * 1024, compute: compute)
        report.profile = profile
        report.settings.precision = model is ReducedPrecisionModel ? GEMMPrecision.bf16.rawValue : GEMMPrecision.fp32.rawValue
        report.classesPerStage = (model as? ComputeCostReporting)?.classCountsPerStage()
        return report
    }

    /// The real pipeline on the first `warmup + frames` frames of the input, encoding to a scratch file.
    static func runPipeline(media: MediaSource, model: SegmentationModel, vocabulary: Vocabulary, options o: BenchOptions)
        throws -> ([StageTiming], Double)
    {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-bench-\(getpid()).mp4").path
        let sink = try OverlayVideoSink(path: scratch, input: o.input!, info: media.info, crf: 23, preset: "veryfast")
        let renderer = try OverlayRenderer(vocabulary: vocabulary)
        let source = LimitedSource(MediaFrameSource(media), limit: o.warmup + o.frames)
        let pipeline = FramePipeline(source: source, model: model, renderer: OverlayFrameRenderer(renderer),
                                     sinks: [sink], options: .init(warmupFrames: o.warmup))
        // Set on the writer's queue when the last warm-up frame is out, read here after `run` has joined it.
        let warmStart = WarmStartClock()
        pipeline.onFrameWritten = { f in if f.frame.index == o.warmup - 1 { warmStart.mark() } }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let start = DispatchTime.now().uptimeNanoseconds
        let outcome = try pipeline.run()
        let end = DispatchTime.now().uptimeNanoseconds
        let timed = max(outcome.frames - o.warmup, 1)
        let warm = warmStart.value
        let seconds = Double(end - (o.warmup > 0 && warm > 0 ? warm : start)) / 1e9
        return (outcome.timings, Double(timed) / seconds)
    }

    /// A deterministic picture with structure at several scales (gradients, bars, a disc), so that no stage sees
    /// a degenerate constant input.
    static func syntheticFrame(width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let cx = Double(width) / 2, cy = Double(height) / 2, r = Double(min(width, height)) / 2
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                let inDisc = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy) < r * r / 4
                pixels[i] = UInt8((x * 255) / max(width - 1, 1))
                pixels[i + 1] = UInt8((y * 255) / max(height - 1, 1))
                pixels[i + 2] = inDisc ? 230 : UInt8(((x / 16 + y / 16) % 2) * 120)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Best of five 2048×2048×2048 `cblas_sgemm` calls on OpenBLAS's own pool of the engine's thread count: the
    /// machine's GEMM ceiling now (raw OpenBLAS, not our banded `BLAS.sgemm`).
    public static func measureSgemmGFLOPS(n: Int = 2048) -> Double {
        BLAS.measureOpenBLASCeiling(n: n, threads: ParallelConfig.threads)
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let name = line.split(separator: ":", maxSplits: 1).last
        else { return "unknown" }
        return name.trimmingCharacters(in: .whitespaces)
    }

    public static func table(_ r: BenchReport) -> String {
        var lines: [String] = []
        lines.append("machine: \(r.machine.cpu), \(r.machine.cores) cores, \(r.machine.threads) threads, \(r.machine.blas)")
        lines.append(String(format: "sgemm ceiling (2048³, measured now): %.1f GFLOP/s", r.machine.sgemmGFLOPS))
        let s = r.settings
        lines.append("model: \(s.model)\(s.randomWeights ? " (RANDOM WEIGHTS)" : ""), input \(s.inputSize.map(String.init) ?? "default"), \(s.classes) classes, K \(s.crmK.map(String.init) ?? "default"), mode \(s.mode), \(s.frames) frames after \(s.warmup) warm-up" + (s.input.map { ", video \($0)" } ?? s.still.map { ", picture \($0)" } ?? ", synthetic frame"))
        lines.append(String(format: "text encoding (once per vocabulary): %.1f ms", r.textEncodeMilliseconds))
        lines.append("stage                      frames    p50 ms    p95 ms    max ms")
        for t in r.stages {
            lines.append(t.stage.padding(toLength: 26, withPad: " ", startingAt: 0)
                + String(format: " %6d %9.2f %9.2f %9.2f", t.frames, t.p50Milliseconds, t.p95Milliseconds,
                         t.maxMilliseconds))
        }
        for c in r.compute {
            lines.append(c.stage.padding(toLength: 26, withPad: " ", startingAt: 0)
                + String(format: " %.1f GFLOP/frame, %.1f GFLOP/s at p50 = %.0f%% of sgemm", c.gflop, c.gflopsAtP50,
                         c.fractionOfSgemm * 100))
        }
        if let counts = r.classesPerStage {
            lines.append("classes per stage (last frame): " + counts.map(String.init).joined(separator: " → "))
        }
        lines.append(String(format: "inference: %.2f frames/s", r.inferenceFPS))
        if let e = r.endToEndFPS {
            lines.append(String(format: "end to end: %.2f frames/s (%.2f× inference-only)", e, e / max(r.inferenceFPS, 1e-9)))
        }
        lines.append(String(format: "peak RSS: %.0f MiB", Double(r.peakRSSBytes) / 1048576))
        if !r.profile.isEmpty {
            lines.append("profile (VOCASEG_PROFILE=1)     ms/frame  calls/frame")
            for p in r.profile {
                lines.append(p.name.padding(toLength: 30, withPad: " ", startingAt: 0)
                    + String(format: " %9.1f %11.1f", p.millisecondsPerFrame, p.callsPerFrame))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// The uptime at which the pipeline wrote its last warm-up frame (0 until then), shared across queues.
final class WarmStartClock: @unchecked Sendable {
    private let lock = NSLock()
    private var nanoseconds: UInt64 = 0
    func mark() { lock.lock(); nanoseconds = DispatchTime.now().uptimeNanoseconds; lock.unlock() }
    var value: UInt64 { lock.lock(); defer { lock.unlock() }; return nanoseconds }
}

/// Stops after `limit` frames.
final class LimitedSource: FrameSource {
    let inner: FrameSource
    let limit: Int
    private var count = 0
    init(_ inner: FrameSource, limit: Int) {
        self.inner = inner
        self.limit = limit
    }
    func nextFrame() throws -> VideoFrame? {
        guard count < limit, let f = try inner.nextFrame() else { return nil }
        count += 1
        return f
    }
}
