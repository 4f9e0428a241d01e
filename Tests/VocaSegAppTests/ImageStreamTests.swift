import Foundation
import Testing
import VocaSegCore
import VocaSegMedia
@testable import VocaSegApp

/// Image streams in and out: numbered sequences written for any input, picture streams (several PNG/JPEG frames
/// in one stream) told apart from one picture, folders as one video, standard output piped into ffprobe.
@Suite(.serialized) struct ImageStreamTests {
    func options(_ input: String, output: String?) -> SegmentOptions {
        var o = SegmentOptions()
        o.inputs = [input]
        o.output = output
        o.classes = "sky, tree, road, person"
        o.progress = .never
        return o
    }

    func segment(_ o: SegmentOptions) throws -> [InputReport] {
        try SegmentJob(options: o, modelProvider: { _ in QuadrantModel() }).run()
    }

    /// `ffmpeg … -f image2pipe -c:v CODEC` as bytes: several pictures back to back, as a pipe would carry them.
    func pictureStream(frames: Int, codec: String, size: String = "96x64") throws -> Data {
        let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=25",
                                            "-frames:v", "\(frames)", "-f", "image2pipe", "-c:v", codec, "-"])
        try #require(r.status == 0, "ffmpeg: \(r.stderr)")
        return r.stdoutData
    }

    func pictureSize(_ path: String) throws -> (Int, Int) {
        let frame = try #require(try MediaSource(path: path).nextFrame(), "\(path) holds no picture")
        return (frame.image.width, frame.image.height)
    }

    // MARK: Numbered sequences out

    @Test func sequencePatternsExpandAsPrintfDoes() throws {
        #expect(try SequencePattern("out/seq_%06d.png").path(for: 7) == "out/seq_000007.png")
        #expect(try SequencePattern("f%d.jpg").path(for: 123) == "f123.jpg")
        #expect(try SequencePattern("f%4d.jpg").path(for: 12) == "f  12.jpg")
        #expect(try SequencePattern("100%%_%03d.png").path(for: 5) == "100%_005.png")
        #expect(try SequencePattern("a/b/shot-%02d.png").path(for: 1234) == "a/b/shot-1234.png")
        #expect(try SequencePattern("out/seq_%06d.png").baseName == "out/seq")
        for bad in ["a_%d_%d.png", "a_%s.png", "a_%%.png", "%d/a.png"] {
            #expect(throws: VocaSegError.self, "\(bad)") { try SequencePattern(bad) }
        }
    }

    /// A video into `name_%06d.png` and `.jpg`: one picture per frame, numbered from 1 as ffmpeg numbers them (or
    /// from --start-number), each at the video's size, and label maps beside them named after the pattern.
    @Test(arguments: ["png", "jpg"])
    func aVideoBecomesANumberedSequence(_ ext: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pattern = dir.appendingPathComponent("frames/seq_%06d.\(ext)").path
        var o = options(Repo.sample("odd_641x479.mp4"), output: pattern)
        o.masksBesideOverlay = true
        if ext == "jpg" { o.startNumber = 0 }
        let reports = try segment(o)
        let frames = reports[0].frames
        #expect(frames >= 2)
        let first = ext == "jpg" ? 0 : 1
        let expected = (first..<(first + frames)).map { String(format: "seq_%06d.\(ext)", $0) }
        let listed = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("frames").path)
        #expect(listed.filter { $0.hasSuffix(ext) }.sorted() == expected)
        #expect(listed.allSatisfy { !$0.hasPrefix(".") }, "staging left behind: \(listed)")
        for name in expected {
            let (w, h) = try pictureSize(dir.appendingPathComponent("frames/\(name)").path)
            #expect(w == 641 && h == 479, "\(name) is \(w)x\(h)")
        }
        let masks = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("frames/seq.masks").path)
        #expect(masks.filter { $0.hasSuffix(".png") }.count == frames)
    }

    /// A folder of pictures of different sizes into a sequence: numbered in the folder's order, each at its size.
    @Test func aFolderBecomesASequenceWithEachPictureAtItsSize() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (folder, sizes) = try OutputRobustnessTests().makePhotoFolder(in: dir)
        let reports = try segment(options(folder.path, output: dir.appendingPathComponent("o_%d.png").path))
        #expect(reports[0].frames == 3)
        for (number, name) in ["beach.png", "city.jpg", "forest.png"].enumerated() {
            let (w, h) = try pictureSize(dir.appendingPathComponent("o_\(number + 1).png").path)
            #expect(w == sizes[name]!.0 && h == sizes[name]!.1, "o_\(number + 1).png")
        }
    }

    @Test func aFolderWithAsVideoGivesOneVideoAtTheGivenRate() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = options(Repo.sample("folder"), output: dir.path + "/")
        o.asVideo = true
        o.fps = (10, 1)
        let reports = try segment(o)
        #expect(reports[0].overlay.hasSuffix("folder.vocaseg.mp4"))
        let times = try videoFrameTimes(reports[0].overlay)
        #expect(times.count == 3)
        #expect(zip(times, [0.0, 0.1, 0.2]).allSatisfy { abs($0 - $1) < 1e-6 }, "\(times)")
    }

    @Test func badPatternsAndSeveralInputsIntoOnePatternAreUsageErrors() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(SegmentOptions, String)] = [
            (options(Repo.sample("vfr.mp4"), output: dir.appendingPathComponent("a_%04d.mp4").path), "png or .jpg"),
            (options(Repo.sample("vfr.mp4"), output: dir.appendingPathComponent("a_%04d_%d.png").path), "exactly one"),
            ({ var o = options(Repo.sample("vfr.mp4"), output: dir.appendingPathComponent("a_%04d.png").path)
               o.inputs.append(Repo.sample("still.png")); return o }(), "takes one input"),
        ]
        for (o, message) in cases {
            #expect(performing: { try segment(o) }, throws: { error in
                guard let e = error as? VocaSegError else { return false }
                return e.kind == .usage && e.description.contains(message)
            })
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    // MARK: Picture streams in

    /// Several PNG or JPEG pictures in one stream (what `image2pipe` writes) are a stream of frames: refused as
    /// one picture, written as a video with every frame, or as a sequence.
    @Test(arguments: ["png", "mjpeg"])
    func aPictureStreamIsNeverSilentlyOnePicture(_ codec: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // No extension, so that FFmpeg probes the content as it does on a pipe (png_pipe / jpeg_pipe). A `.jpg` name
        // would choose the image2 demuxer, which reads a whole file as one picture, in ffmpeg as here.
        let input = dir.appendingPathComponent("stream-\(codec)")
        try pictureStream(frames: 4, codec: codec).write(to: input)
        #expect(performing: { try segment(options(input.path, output: dir.appendingPathComponent("one.png").path)) },
                throws: { error in
                    guard let e = error as? VocaSegError else { return false }
                    return e.kind == .usage && e.description.contains("several frames")
                })
        let video = dir.appendingPathComponent("all.mp4").path
        var o = options(input.path, output: video)
        o.fps = (5, 1)
        let reports = try segment(o)
        #expect(reports[0].frames == 4)
        let times = try videoFrameTimes(video)
        #expect(times.count == 4)
        #expect(zip(times, [0.0, 0.2, 0.4, 0.6]).allSatisfy { abs($0 - $1) < 1e-6 }, "\(times)")

        // One picture stays one picture.
        let single = dir.appendingPathComponent("single.png")
        try pictureStream(frames: 1, codec: "png").write(to: single)
        let one = try segment(options(single.path, output: dir.appendingPathComponent("single-out.png").path))
        #expect(one[0].frames == 1)
        #expect(try pictureSize(dir.appendingPathComponent("single-out.png").path) == (96, 64))
    }

    /// The CLI with stdin: MJPEG and PNG frames piped in become a video with every frame, or a sequence.
    @Test(arguments: ["mjpeg", "png"])
    func pipedPicturesOnStdinBecomeAVideoOrASequence(_ codec: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frames = try pictureStream(frames: 3, codec: codec)
        let common = ["--weights", "random", "--size", "32", "--classes", "a, b", "--progress", "never", "-q"]
        let video = dir.appendingPathComponent("piped.mp4").path
        let r = try run(Repo.cli, ["segment", "-", "-o", video] + common, stdin: frames)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try videoFrameTimes(video).count == 3)
        let pattern = dir.appendingPathComponent("p_%03d.png").path
        let s = try run(Repo.cli, ["segment", "-", "-o", pattern, "--jsonl", dir.appendingPathComponent("p.jsonl").path]
                        + common, stdin: frames)
        #expect(s.status == 0, "\(s.stderr)")
        for n in 1...3 { #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(String(format: "p_%03d.png", n)).path)) }
        let lines = try String(contentsOfFile: dir.appendingPathComponent("p.jsonl").path, encoding: .utf8)
            .split(whereSeparator: \.isNewline)
        #expect(lines.count == 4, "header + 3 frames")
        let refused = try run(Repo.cli, ["segment", "-", "-o", dir.appendingPathComponent("one.png").path] + common,
                              stdin: frames)
        #expect(refused.status == 2 && refused.stderr.contains("several frames"), "\(refused.stderr)")
    }

    // MARK: Standard output

    /// `-o - --format F` piped straight into ffprobe: every frame arrives, in the codec the format implies, and
    /// nothing but the stream is on stdout (logs and the summary go to stderr).
    @Test(arguments: [("nut", "h264"), ("mp4", "h264"), ("y4m", "rawvideo"), ("mjpeg", "mjpeg")])
    func standardOutputPipesIntoFFprobe(_ format: String, _ codec: String) throws {
        let input = Repo.sample("clip_640x360_aac.mp4")
        let script = """
            set -o pipefail
            "$0" segment "$1" -o - --format "$2" --weights random --size 32 --classes "a, b" \
              --progress never 2>"$3" \
            | ffprobe -v error -count_frames -select_streams v:0 \
              -show_entries stream=codec_name,nb_read_frames,width,height -of default=nw=1 -
            """
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Three frames of the clip, so that the debug build's random-weight model stays quick.
        let short = dir.appendingPathComponent("short.mp4").path
        let cut = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", input, "-frames:v", "3", "-c:v", "libx264",
                                              "-c:a", "copy", short])
        try #require(cut.status == 0, "\(cut.stderr)")
        let log = dir.appendingPathComponent("stderr.txt").path
        let r = try run("/bin/bash", ["-c", script, Repo.cli, short, format, log])
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(r.status == 0, "\(r.stderr) / vocaseg: \(stderr)")
        #expect(r.stdout.contains("codec_name=\(codec)"), "\(r.stdout)")
        #expect(r.stdout.contains("width=640") && r.stdout.contains("height=360"), "\(r.stdout)")
        #expect(r.stdout.contains("nb_read_frames=3"), "\(r.stdout)")
        #expect(stderr.contains("→ standard output"), "the summary goes to stderr: \(stderr)")
    }

    @Test func standardOutputIsRefusedForSeveralInputsAndFormatNeedsIt() throws {
        var several = options(Repo.sample("vfr.mp4"), output: "-")
        several.inputs.append(Repo.sample("still.png"))
        var formatWithoutStdout = options(Repo.sample("vfr.mp4"), output: "x.mp4")
        formatWithoutStdout.streamFormat = "nut"
        var unknownFormat = options(Repo.sample("vfr.mp4"), output: "-")
        unknownFormat.streamFormat = "avi"
        for (o, message) in [(several, "takes one input"), (formatWithoutStdout, "use it with -o -"),
                             (unknownFormat, "--format must be one of")] {
            #expect(performing: { try segment(o) }, throws: { error in
                guard let e = error as? VocaSegError else { return false }
                return e.kind == .usage && e.description.contains(message)
            })
        }
    }
}
