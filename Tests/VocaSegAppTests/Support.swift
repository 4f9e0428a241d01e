import Foundation
import VocaSegCore
// Processes, ffprobe and temporary folders, shared with the farm tests.
@_exported import VocaSegTestSupport

/// Deterministic stand-in model for end-to-end tests (the shipping CLI never uses it): the frame is split into a
/// 2×2 grid and each quadrant gets one class, so the label map is known exactly for any frame size.
final class QuadrantModel: SegmentationModel, @unchecked Sendable {
    let name = "test-quadrants"
    let usesRandomWeights = false
    private var classes = 1

    func prepare(vocabulary: Vocabulary) throws { classes = vocabulary.count }

    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        PreprocessedFrame(channels: 1, width: 1, height: 1, data: [0], originalWidth: frame.width,
                          originalHeight: frame.height)
    }

    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        let w = input.originalWidth, h = input.originalHeight
        var labels = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let quadrant = (x * 2 / w) + 2 * (y * 2 / h)
                labels[y * w + x] = UInt16(quadrant % classes)
            }
        }
        return SegmentationResult(labels: LabelMap(width: w, height: h, labels: labels))
    }
}

enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func sample(_ name: String) -> String { root.appendingPathComponent("Samples/\(name)").path }

    /// The `vocaseg` executable built next to the test bundle.
    static var cli: String {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("vocaseg").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/vocaseg").path
    }
}

/// Per-frame presentation timestamps of the first video stream, in its time base.
func videoPTS(_ path: String) throws -> [Int64] {
    try ffprobe(["-select_streams", "v:0", "-show_entries", "packet=pts", "-of", "csv=p=0", path])
        .split(whereSeparator: \.isNewline)
        .compactMap { $0.split(separator: ",").first.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }
        .sorted()
}

/// One hash per audio packet payload, from ffmpeg's framemd5 muxer over a stream copy: equal lists mean the
/// packets are bit-identical. (Columns: stream, dts, pts, duration, size, hash[, side-data count, size, hash].)
func audioPacketHashes(_ path: String) throws -> [String] {
    let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", path, "-map", "0:a:0", "-c", "copy", "-f", "framemd5", "-"])
    guard r.status == 0 else { throw VocaSegError(.internal, "ffmpeg framemd5 failed: \(r.stderr)") }
    return r.stdout.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("#") }
        .compactMap { line -> String? in
            let fields = line.split(separator: ",")
            return fields.count > 5 ? fields[5].trimmingCharacters(in: .whitespaces) : nil
        }
}

