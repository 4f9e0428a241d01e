import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
import VocaSegTestSupport
@testable import VocaSegModels

/// SlidingWindowSegmenter around the tiny ERR-Seg (committed tiny checkpoint, 128 px input).
@Suite(.serialized) struct SlidingSegmenterTests {
    static func tinyModel() throws -> ERRSegModel {
        let model = try ERRSegModel.load(
            checkpointPath: ERRSegGoldens.tinyDirectory.appendingPathComponent("errseg_tiny.pth").path,
            config: try ERRSegGoldens.config(),
            tokenizer: try CLIPTokenizer(vocabularyPath: ERRSegGoldens.tokenizerPath),
            options: ERRSegOptions(resizeMode: .direct))
        try model.prepare(vocabulary: try ERRSegGoldens.vocabulary())
        return model
    }

    /// A frame with some structure (gradients and blocks), seeded.
    static func frame(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let noise = Int(state >> 59)
                let block = ((x / 24) + (y / 24)) % 3
                pixels[(y * width + x) * 3] = UInt8(min(255, x * 255 / width + noise))
                pixels[(y * width + x) * 3 + 1] = UInt8(min(255, y * 255 / height + noise))
                pixels[(y * width + x) * 3 + 2] = UInt8(block * 100 + noise)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    static func run(_ model: SegmentationModel, _ frame: RGBImage) throws -> SegmentationResult {
        var state: FrameState?
        return try model.segment(try model.preprocess(frame), state: &state)
    }

    @Test(arguments: [SlidingWindowOptions.CRMScope.shared, .perWindow])
    func oneWindowWithoutGlobalViewEqualsFullMode(_ crm: SlidingWindowOptions.CRMScope) throws {
        let model = try Self.tinyModel()
        let frame = Self.frame(width: 128, height: 128, seed: 7)
        let full = try Self.run(model, frame)
        let sliding = try SlidingWindowSegmenter(
            model: model, options: SlidingWindowOptions(mode: .sliding, globalView: false, crm: crm))
        let result = try Self.run(sliding, frame)
        #expect(sliding.lastWindowCount == 1)
        #expect(result.selectedClasses == full.selectedClasses)
        let differing = zip(result.labels.labels, full.labels.labels).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(full.labels.labels.count) labels differ from full mode")
        // Sanity: the map is not trivially constant, so the comparison means something.
        #expect(Set(full.labels.labels).count > 1)
    }

    @Test func theGlobalViewChangesTheResult() throws {
        let model = try Self.tinyModel()
        let frame = Self.frame(width: 300, height: 170, seed: 3)
        let without = try Self.run(try SlidingWindowSegmenter(
            model: model, options: SlidingWindowOptions(mode: .sliding, globalView: false)), frame)
        let sliding = try SlidingWindowSegmenter(model: model, options: SlidingWindowOptions(mode: .sliding))
        let with = try Self.run(sliding, frame)
        #expect(sliding.lastWindowCount == 8)  // stride 85; x: 0, 85, 170, 172 (clamped); y: 0, 42 (clamped)
        #expect(with.labels.width == 300 && with.labels.height == 170)
        #expect(with.labels.labels != without.labels.labels)
    }

    @Test func aModelWithoutProbabilityMapsIsAUsageError() throws {
        final class Opaque: SegmentationModel, @unchecked Sendable {
            let name = "opaque"
            let usesRandomWeights = true
            func prepare(vocabulary: Vocabulary) throws {}
            func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
                PreprocessedFrame(channels: 3, width: 1, height: 1, data: [0, 0, 0], originalWidth: 1, originalHeight: 1)
            }
            func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
                SegmentationResult(labels: LabelMap(width: 1, height: 1, labels: [0]))
            }
        }
        do {
            _ = try SlidingWindowOptions(mode: .sliding).wrap(Opaque())
            Issue.record("expected a usage error")
        } catch let e as VocaSegError {
            #expect(e.kind == .usage && e.description.contains("opaque"))
        }
        #expect(try SlidingWindowOptions(mode: .full).wrap(Opaque()) is Opaque)
    }

    /// The first frame of Samples/bench_1080p.mp4 (decoded with the ffmpeg CLI) in sliding mode, window 640
    /// (resized to the tiny model's 128 input), overlap 1/3, global view: 15 windows, a full-size label map.
    @Test func a1080pFrameRunsEndToEnd() throws {
        let sample = repoRoot().appendingPathComponent("Samples/bench_1080p.mp4").path
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("sliding-1080p-\(getpid()).rgb")
        defer { try? FileManager.default.removeItem(at: raw) }
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ffmpeg.arguments = ["ffmpeg", "-v", "error", "-y", "-i", sample, "-frames:v", "1", "-f", "rawvideo",
                            "-pix_fmt", "rgb24", raw.path]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        try #require(ffmpeg.terminationStatus == 0)
        let bytes = [UInt8](try Data(contentsOf: raw))
        try #require(bytes.count == 1920 * 1080 * 3)
        let frame = RGBImage(width: 1920, height: 1080, pixels: bytes)

        let sliding = try SlidingWindowSegmenter(model: try Self.tinyModel(),
                                                 options: SlidingWindowOptions(mode: .sliding, window: 640))
        let result = try Self.run(sliding, frame)
        #expect(sliding.lastWindowCount == 15)
        #expect(result.labels.width == 1920 && result.labels.height == 1080)
        let classes = try #require(result.selectedClasses)
        #expect(Set(result.labels.labels).isSubset(of: Set(classes.map { UInt16($0) })))
        #expect(result.timings["sliding.windows"] != nil && result.timings["backbone"] != nil)
    }
}
