import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

/// Repo paths and command-line helpers (ffprobe/ffmpeg are the reference implementation the tests compare to).
enum Fixture {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static func sample(_ name: String) -> String { repoRoot.appendingPathComponent("Samples").appendingPathComponent(name).path }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-media-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

enum Tool {
    /// Runs a program and returns its stdout; throws when it exits non-zero.
    @discardableResult
    static func run(_ program: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting so a large output cannot fill the pipe and block the child.
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolFailure(message: "\(program) \(arguments.joined(separator: " ")): "
                              + String(decoding: errors, as: UTF8.self))
        }
        return data
    }

    /// Runs a program and returns (exit status, stderr), for checks like "decodes without errors".
    static func status(_ program: String, _ arguments: [String]) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: errors, as: UTF8.self))
    }

    /// Per-packet MD5s of a stream copied out with `-c copy -f framemd5` (the hash column only, so timestamps and
    /// container details do not matter: equal lists mean bit-identical packets).
    static func packetHashes(_ path: String, map: String) throws -> [String] {
        try text("ffmpeg", ["-v", "error", "-nostdin", "-i", path, "-map", map, "-c", "copy", "-f", "framemd5", "-"])
            .split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("#") }
            .compactMap { $0.split(separator: ",").last?.trimmingCharacters(in: .whitespaces) }
    }

    /// Frame timestamps as exact rationals (pts, time base) so that files with different time bases compare.
    static func probeFrameTimes(_ path: String) throws -> [Rational] {
        let tb = try #require(try probeStream(path, "v:0", "time_base")["time_base"]).split(separator: "/").compactMap { Int64($0) }
        return try probeFramePTS(path).map { Rational($0 * tb[0], tb[1]) }
    }

    static func text(_ program: String, _ arguments: [String]) throws -> String {
        String(decoding: try run(program, arguments), as: UTF8.self)
    }

    /// `ffprobe -show_frames` best-effort timestamps of the first video stream.
    static func probeFramePTS(_ path: String) throws -> [Int64] {
        try probeOptionalFramePTS(path).compactMap { $0 }
    }

    /// One entry per frame ffprobe decodes; nil where it has no timestamp (N/A).
    static func probeOptionalFramePTS(_ path: String) throws -> [Int64?] {
        try text("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp",
                             "-of", "csv=p=0", path])
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ", ")) }
            .filter { !$0.isEmpty }
            .map { Int64($0) }
    }

    static func probeStream(_ path: String, _ selector: String, _ entries: String) throws -> [String: String] {
        let out = try text("ffprobe", ["-v", "error", "-select_streams", selector, "-show_entries", "stream=\(entries)",
                                       "-of", "default=nw=1", path])
        var result: [String: String] = [:]
        for line in out.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, result[parts[0]] == nil { result[parts[0]] = parts[1] }
        }
        return result
    }

    /// ffmpeg's own decode of the first video stream to packed RGB24 (autorotated unless told otherwise).
    static func ffmpegRGB(_ path: String, extraArguments: [String] = []) throws -> [UInt8] {
        [UInt8](try run("ffmpeg", ["-v", "error", "-nostdin"] + extraArguments.prefix { $0 != "--" } + ["-i", path]
                    + extraArguments.drop { $0 != "--" }.dropFirst() + ["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
    }
}

struct ToolFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }

func decodeAll(_ source: MediaSource) throws -> [DecodedFrame] {
    var frames: [DecodedFrame] = []
    while let frame = try source.nextFrame() { frames.append(frame) }
    return frames
}

/// Mean absolute difference per byte between two equally sized pictures (infinite when the sizes differ).
func meanAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Double {
    guard a.count == b.count else { return .infinity }
    var total = 0
    for i in 0..<a.count { total += abs(Int(a[i]) - Int(b[i])) }
    return Double(total) / Double(max(a.count, 1))
}

/// An exact fraction for comparing timestamps across time bases.
struct Rational: Equatable, CustomStringConvertible {
    var num: Int64, den: Int64
    init(_ num: Int64, _ den: Int64) { self.num = num; self.den = den }
    static func == (a: Rational, b: Rational) -> Bool { a.num * b.den == b.num * a.den }
    var description: String { "\(num)/\(den)" }
}
