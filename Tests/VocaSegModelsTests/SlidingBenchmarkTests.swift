import Foundation
import Testing
import VocaSegCore
import VocaSegModels
import VocaSegTensor
import VocaSegTestSupport

/// Time per 1920×1080 frame (first frame of Samples/bench_1080p.mp4) with ERR-Seg (B, 640, seeded random weights,
/// T = 150, K = 32): full mode against sliding mode (window 640, overlap 1/3) with and without the global view.
/// Opt-in; run one mode per process so that the peak RSS printed is that mode's:
///
///     VOCASEG_SLIDING_BENCH=full|sliding|sliding-noglobal swift test -c release -Xswiftc -enable-testing \
///         --filter SlidingBenchmarkTests
///
/// One warm-up frame in full mode first (pools, page faults), then VOCASEG_BENCH_FRAMES timed frames (default 1).
@Suite struct SlidingBenchmarkTests {
    static var mode: String? { ProcessInfo.processInfo.environment["VOCASEG_SLIDING_BENCH"] }

    static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024  // KiB on Linux
    }

    static func sampleFrame() throws -> RGBImage {
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("sliding-bench-\(getpid()).rgb")
        defer { try? FileManager.default.removeItem(at: raw) }
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ffmpeg.arguments = ["ffmpeg", "-v", "error", "-y", "-i", repoRoot().appendingPathComponent("Samples/bench_1080p.mp4").path,
                            "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", raw.path]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        let bytes = [UInt8](try Data(contentsOf: raw))
        try #require(bytes.count == 1920 * 1080 * 3)
        return RGBImage(width: 1920, height: 1080, pixels: bytes)
    }

    @Test(.enabled(if: SlidingBenchmarkTests.mode != nil)) func frame1080p() throws {
        let env = ProcessInfo.processInfo.environment
        let mode = try #require(Self.mode)
        let frames = Int(env["VOCASEG_BENCH_FRAMES"] ?? "") ?? 1
        ParallelConfig.setThreads(Int(env["VOCASEG_BENCH_THREADS"] ?? "") ?? 2)
        let t = 150, e = 640
        let base = try ERRSegModel.random(config: .base, seed: 1, tokenizer: nil, options: ERRSegOptions(classesKept: 32))
        var rng = SystemRandomNumberGenerator()
        var emb = (0..<(t * e)).map { _ in Float.random(in: -1...1, using: &rng) }
        for r in 0..<t {
            var n: Float = 0
            for j in 0..<e { n += emb[r * e + j] * emb[r * e + j] }
            for j in 0..<e { emb[r * e + j] /= n.squareRoot() }
        }
        base.setTextEmbeddings(Tensor(shape: [t, e], data: emb))
        let frame = try Self.sampleFrame()
        let rssAfterLoad = Self.peakRSSMiB()

        var state: FrameState?
        _ = try base.segment(try base.preprocess(frame), state: &state)  // warm-up
        let model: SegmentationModel
        switch mode {
        case "full": model = base
        case "sliding": model = try SlidingWindowOptions(mode: .sliding, window: 640).wrap(base)
        case "sliding-noglobal": model = try SlidingWindowOptions(mode: .sliding, window: 640, globalView: false).wrap(base)
        default: throw VocaSegError(.usage, "VOCASEG_SLIDING_BENCH must be full, sliding or sliding-noglobal")
        }
        var times: [Double] = []
        var last: SegmentationResult?
        for _ in 0..<frames {
            let t0 = Date()
            let input = try model.preprocess(frame)
            var s: FrameState?
            last = try model.segment(input, state: &s)
            times.append(Date().timeIntervalSince(t0))
        }
        let r = try #require(last)
        #expect(r.labels.width == 1920 && r.labels.height == 1080)
        let windows = (model as? SlidingWindowSegmenter)?.lastWindowCount ?? 1
        let parts = r.timings.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.2f", $0.value))" }
        print("SlidingBench \(mode): \(String(format: "%.2f", times.min()!)) s/frame (best of \(frames)), windows \(windows)"
              + "\(mode == "sliding" ? " + global" : ""), peak RSS \(String(format: "%.0f", Self.peakRSSMiB())) MiB"
              + " (\(String(format: "%.0f", rssAfterLoad)) MiB after loading), [\(parts.joined(separator: ", "))]")
    }
}
