import Foundation
import VocaSegCore

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

struct ProcessResult {
    var status: Int32
    var stdoutData: Data
    var stderr: String
    var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
}

/// Runs a program to completion, capturing both streams (read concurrently so a chatty child cannot block).
@discardableResult
func run(_ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil)
    throws -> ProcessResult
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try? input.fileHandleForWriting.close()
    // Both pipes are drained at once (a child that fills one pipe's buffer would otherwise block); the group's
    // wait orders the reader thread's write before the read below.
    final class Drained: @unchecked Sendable { var data = Data() }
    let stdoutBox = Drained()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { stdoutBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdoutData: stdoutBox.data,
                         stderr: String(decoding: errData, as: UTF8.self))
}

func ffprobe(_ args: [String]) throws -> String {
    let r = try run("/usr/bin/ffprobe", ["-v", "error"] + args)
    guard r.status == 0 else { throw VocaSegError(.internal, "ffprobe failed: \(r.stderr)") }
    return r.stdout
}

/// Per-frame presentation timestamps of the first video stream, in its time base.
func videoPTS(_ path: String) throws -> [Int64] {
    try ffprobe(["-select_streams", "v:0", "-show_entries", "packet=pts", "-of", "csv=p=0", path])
        .split(whereSeparator: \.isNewline)
        .compactMap { $0.split(separator: ",").first.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }
        .sorted()
}

/// Presentation times in seconds (time bases may differ between input and output containers).
func videoFrameTimes(_ path: String) throws -> [Double] {
    // A frame with side data prints a trailing comma ("0.000000,") and an empty line after it.
    try ffprobe(["-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path])
        .split(whereSeparator: \.isNewline)
        .compactMap { $0.split(separator: ",").first.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
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

func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
