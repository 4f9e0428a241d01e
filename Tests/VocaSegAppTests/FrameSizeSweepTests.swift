import Foundation
import Testing
import VocaSegCore
import VocaSegMedia
import VocaSegModels
@testable import VocaSegApp

/// A stand-in model whose preprocessing is ERR-Seg's own (Pillow-style shortest-edge resize, normalisation,
/// bilinear squash), so that every frame size goes through the same resize code the real model runs; its labels
/// are vertical stripes, one per class, which the overlay then outlines and labels.
final class PreprocessingStripesModel: SegmentationModel, @unchecked Sendable {
    let name = "test-errseg-preprocessing"
    let usesRandomWeights = false
    private var classes = 1
    private let config: ERRSegConfig = {
        var c = ERRSegConfig.base
        c.imageSize = 96  // the squash target; the shortest-edge resize before it still runs at full size
        return c
    }()

    func prepare(vocabulary: Vocabulary) throws { classes = vocabulary.count }

    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        let p = ERRSegModel.preprocess(frame, config: config, resize: .official)
        guard p.data.count == 3 * config.imageSize * config.imageSize, !p.data.contains(where: { !$0.isFinite }) else {
            throw VocaSegError(.internal, "preprocessing of \(frame.width)x\(frame.height) gave a bad tensor")
        }
        return p
    }

    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        let w = input.originalWidth, h = input.originalHeight
        var labels = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { labels[y * w + x] = UInt16((x * classes) / w) } }
        return SegmentationResult(labels: LabelMap(width: w, height: h, labels: labels))
    }
}

/// Every frame width from 2 to 1100, at an even and an odd height, through decode → RGB conversion → ERR-Seg
/// preprocessing → overlay → H.264 encode (issue 12: widths whose RGB row is not a multiple of 16 bytes corrupted
/// the heap). Memory errors only show reliably under AddressSanitizer; CI runs this suite in its ASan pass
/// (`VOCASEG_SIZE_SWEEP=full`). Without that variable a sample of widths runs: every width to 64, then a stride.
/// Not serialized: the two heights run side by side (each in its own folder, with its own job), which halves the
/// wall time of the full sweep, the longest part of CI's sanitizer and heap-checker passes.
@Suite struct FrameSizeSweepTests {
    static var widths: [Int] {
        if ProcessInfo.processInfo.environment["VOCASEG_SIZE_SWEEP"] == "full" { return Array(2...1100) }
        return Array(2...64) + Array(stride(from: 65, through: 1100, by: 37)) + [424, 426, 428, 600, 1100]
    }

    /// A picture with detail in every row and column, so a wrong stride shows up as a wrong pixel.
    static func pattern(width: Int, height: Int, frame: Int) -> RGBImage {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                px[i] = UInt8(truncatingIfNeeded: x * 7 + frame * 13)
                px[i + 1] = UInt8(truncatingIfNeeded: y * 31 + x)
                px[i + 2] = UInt8(truncatingIfNeeded: (x ^ y) * 5)
            }
        }
        return RGBImage(width: width, height: height, pixels: px)
    }

    static func writeInput(_ path: String, width: Int, height: Int, frames: Int = 2) throws {
        // One encoder thread: thousands of tiny encoders, each would otherwise start a thread pool.
        let writer = try VideoWriter(path: path, settings: EncoderSettings(crf: 18, preset: "ultrafast", threadCount: 1),
                                     width: width, height: height, timeBase: (1, 25), frameRate: (25, 1))
        for i in 0..<frames { try writer.write(pattern(width: width, height: height, frame: i), pts: Int64(i), duration: 1) }
        try writer.finish()
    }

    @Test(arguments: [2, 3])
    func everyWidthSurvivesTheWholePipeline(height: Int) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let widths = Self.widths
        var inputs: [String] = []
        for w in widths {
            let path = dir.appendingPathComponent("in_\(w)x\(height).mp4").path
            try Self.writeInput(path, width: w, height: height)
            inputs.append(path)
        }
        // One job over all inputs: the model and renderer are made once, each input gets its own writer.
        let outDir = dir.appendingPathComponent("out")
        var o = SegmentOptions()
        o.inputs = inputs
        o.output = outDir.path
        o.classes = "sky, tree, road"
        o.masksDirectory = dir.appendingPathComponent("masks").path
        o.progress = .never
        o.preset = "ultrafast"
        let reports = try SegmentJob(options: o, modelProvider: { _ in PreprocessingStripesModel() }).run()
        #expect(reports.count == widths.count)
        for (w, report) in zip(widths, reports) {
            #expect(report.frames == 2, "width \(w): \(report.frames) frames")
            let out = try MediaSource(path: report.overlay)
            // The overlay keeps the input's size (4:2:0 output pads odd sizes up to even).
            #expect(out.info.width == w + (w % 2) && out.info.height == height + (height % 2),
                    "width \(w): overlay is \(out.info.width)x\(out.info.height)")
            var decoded = 0
            while try out.nextFrame() != nil { decoded += 1 }
            #expect(decoded == 2, "width \(w): \(decoded) frames decoded from the overlay")
        }
    }

    /// The sizes a user reported crashing (issue 12), as that report made them: ffmpeg's testsrc2 in H.264.
    @Test(arguments: [(424, 240), (426, 240), (428, 240), (600, 240), (426, 320), (426, 480)])
    func reportedSizesFromFFmpeg(width: Int, height: Int) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("w.mp4").path
        let made = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i",
                                               "testsrc2=size=\(width)x\(height):rate=25", "-t", "0.4", "-c:v",
                                               "libx264", "-pix_fmt", "yuv420p", "-y", input])
        try #require(made.status == 0, "\(made.stderr)")
        var o = SegmentOptions()
        o.inputs = [input]
        o.output = dir.appendingPathComponent("out.mp4").path
        o.classes = "person, car, road"
        o.masksDirectory = dir.appendingPathComponent("masks").path
        o.progress = .never
        let reports = try SegmentJob(options: o, modelProvider: { _ in PreprocessingStripesModel() }).run()
        #expect(reports.first?.frames == 10)
        let out = try MediaSource(path: o.output!)
        #expect(out.info.width == width && out.info.height == height)
    }

    /// Still pictures: PNG and JPEG written by `ImageFileWriter` and read back by `MediaSource`, and the swscale
    /// resize of `FrameScaler`, at every width to 300 and odd/even heights.
    @Test func everyWidthOfStillPicturesRoundTrips() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let scaler = FrameScaler(method: .bilinear)
        for w in 1...300 {
            for h in [1, 2, 3] {
                let image = Self.pattern(width: w, height: h, frame: 0)
                let png = dir.appendingPathComponent("p.png").path
                try ImageFileWriter.write(image, to: png)
                let back = try #require(try MediaSource(path: png).nextFrame())
                #expect(back.image.pixels == image.pixels, "PNG \(w)x\(h) does not round-trip")
                let jpg = dir.appendingPathComponent("p.jpg").path
                try ImageFileWriter.write(image, to: jpg)
                let jback = try #require(try MediaSource(path: jpg).nextFrame())
                #expect(jback.image.width == w && jback.image.height == h, "JPEG \(w)x\(h)")
                let up = try scaler.scale(image, width: w + 5, height: h + 2)
                let down = try scaler.scale(up, width: w, height: h)
                #expect(down.width == w && down.height == h)
            }
        }
    }
}
