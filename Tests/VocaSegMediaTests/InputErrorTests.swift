import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

@Suite("Bad inputs")
struct InputErrorTests {
    func openError(_ path: String) throws -> VocaSegError {
        try #require(throws: VocaSegError.self) { _ = try MediaSource(path: path) }
    }

    @Test("nonexistent file")
    func nonexistent() throws {
        let path = "/nonexistent/clip.mp4"
        let error = try openError(path)
        #expect(error.kind == .input && error.path == path)
        #expect(error.message.contains("no such file"))
        #expect(error.description.hasPrefix(path + ": "))
    }

    @Test("zero-byte file, text file named .mp4, audio-only file")
    func notVideo() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.mp4").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        let emptyError = try openError(empty)
        #expect(emptyError.kind == .input && emptyError.path == empty && emptyError.message.contains("empty"))

        let text = dir.appendingPathComponent("notes.mp4").path
        try "these are my notes, not a video\n".write(toFile: text, atomically: true, encoding: .utf8)
        let textError = try openError(text)
        #expect(textError.kind == .input && textError.path == text)
        #expect(textError.message.contains("not a media file"))

        let audio = dir.appendingPathComponent("tone.m4a").path
        try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", audio])
        let audioError = try openError(audio)
        #expect(audioError.kind == .input && audioError.path == audio)
        #expect(audioError.message.contains("no video stream (1 audio"))
        #expect(!audioError.description.contains("\n"))

        let withCover = dir.appendingPathComponent("song.m4a").path
        try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=duration=0.5", "-i", Fixture.sample("still.png"),
                                "-map", "0", "-map", "1", "-c:a", "aac", "-c:v", "mjpeg", "-disposition:v", "attached_pic",
                                withCover])
        let coverError = try openError(withCover)
        #expect(coverError.kind == .input && coverError.message.contains("cover art"), "\(coverError)")
    }

    @Test("image sequence pattern in a missing folder; empty folder")
    func sequences() throws {
        let pattern = "/nonexistent-dir/frame_%04d.png"
        #expect(try openError(pattern).kind == .input)
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let error = try openError(dir.path)
        #expect(error.kind == .input && error.message.contains("no images"))
    }

    @Test("truncated mp4 (index at the end, cut in half) is an input error naming the file")
    func truncatedWithoutIndex() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixture.sample("clip_640x360_aac.mp4")))
        let cut = dir.appendingPathComponent("cut.mp4").path
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
        let error = try openError(cut)
        #expect(error.kind == .input && error.path == cut)
    }

    @Test("truncated mp4 with its index first: every decodable frame comes out and stats say truncated")
    func truncatedWithIndex() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fast = dir.appendingPathComponent("fast.mp4").path
        try Tool.run("ffmpeg", ["-v", "error", "-i", Fixture.sample("clip_640x360_aac.mp4"), "-c", "copy",
                                "-movflags", "+faststart", fast])
        let data = try Data(contentsOf: URL(fileURLWithPath: fast))
        let cut = dir.appendingPathComponent("cut.mp4").path
        try data.prefix(data.count * 6 / 10).write(to: URL(fileURLWithPath: cut))
        let source = try MediaSource(path: cut)
        let frames = try decodeAll(source)
        #expect(frames.count > 10 && frames.count < 75)
        #expect(source.stats.truncated)
        #expect(source.stats.warnings.contains { $0.contains("cut.mp4") })
        // As many frames as ffmpeg itself gets out of the cut file.
        let ffprobeCount = try Tool.probeFramePTS(cut).count
        #expect(frames.count == ffprobeCount)
    }

    @Test("corrupt packets are skipped and counted, decoding goes on")
    func corruptPackets() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Matroska has no sample index to cross-check, so garbage inside the payload reaches the decoder.
        let mkv = dir.appendingPathComponent("clip.mkv").path
        try Tool.run("ffmpeg", ["-v", "error", "-i", Fixture.sample("clip_640x360_aac.mp4"), "-an", "-c", "copy", mkv])
        var data = try Data(contentsOf: URL(fileURLWithPath: mkv))
        // Overwrite stretches in the middle of the file with a fixed pseudo-random pattern.
        var state: UInt32 = 12345
        for start in stride(from: data.count / 3, to: data.count * 2 / 3, by: data.count / 12) {
            for i in start..<min(start + 400, data.count) {
                state = state &* 1_103_515_245 &+ 12345
                data[i] = UInt8(truncatingIfNeeded: state >> 16)
            }
        }
        let damaged = dir.appendingPathComponent("damaged.mkv").path
        try data.write(to: URL(fileURLWithPath: damaged))
        let source = try MediaSource(path: damaged)
        let frames = try decodeAll(source)
        #expect(frames.count > 30)
        #expect(source.stats.corruptPackets + source.stats.corruptFrames > 0)
    }
}
