import Foundation
import Testing
import VocaSegCore
@testable import VocaSegApp

/// Every sample through decode → pipeline (with the quadrant test model) → overlay → encode, checked with ffprobe.
@Suite(.serialized) struct EndToEndTests {
    func segment(_ input: String, into dir: URL, output: String, alpha: Double = 0.5, decorations: Bool = true,
                 every: Int = 1) throws -> [InputReport] {
        var o = SegmentOptions()
        o.inputs = [input]
        o.output = dir.appendingPathComponent(output).path
        o.classes = "sky, tree, road, person"
        o.masksDirectory = dir.appendingPathComponent("masks").path
        o.jsonLinesPath = dir.appendingPathComponent("out.jsonl").path
        o.alpha = alpha
        o.outlines = decorations
        o.labels = decorations
        o.legend = decorations
        o.every = every
        o.propagation = .hold  // these tests read the held result back; propagation has its own tests
        o.progress = .never
        return try SegmentJob(options: o, modelProvider: { _ in QuadrantModel() }).run()
    }

    func streamInfo(_ path: String) throws -> [String: String] {
        let text = try ffprobe(["-select_streams", "v:0", "-show_entries",
                                "stream=codec_name,pix_fmt,width,height:stream_side_data=rotation", "-of",
                                "default=nw=1", path])
        var info: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { info[String(parts[0])] = String(parts[1]) }
        }
        return info
    }

    @Test(arguments: ["clip_640x360_aac.mp4", "rotated_90.mp4", "vfr.mp4", "odd_641x479.mp4",
                      "tenbit_yuv420p10.mp4", "hflip.mp4"])
    func videoSampleKeepsEveryFrameAndTimestamp(_ name: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = Repo.sample(name)
        let reports = try segment(input, into: dir, output: "out.mp4")
        let out = dir.appendingPathComponent("out.mp4").path

        // Frame count and per-frame presentation times are those of the input.
        let inTimes = try videoFrameTimes(input)
        let outTimes = try videoFrameTimes(out)
        #expect(reports[0].frames == inTimes.count)
        #expect(outTimes.count == inTimes.count)
        let shift = (outTimes.first ?? 0) - (inTimes.first ?? 0)
        for (a, b) in zip(inTimes, outTimes) { #expect(abs((b - shift) - a) < 0.0015, "pts \(a) → \(b)") }

        // H.264 yuv420p, decodes without a single error.
        let info = try streamInfo(out)
        #expect(info["codec_name"] == "h264")
        #expect(info["pix_fmt"] == "yuv420p")
        let decode = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", out, "-f", "null", "-"])
        #expect(decode.status == 0 && decode.stderr.isEmpty, "decode errors: \(decode.stderr)")

        // Upright output: the output's size is the input's display size and it carries no rotation of its own.
        let inInfo = try streamInfo(input)
        let rotation = abs(Int(Double(inInfo["rotation"] ?? "0") ?? 0)) % 180
        let (w, h) = (Int(inInfo["width"]!)!, Int(inInfo["height"]!)!)
        let (uw, uh) = rotation == 90 ? (h, w) : (w, h)
        // yuv420p needs even sizes: an odd dimension loses at most one pixel.
        #expect(abs(Int(info["width"]!)! - uw) <= 1 && abs(Int(info["height"]!)! - uh) <= 1)
        #expect(info["rotation"] == nil || Int(Double(info["rotation"]!) ?? 0) == 0)

        // Label maps: one per frame; JSON lines: a header plus one line per frame.
        let masks = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("masks").path)
        #expect(masks.filter { $0.hasSuffix(".png") }.count == inTimes.count)
        #expect(masks.contains("classes.json"))
        #expect(!masks.contains { $0.hasPrefix(".") }, "staging leftovers: \(masks)")
        let lines = try String(contentsOfFile: dir.appendingPathComponent("out.jsonl").path, encoding: .utf8)
            .split(whereSeparator: \.isNewline)
        #expect(lines.count == inTimes.count + 1)
        // Nothing but the outputs: no temporaries left in the output directory.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == ["masks", "out.jsonl", "out.mp4"])
    }

    @Test func audioPacketsAreCopiedBitForBit() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = Repo.sample("clip_640x360_aac.mp4")
        _ = try segment(input, into: dir, output: "out.mkv")
        let inHashes = try audioPacketHashes(input)
        #expect(!inHashes.isEmpty)
        #expect(try audioPacketHashes(dir.appendingPathComponent("out.mkv").path) == inHashes)
        _ = try segment(input, into: dir, output: "out.mp4")
        #expect(try audioPacketHashes(dir.appendingPathComponent("out.mp4").path) == inHashes)
    }

    /// With a fully transparent overlay the output is the input picture: compare frame 0 with ffmpeg's own
    /// (autorotated) decode of the rotated sample — same orientation, small coding differences only.
    @Test func rotatedInputComesOutUpright() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = Repo.sample("rotated_90.mp4")
        _ = try segment(input, into: dir, output: "out.mp4", alpha: 0, decorations: false)
        func firstFrameGray(_ path: String, inputOptions: [String] = []) throws -> [UInt8] {
            let r = try run("/usr/bin/ffmpeg", ["-v", "error"] + inputOptions + ["-i", path, "-frames:v", "1",
                            "-vf", "scale=36:64", "-pix_fmt", "gray", "-f", "rawvideo", "-"])
            return [UInt8](r.stdoutData)
        }
        func meanAbsDiff(_ a: [UInt8], _ b: [UInt8]) -> Double {
            Double(zip(a, b).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(max(a.count, 1))
        }
        let reference = try firstFrameGray(input)
        let ours = try firstFrameGray(dir.appendingPathComponent("out.mp4").path)
        try #require(reference.count == 36 * 64 && ours.count == reference.count)
        // The same picture left in its stored (sideways) orientation, squeezed to the same size: what a decoder
        // that ignored the display matrix would give.
        let sideways = try firstFrameGray(input, inputOptions: ["-noautorotate"])
        try #require(sideways.count == reference.count)
        let upright = meanAbsDiff(reference, ours), wrong = meanAbsDiff(sideways, ours)
        #expect(upright < 12, "mean abs difference \(upright) against ffmpeg's upright decode")
        #expect(upright * 3 < wrong, "upright \(upright) vs sideways \(wrong): orientation not distinguishable")
    }

    @Test(arguments: ["still.png", "still.jpg"])
    func imageInGivesImageOut(_ name: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let reports = try segment(Repo.sample(name), into: dir, output: "out.png")
        #expect(reports[0].frames == 1)
        let info = try streamInfo(dir.appendingPathComponent("out.png").path)
        let inInfo = try streamInfo(Repo.sample(name))
        #expect(info["codec_name"] == "png")
        #expect(info["width"] == inInfo["width"] && info["height"] == inInfo["height"])
    }

    @Test(arguments: ["seq/frame_%04d.png", "folder"])
    func imageSequencesBecomeVideos(_ name: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let reports = try segment(Repo.sample(name), into: dir, output: "out.mp4")
        let expected = name == "folder" ? 3 : 5
        #expect(reports[0].frames == expected)
        #expect(try videoFrameTimes(dir.appendingPathComponent("out.mp4").path).count == expected)
    }

    /// The label map PNG holds the class indices the model produced (decoded back with ffmpeg as raw bytes).
    @Test func labelMapsHoldTheModelsClassIndices() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try segment(Repo.sample("clip_640x360_aac.mp4"), into: dir, output: "out.mp4", every: 5)
        let png = dir.appendingPathComponent("masks/000007.png").path
        let info = try streamInfo(png)
        #expect(info["pix_fmt"] == "pal8")
        let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", png, "-f", "rawvideo", "-pix_fmt", "pal8", "-"])
        let bytes = [UInt8](r.stdoutData)
        // pal8 rawvideo is the index plane followed by a 1024-byte palette.
        try #require(bytes.count >= 640 * 360)
        for (x, y) in [(10, 10), (630, 10), (10, 350), (630, 350)] {
            #expect(Int(bytes[y * 640 + x]) == (x * 2 / 640) + 2 * (y * 2 / 360))
        }
        let jsonl = try String(contentsOfFile: dir.appendingPathComponent("out.jsonl").path, encoding: .utf8)
        let lines = jsonl.split(whereSeparator: \.isNewline)
        let header = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(header["vocabulary"] as? [String] == ["sky", "tree", "road", "person"])
        let frame7 = try JSONSerialization.jsonObject(with: Data(lines[8].utf8)) as! [String: Any]
        #expect(frame7["frame"] as? Int == 7)
        #expect(frame7["inferred"] as? Bool == false)
        let classes = frame7["classes"] as! [[String: Any]]
        #expect(classes.map { $0["name"] as! String } == ["sky", "tree", "road", "person"])
        for c in classes { #expect(abs((c["fraction"] as! Double) - 0.25) < 0.01) }
    }
}
