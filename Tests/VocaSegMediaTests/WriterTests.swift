import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

@Suite("Writing video")
struct WriterTests {
    /// Decodes `input` and re-encodes every frame with its own timestamps.
    func transcode(_ input: String, to output: String, settings: EncoderSettings = .init(), copyStreams: Bool = true)
        throws -> (frames: [DecodedFrame], writer: VideoWriter) {
        let source = try MediaSource(path: input)
        let writer = try VideoWriter(path: output, settings: settings, width: source.info.width, height: source.info.height,
                                     timeBase: source.info.timeBase, frameRate: source.info.averageFrameRate,
                                     copyStreamsFrom: copyStreams ? input : nil)
        var frames: [DecodedFrame] = []
        while let frame = try source.nextFrame() {
            try writer.write(frame.image, pts: frame.pts, duration: frame.duration)
            frames.append(frame)
        }
        try writer.finish()
        return (frames, writer)
    }

    @Test("round trip: H.264 yuv420p BT.709, same frames and pts, audio packets bit-identical, decodes cleanly")
    func roundTrip() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = Fixture.sample("clip_640x360_aac.mp4")
        let output = dir.appendingPathComponent("out.mp4").path
        let (frames, writer) = try transcode(input, to: output)
        #expect(writer.warnings.isEmpty)
        let video = try Tool.probeStream(output, "v:0", "codec_name,pix_fmt,width,height,color_space,color_range,color_primaries,color_transfer")
        #expect(video["codec_name"] == "h264")
        #expect(video["pix_fmt"] == "yuv420p")
        #expect(video["width"] == "640" && video["height"] == "360")
        #expect(video["color_space"] == "bt709" && video["color_range"] == "tv")
        #expect(video["color_primaries"] == "bt709" && video["color_transfer"] == "bt709")
        let inputTimes = try Tool.probeFrameTimes(input)
        let outputTimes = try Tool.probeFrameTimes(output)
        #expect(frames.count == inputTimes.count)
        #expect(outputTimes == inputTimes)
        let audioIn = try Tool.packetHashes(input, map: "0:a")
        let audioOut = try Tool.packetHashes(output, map: "0:a")
        #expect(audioIn.count > 100)
        #expect(audioOut == audioIn)
        let check = try Tool.status("ffmpeg", ["-v", "error", "-nostdin", "-i", output, "-f", "null", "-"])
        #expect(check.status == 0 && check.errors.isEmpty)
        // Pictures survive the encode (crf 20 on a simple test pattern): compare the first frame with the input.
        let reencoded = try decodeAll(try MediaSource(path: output))
        #expect(meanAbsoluteDifference(reencoded[0].image.pixels, frames[0].image.pixels) < 3)
        // Nothing but the final file is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.mp4"])
    }

    @Test("variable frame rate survives: output pts equal the input's irregular pts")
    func variableFrameRate() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = Fixture.sample("vfr.mp4")
        let output = dir.appendingPathComponent("vfr.mp4").path
        _ = try transcode(input, to: output)
        let times = try Tool.probeFrameTimes(output)
        #expect(times == (try Tool.probeFrameTimes(input)))
        let steps = Set(zip(times.dropFirst(), times).map { Double($0.num) / Double($0.den) - Double($1.num) / Double($1.den) }
            .map { ($0 * 1000).rounded() })
        #expect(steps.count >= 2)
    }

    @Test("rotated input is written upright (180x320, no rotation metadata)")
    func rotatedIsUpright() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("upright.mkv").path
        _ = try transcode(Fixture.sample("rotated_90.mp4"), to: output)
        let video = try Tool.probeStream(output, "v:0", "width,height")
        #expect(video["width"] == "180" && video["height"] == "320")
        #expect(try Tool.text("ffprobe", ["-v", "error", "-show_entries", "format=format_name", "-of", "default=nw=1:nk=1", output])
            .hasPrefix("matroska"))
    }

    @Test("odd size is padded by one pixel and says so")
    func oddSize() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("odd.mp4").path
        let (frames, writer) = try transcode(Fixture.sample("odd_641x479.mp4"), to: output)
        #expect(writer.encodedWidth == 642 && writer.encodedHeight == 480)
        #expect(writer.warnings.contains { $0.contains("padded to 642x480") })
        let video = try Tool.probeStream(output, "v:0", "width,height")
        #expect(video["width"] == "642" && video["height"] == "480")
        #expect(try Tool.probeFramePTS(output).count == frames.count)
    }

    @Test("missing encoder falls back to MPEG-4 with a warning")
    func encoderFallback() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("fallback.mp4").path
        let (frames, writer) = try transcode(Fixture.sample("vfr.mp4"), to: output,
                                             settings: EncoderSettings(encoderName: "no-such-encoder"))
        #expect(writer.warnings.contains { $0.contains("MPEG-4") })
        #expect(try Tool.probeStream(output, "v:0", "codec_name")["codec_name"] == "mpeg4")
        #expect(try Tool.probeFramePTS(output).count == frames.count)
        // MPEG-4 Part 2 cannot use 1/90000; 1/45000 still holds these timestamps exactly.
        #expect(try Tool.probeFrameTimes(output) == (try Tool.probeFrameTimes(Fixture.sample("vfr.mp4"))))
        #expect(!writer.warnings.contains { $0.contains("rounded") })
    }

    @Test("abort and an unfinished writer leave no file behind")
    func abortLeavesNothing() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frame = RGBImage(width: 64, height: 48, fill: 128)
        do {
            let writer = try VideoWriter(path: dir.appendingPathComponent("a.mp4").path, width: 64, height: 48,
                                         timeBase: (1, 25), frameRate: (25, 1))
            for i in 0..<5 { try writer.write(frame, pts: Int64(i), duration: 1) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).count == 1)  // the hidden temporary
            writer.abort()
        }
        do {
            let writer = try VideoWriter(path: dir.appendingPathComponent("b.mkv").path, width: 64, height: 48,
                                         timeBase: (1, 25), frameRate: (25, 1))
            for i in 0..<5 { try writer.write(frame, pts: Int64(i), duration: 1) }
            // dropped without finish()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("unwritable destinations are usage errors naming the path")
    func unwritable() throws {
        let path = "/nonexistent-vocaseg-dir/out.mp4"
        let error = try #require(throws: VocaSegError.self) {
            _ = try VideoWriter(path: path, width: 64, height: 48, timeBase: (1, 25), frameRate: (25, 1))
        }
        #expect(error.kind == .usage && error.path == path)
        let webm = try #require(throws: VocaSegError.self) {
            _ = try VideoWriter(path: "/tmp/x.webm", width: 64, height: 48, timeBase: (1, 25), frameRate: (25, 1))
        }
        #expect(webm.kind == .usage)
        if getuid() != 0 {
            let dir = try Fixture.temporaryDirectory()
            defer { chmod(dir.path, 0o755); try? FileManager.default.removeItem(at: dir) }
            chmod(dir.path, 0o555)
            let readOnly = try #require(throws: VocaSegError.self) {
                _ = try VideoWriter(path: dir.appendingPathComponent("o.mp4").path, width: 64, height: 48,
                                    timeBase: (1, 25), frameRate: (25, 1))
            }
            #expect(readOnly.kind == .usage)
        }
    }
}

