import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

@Suite("Decoding the samples")
struct DecodeTests {
    static let videoSamples = ["clip_640x360_aac.mp4", "rotated_90.mp4", "hflip.mp4", "vfr.mp4", "odd_641x479.mp4",
                               "tenbit_yuv420p10.mp4", "bench_1080p.mp4"]

    @Test("frame count and every pts equal ffprobe -show_frames", arguments: videoSamples)
    func framesMatchFFprobe(name: String) throws {
        let path = Fixture.sample(name)
        let source = try MediaSource(path: path)
        let frames = try decodeAll(source)
        let expected = try Tool.probeFramePTS(path)
        #expect(expected.count > 0)
        #expect(frames.count == expected.count)
        #expect(frames.map(\.pts) == expected)
        #expect(frames.map(\.index) == Array(0..<frames.count))
        #expect(source.stats.corruptPackets == 0)
        #expect(source.stats.truncated == false)
        let probed = try Tool.probeStream(path, "v:0", "time_base")
        let tb = try #require(probed["time_base"]).split(separator: "/").compactMap { Int32($0) }
        #expect(frames.allSatisfy { $0.timeBase.num == tb[0] && $0.timeBase.den == tb[1] })
    }

    @Test("640x360 clip: info and pixels close to ffmpeg's own RGB decode")
    func plainClip() throws {
        let path = Fixture.sample("clip_640x360_aac.mp4")
        let source = try MediaSource(path: path)
        #expect(source.info.width == 640 && source.info.height == 360)
        #expect(source.info.codecName == "h264" && source.info.pixelFormatName == "yuv420p")
        #expect(source.info.audioStreamCount == 1 && source.info.subtitleStreamCount == 0)
        #expect(source.info.rotationDegrees == 0)
        #expect(source.info.averageFrameRate.num == 25 && source.info.averageFrameRate.den == 1)
        #expect(source.info.estimatedFrameCount == 75)
        let first = try #require(try source.nextFrame())
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["--", "-frames:v", "1"])
        #expect(first.image.pixels.count == reference.count)
        // Same swscale, same matrix; only chroma interpolation flags may differ slightly.
        #expect(meanAbsoluteDifference(first.image.pixels, reference) < 1.5)
    }

    @Test("rotation metadata: upright size and pixels equal ffmpeg's autorotated decode")
    func rotated() throws {
        let path = Fixture.sample("rotated_90.mp4")
        let source = try MediaSource(path: path)
        #expect(source.info.codedWidth == 320 && source.info.codedHeight == 180)
        #expect(source.info.width == 180 && source.info.height == 320)
        #expect(source.info.rotationDegrees == -90)
        let frame = try #require(try source.nextFrame())
        #expect(frame.image.width == 180 && frame.image.height == 320)
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["--", "-frames:v", "1"])
        #expect(meanAbsoluteDifference(frame.image.pixels, reference) < 1.5)
        // Orientation by content: smptebars' bottom-left corner holds the dark blue/white/purple strip and its
        // top-left the grey bar; rotated 90° clockwise, the coded top-left lands at the top-right.
        let unrotated = try Tool.ffmpegRGB(path, extraArguments: ["-noautorotate", "--", "-frames:v", "1"])
        func pixel(_ p: [UInt8], _ w: Int, _ x: Int, _ y: Int) -> [Int] { (0..<3).map { Int(p[(y * w + x) * 3 + $0]) } }
        let codedTopLeft = pixel(unrotated, 320, 2, 2)
        let displayTopRight = pixel(frame.image.pixels, 180, 177, 2)
        #expect(zip(codedTopLeft, displayTopRight).allSatisfy { abs($0 - $1) <= 6 })
    }

    @Test("mirror matrix: pixels equal ffmpeg's decode with an explicit hflip")
    func mirrored() throws {
        let path = Fixture.sample("hflip.mp4")
        let source = try MediaSource(path: path)
        #expect(source.info.isMirrored && source.info.rotationDegrees == 0)
        #expect(source.info.width == 320 && source.info.height == 180)
        let frame = try #require(try source.nextFrame())
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["-noautorotate", "--", "-frames:v", "1", "-vf", "hflip"])
        #expect(meanAbsoluteDifference(frame.image.pixels, reference) < 1.5)
    }

    @Test("10-bit H.264 decodes to RGB close to ffmpeg's")
    func tenBit() throws {
        let path = Fixture.sample("tenbit_yuv420p10.mp4")
        let source = try MediaSource(path: path)
        #expect(source.info.pixelFormatName == "yuv420p10le")
        let frame = try #require(try source.nextFrame())
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["--", "-frames:v", "1"])
        #expect(meanAbsoluteDifference(frame.image.pixels, reference) < 1.5)
    }

    @Test("odd size 641x479 (4:4:4) keeps its size")
    func oddSize() throws {
        let path = Fixture.sample("odd_641x479.mp4")
        let source = try MediaSource(path: path)
        #expect(source.info.width == 641 && source.info.height == 479)
        let frame = try #require(try source.nextFrame())
        #expect(frame.image.width == 641 && frame.image.height == 479)
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["--", "-frames:v", "1"])
        #expect(meanAbsoluteDifference(frame.image.pixels, reference) < 1.5)
    }

    @Test("VFR sample keeps its irregular pts")
    func variableFrameRate() throws {
        let frames = try decodeAll(try MediaSource(path: Fixture.sample("vfr.mp4")))
        let steps = Set(zip(frames.dropFirst(), frames).map { $0.pts - $1.pts })
        #expect(steps.count >= 2)
        #expect(frames.count == 30)
    }

    @Test("still images: png and jpg are one-frame inputs equal to ffmpeg's decode", arguments: ["still.png", "still.jpg"])
    func stills(name: String) throws {
        let path = Fixture.sample(name)
        let source = try MediaSource(path: path)
        #expect(source.info.isStillImage && !source.info.isImageSequence)
        #expect(source.info.estimatedFrameCount == 1, "\(String(describing: source.info.estimatedFrameCount))")
        let frames = try decodeAll(source)
        #expect(frames.count == 1)
        let frame = try #require(frames.first)
        #expect(frame.image.width == 320 && frame.image.height == 240)
        let reference = try Tool.ffmpegRGB(path)
        #expect(meanAbsoluteDifference(frame.image.pixels, reference) < 1.5)
    }

    @Test("image2 pattern: five frames in number order")
    func sequencePattern() throws {
        let source = try MediaSource(path: Fixture.sample("seq/frame_%04d.png"))
        #expect(source.info.isImageSequence && !source.info.isStillImage)
        #expect(source.info.estimatedFrameCount == 5)
        let frames = try decodeAll(source)
        #expect(frames.count == 5)
        #expect(frames.map(\.pts) == [0, 1, 2, 3, 4])
        let third = try Tool.ffmpegRGB(Fixture.sample("seq/frame_0003.png"))
        #expect(frames[2].image.pixels == third)
    }

    @Test("folder of images: natural order img1, img2, img10")
    func folderOrder() throws {
        let source = try MediaSource(path: Fixture.sample("folder"))
        #expect(source.info.isImageSequence && source.info.estimatedFrameCount == 3)
        let frames = try decodeAll(source)
        #expect(frames.map(\.pts) == [0, 1, 2])
        // Each picture is a flat grey whose level rises with its natural position.
        let expected = try ["img1.png", "img2.png", "img10.png"].map { try Tool.ffmpegRGB(Fixture.sample("folder/" + $0)) }
        #expect(frames.map(\.image.pixels) == expected)
        #expect(frames[0].image.pixels[0] < frames[1].image.pixels[0] && frames[1].image.pixels[0] < frames[2].image.pixels[0])
    }

    @Test("file: URLs and FFmpeg protocols are accepted; a URL that cannot be reached is an input error")
    func urls() throws {
        let path = Fixture.sample("vfr.mp4")
        #expect(try decodeAll(try MediaSource(path: "file:" + path)).count == 30)
        #expect(try decodeAll(try MediaSource(path: "file://" + path)).count == 30)
        let missing = try #require(throws: VocaSegError.self) { _ = try MediaSource(path: "file:///nonexistent/x.mp4") }
        #expect(missing.kind == .input && missing.message.contains("no such file"))
        // Nothing listens on port 9 (discard) of localhost: the connection is refused at once.
        let unreachable = try #require(throws: VocaSegError.self) { _ = try MediaSource(path: "http://127.0.0.1:9/x.mp4") }
        #expect(unreachable.kind == .input && unreachable.path == "http://127.0.0.1:9/x.mp4")
    }

    @Test("natural order comparator")
    func naturalOrder() {
        let names = ["img10.png", "img2.png", "IMG1.png", "img02.png", "a.png"]
        #expect(names.sorted(by: NaturalOrder.precedes) == ["a.png", "IMG1.png", "img2.png", "img02.png", "img10.png"])
    }

    @Test("stdin: '-' reads a pipe (Matroska streams; an mp4 with its index at the end cannot, and says so)")
    func stdinPipe() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mkv = dir.appendingPathComponent("clip.mkv").path
        try Tool.run("ffmpeg", ["-v", "error", "-i", Fixture.sample("clip_640x360_aac.mp4"), "-c", "copy", mkv])
        func decodeFromStdin(_ file: String) throws -> (frames: [DecodedFrame], stats: DecodeStats) {
            // Swap our stdin for the file for the duration of the open+decode.
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
            let saved = dup(0)
            dup2(handle.fileDescriptor, 0)
            defer { dup2(saved, 0); close(saved) }
            let source = try MediaSource(path: "-")
            return (try decodeAll(source), source.stats)
        }
        let piped = try decodeFromStdin(mkv)
        #expect(piped.frames.count == 75)
        #expect(piped.frames.map(\.pts) == (try Tool.probeFramePTS(mkv)))
        let mp4 = try decodeFromStdin(Fixture.sample("clip_640x360_aac.mp4"))
        #expect(mp4.frames.isEmpty)
        #expect(mp4.stats.truncated)
        #expect(!mp4.stats.warnings.isEmpty)
    }
}
