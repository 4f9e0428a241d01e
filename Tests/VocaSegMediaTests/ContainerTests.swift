import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

/// Containers and codecs beyond the committed samples, made in a temp dir from the 640x360 sample or lavfi.
/// Each must give exactly the frames and timestamps ffprobe reports.
@Suite("Containers and codecs")
struct ContainerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var file: String
        var arguments: [String]
        var testDescription: String { file }
    }

    static let clip = Fixture.sample("clip_640x360_aac.mp4")
    static let cases: [Case] = [
        Case(file: "copy.mkv", arguments: ["-i", clip, "-c", "copy"]),
        Case(file: "copy.mov", arguments: ["-i", clip, "-c", "copy"]),
        // Raw Annex B H.264 has no timestamps at all: they are synthesised.
        Case(file: "raw.h264", arguments: ["-i", clip, "-c:v", "copy", "-an"]),
        // AVI stores no presentation timestamps; MPEG-4 Part 2 with B-frames must still come out in order.
        Case(file: "bframes.avi", arguments: ["-i", clip, "-c:v", "mpeg4", "-bf", "2", "-an"]),
        Case(file: "mpeg2.ts", arguments: ["-i", clip, "-c:v", "mpeg2video", "-c:a", "copy"]),
        Case(file: "hevc.mkv", arguments: ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.4",
                                           "-c:v", "libx265", "-x265-params", "log-level=none"]),
        Case(file: "av1.webm", arguments: ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=0.2",
                                           "-c:v", "libaom-av1", "-cpu-used", "8", "-crf", "40"]),
    ]

    @Test("frames and pts equal ffprobe's", arguments: cases)
    func container(_ c: Case) throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(c.file).path
        try Tool.run("ffmpeg", ["-v", "error", "-nostdin"] + c.arguments + [path])
        let source = try MediaSource(path: path)
        let frames = try decodeAll(source)
        let expected = try Tool.probeOptionalFramePTS(path)
        #expect(frames.count > 0)
        #expect(frames.count == expected.count)
        // Where ffprobe has a timestamp ours must equal it; where it has none (raw H.264) ours are synthesised.
        let known = zip(frames, expected).compactMap { frame, pts in pts.map { (frame.pts, $0) } }
        #expect(known.allSatisfy { $0.0 == $0.1 }, "\(frames.map(\.pts)) vs \(expected)")
        // Presentation order: timestamps strictly increase.
        #expect(zip(frames.dropFirst(), frames).allSatisfy { $0.pts > $1.pts })
        #expect(source.stats.corruptPackets == 0)
    }

    @Test("a resolution change midway is scaled back to the first size, with a warning")
    func resolutionChange() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = dir.appendingPathComponent("a.ts").path, second = dir.appendingPathComponent("b.ts").path
        try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.4",
                                "-c:v", "libx264", first])
        try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=0.4",
                                "-c:v", "libx264", "-output_ts_offset", "0.4", second])
        // MPEG-TS files concatenate byte-wise into one stream whose SPS changes the size.
        var joined = try Data(contentsOf: URL(fileURLWithPath: first))
        joined.append(try Data(contentsOf: URL(fileURLWithPath: second)))
        let path = dir.appendingPathComponent("joined.ts").path
        try joined.write(to: URL(fileURLWithPath: path))
        let source = try MediaSource(path: path)
        let frames = try decodeAll(source)
        #expect(frames.count == (try Tool.probeFramePTS(path)).count)
        #expect(frames.count == 20)
        #expect(frames.allSatisfy { $0.image.width == 320 && $0.image.height == 240 })
        #expect(source.stats.warnings.contains { $0.contains("160x120") })
        // Frame 15 is frame 5 of the second part: it equals ffmpeg's decode of that part scaled to 320x240.
        // (ffmpeg restarts its filter graph at a size change, so the reference comes from the part on its own.)
        let reference = try Tool.ffmpegRGB(second, extraArguments: ["--", "-vf", "select=eq(n\\,5),scale=320:240:flags=bicubic",
                                                                     "-frames:v", "1"])
        #expect(meanAbsoluteDifference(frames[15].image.pixels, reference) < 2)
    }
}