@Suite("Copying subtitles and pixel shape")
struct SubtitleCopyTests {
    /// A clip with audio, a SubRip track and non-square pixels, made in a temp dir.
    func makeInput(in dir: URL) throws -> String {
        let srt = dir.appendingPathComponent("subs.srt").path
        try "1\n00:00:00,200 --> 00:00:01,000\nHello\n\n2\n00:00:01,500 --> 00:00:02,500\nWorld\n"
            .write(toFile: srt, atomically: true, encoding: .utf8)
        let input = dir.appendingPathComponent("in.mkv").path
        try Tool.run("ffmpeg", ["-v", "error", "-i", Fixture.sample("clip_640x360_aac.mp4"), "-i", srt,
                                "-map", "0", "-map", "1", "-c:v", "copy", "-c:a", "copy", "-c:s", "srt",
                                "-aspect", "4:3", "-metadata:s:s:0", "language=fra", input])
        return input
    }

    func transcode(_ input: String, to output: String) throws -> VideoWriter {
        let source = try MediaSource(path: input)
        var settings = EncoderSettings()
        settings.sampleAspectRatio = source.info.sampleAspectRatio
        let writer = try VideoWriter(path: output, settings: settings, width: source.info.width,
                                     height: source.info.height, timeBase: source.info.timeBase,
                                     frameRate: source.info.averageFrameRate, copyStreamsFrom: input)
        while let frame = try source.nextFrame() { try writer.write(frame.image, pts: frame.pts, duration: frame.duration) }
        try writer.finish()
        return writer
    }

    @Test("mkv → mkv: subtitle and audio packets bit-identical, language tag and SAR kept")
    func mkvKeepsSubtitles() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try makeInput(in: dir)
        let output = dir.appendingPathComponent("out.mkv").path
        let writer = try transcode(input, to: output)
        #expect(writer.warnings.isEmpty)
        let subtitlesIn = try Tool.packetHashes(input, map: "0:s")
        #expect(subtitlesIn.count == 2)
        #expect(try Tool.packetHashes(output, map: "0:s") == subtitlesIn)
        #expect(try Tool.packetHashes(output, map: "0:a") == (try Tool.packetHashes(input, map: "0:a")))
        #expect(try Tool.text("ffprobe", ["-v", "error", "-select_streams", "s:0", "-show_entries", "packet=pts_time",
                                          "-of", "csv=p=0", output])
            == (try Tool.text("ffprobe", ["-v", "error", "-select_streams", "s:0", "-show_entries", "packet=pts_time",
                                          "-of", "csv=p=0", input])))
        #expect(try Tool.probeStream(output, "s:0", "codec_name")["codec_name"] == "subrip")
        #expect(try Tool.text("ffprobe", ["-v", "error", "-select_streams", "s:0", "-show_entries", "stream_tags=language",
                                          "-of", "default=nw=1:nk=1", output]).hasPrefix("fra"))
        #expect(try Tool.probeStream(input, "v:0", "sample_aspect_ratio")["sample_aspect_ratio"] == "3:4")
        #expect(try Tool.probeStream(output, "v:0", "sample_aspect_ratio")["sample_aspect_ratio"] == "3:4")
    }

    @Test("mkv → mp4: SubRip cannot go into mp4, so it is left out with a warning; audio still copied")
    func mp4DropsSubRip() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try makeInput(in: dir)
        let output = dir.appendingPathComponent("out.mp4").path
        let writer = try transcode(input, to: output)
        #expect(writer.warnings.contains { $0.contains("subrip") && $0.contains("not copied") }, "\(writer.warnings)")
        #expect(try Tool.packetHashes(output, map: "0:a") == (try Tool.packetHashes(input, map: "0:a")))
        let streams = try Tool.text("ffprobe", ["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", output])
        #expect(streams.split(whereSeparator: \.isNewline) == ["video", "audio"])
    }
}
