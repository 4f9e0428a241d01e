import Foundation
import Testing
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline
import VocaSegTestSupport
@testable import VocaSegApp
@testable import VocaSegModels  // SplitMix64, the generator of the random weights

/// A stand-in semantic model whose ground truth is exact: each pixel's class is read off its colour (red and green
/// channels above or below mid-grey: four classes). Per-frame inference is then the truth for every frame.
final class ColourCodeModel: SegmentationModel, @unchecked Sendable {
    let name = "test-colour-code"
    let usesRandomWeights = false
    func prepare(vocabulary: Vocabulary) throws {}
    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        PreprocessedFrame(channels: 3, width: frame.width, height: frame.height,
                          data: frame.pixels.map(Float.init), originalWidth: frame.width, originalHeight: frame.height)
    }
    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        let n = input.width * input.height
        var labels = [UInt16](repeating: 0, count: n)
        for i in 0..<n {
            labels[i] = (input.data[i * 3] > 128 ? 1 : 0) + (input.data[i * 3 + 1] > 128 ? 2 : 0)
        }
        return SegmentationResult(labels: LabelMap(width: input.width, height: input.height, labels: labels))
    }
}

/// Collects every frame's result in order.
final class CollectingSink: FrameSink {
    var frames: [ProcessedFrame] = []
    func consume(_ frame: ProcessedFrame) throws { frames.append(frame) }
    func finish() throws {}
    func abort() {}
}

/// Keyframes and motion-vector propagation: the warp on known motion, vectors read from real H.264 (P- and
/// B-frames, intra blocks, I-frames), exact ground truth through the pipeline, scene cuts, panoptic ids.
@Suite(.serialized) struct PropagationTests {
    // MARK: The warp itself

    @Test func warpingATranslatedLabelMapIsExactAwayFromTheEdge() {
        let w = 37, h = 23
        var generator = SplitMix64(seed: 7)
        let previous = (0..<(w * h)).map { _ in UInt16(generator.next() % 5) }
        var field = MotionField(width: w, height: h, pictureType: "P")
        field.setBlock(x: 0, y: 0, width: w, height: h, dx: 3, dy: -2)
        let warped = LabelMap(width: w, height: h, labels: previous).propagated(by: field)!.labels
        for y in 2..<h {
            for x in 0..<(w - 3) {
                #expect(warped[y * w + x] == previous[(y - 2) * w + x + 3], "(\(x), \(y))")
            }
        }
        // Content entering at the edges repeats the edge.
        #expect(warped[0 * w + (w - 1)] == previous[0 * w + (w - 1)])
        #expect(field.uncertainFraction == 0 && abs(field.meanMotion - 13.0.squareRoot()) < 1e-6)
    }

    @Test func intraCellsAreFilledFromTheirRowsCertainNeighbours() {
        let w = 16, h = 8
        let previous = (0..<(w * h)).map { UInt16($0 % w) }  // each column holds its x
        var field = MotionField(width: w, height: h)
        field.setBlock(x: 0, y: 0, width: 4, height: 4, dx: 0, dy: 0)     // row band 0: only the left cell
        field.setBlock(x: 12, y: 4, width: 4, height: 4, dx: -1, dy: 0)   // row band 1: only the right cell
        #expect(abs(field.uncertainFraction - 6.0 / 8.0) < 1e-9)
        let out = field.warp(previous)
        // Band 0: columns 0-3 keep their x, the rest repeat column 3 (the last certain pixel on the left).
        #expect(Array(out[0..<w]) == [0, 1, 2, 3] + [UInt16](repeating: 3, count: 12))
        // Band 1: columns 12-15 come from one pixel to the left; the leading gap takes the first certain value.
        #expect(Array(out[(4 * w)..<(5 * w)]) == [UInt16](repeating: 11, count: 12) + [11, 12, 13, 14])
        // A field with no vector at all holds the previous result unchanged.
        #expect(MotionField(width: w, height: h, pictureType: "I").warp(previous) == previous)
    }

    @Test func panopticSegmentsKeepTheirIdsAndAreMeasuredAgain() {
        let w = 20, h = 10
        var ids = [UInt32](repeating: 0, count: w * h)
        for y in 2..<6 { for x in 2..<8 { ids[y * w + x] = 7 } }     // a 6×4 thing at (2, 2)
        for x in 18..<20 { ids[9 * w + x] = 9 }                        // a sliver at the right edge
        let segment = { (id: UInt32, area: Int) in
            PanopticSegment(id: id, classIndex: 0, isThing: true, score: 0.9, area: area, bbox: (0, 0, 1, 1))
        }
        let result = PanopticResult(width: w, height: h, segmentIds: ids, segments: [segment(7, 24), segment(9, 2)])
        var field = MotionField(width: w, height: h, pictureType: "P")
        field.setBlock(x: 0, y: 0, width: w, height: h, dx: -5, dy: 0)  // content moves 5 px right: the sliver leaves
        let moved = result.propagated(by: field)!
        #expect(moved.segments.map(\.id) == [7], "the sliver is gone, the thing keeps id 7")
        #expect(moved.segments[0].area == 24)
        #expect(moved.segments[0].bbox == (7, 2, 6, 4))
    }

    // MARK: Vectors from the codec

    /// A grey-noise picture panned 4 px per frame to the left, as H.264 with B-frames and an I-frame at frame 20:
    /// every P- and B-frame's field reads +4 px (content was 4 px further right a frame earlier), the I-frame is all
    /// intra.
    @Test func theVectorsOfAPanAreRecoveredFromPAndBFrames() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.makePan(in: dir, step: 4, frames: 32, keyframeAt: 20, bFrames: 2)
        var options = SourceOptions()
        options.exportMotionVectors = true
        let source = try MediaSource(path: clip, options: options)
        var types: [Character] = []
        while let frame = try source.nextFrame() {
            let field = try #require(frame.motion, "frame \(frame.index) has no field")
            types.append(field.pictureType)
            if frame.index == 0 || frame.index == 20 {
                #expect(field.pictureType == "I" && field.uncertainFraction == 1, "frame \(frame.index)")
                continue
            }
            let (mx, my) = Self.medianMotion(field)
            #expect(abs(mx - 4) <= 0.5 && abs(my) <= 0.5,
                    "frame \(frame.index) (\(field.pictureType)): median (\(mx), \(my))")
            #expect(field.uncertainFraction < 0.1, "frame \(frame.index): \(field.uncertainFraction) intra")
        }
        #expect(types.count == 32)
        #expect(types.contains("B") && types.contains("P"), "\(String(types))")
    }

    @Test func vectorsAreNotDecodedUnlessAskedForAndIntraOnlyCodecsHaveNone() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.makePan(in: dir, step: 4, frames: 6, keyframeAt: nil, bFrames: 0)
        let plain = try MediaSource(path: clip)
        while let frame = try plain.nextFrame() { #expect(frame.motion == nil) }
        let mjpeg = dir.appendingPathComponent("pan.mkv").path
        let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", clip, "-c:v", "mjpeg", "-q:v", "3", mjpeg])
        try #require(r.status == 0, "\(r.stderr)")
        var options = SourceOptions()
        options.exportMotionVectors = true
        let intraOnly = try MediaSource(path: mjpeg, options: options)
        while let frame = try intraOnly.nextFrame() { #expect(frame.motion == nil) }
    }

    // MARK: Through the pipeline, against exact ground truth

    /// Pans of a colour-coded picture, with and without B-frames: propagation between keyframes agrees with
    /// per-frame inference (the exact truth) far better than holding the keyframe's labels.
    @Test(arguments: [0, 2])
    func propagationFollowsAPanWhereHoldingLags(bFrames: Int) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Self.makePan(in: dir, step: 3, frames: 30, keyframeAt: nil, bFrames: bFrames, colourCoded: true)
        let truth = try Self.segmentFrames(clip, keyframes: .every(1), propagation: .hold)
        let held = try Self.segmentFrames(clip, keyframes: .every(6), propagation: .hold)
        let warped = try Self.segmentFrames(clip, keyframes: .every(6), propagation: .motion)
        #expect(truth.count == 30 && held.count == 30 && warped.count == 30)
        let holdAgreement = Self.agreement(held, truth), motionAgreement = Self.agreement(warped, truth)
        print("propagation figures (stand-in model, exact truth; pan 3 px/frame, every:6, \(bFrames) B-frames): "
              + String(format: "hold %.2f %%, motion %.2f %%", 100 * holdAgreement, 100 * motionAgreement))
        #expect(motionAgreement >= 0.97, "propagated: \(motionAgreement)")
        #expect(motionAgreement > holdAgreement + 0.03, "propagated \(motionAgreement) vs held \(holdAgreement)")
        #expect(warped.filter(\.propagated).count == 25 && warped.filter(\.inferred).count == 5)
        #expect(held.allSatisfy { !$0.propagated })
    }

    /// `auto` on a pan that cuts to another picture: the model runs on the first frame after the cut (and on
    /// frame 0), and the gap between keyframes never exceeds --max-gap.
    @Test func autoKeyframesFollowCutsAndTheMaximumGap() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try Self.makePan(in: dir, step: 2, frames: 20, keyframeAt: nil, bFrames: 2, colourCoded: true)
        let secondDir = dir.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: secondDir, withIntermediateDirectories: true)
        // A bright picture after a mid-grey one: the thumbnails differ by far more than the cut threshold.
        let second = try Self.makePan(in: secondDir, step: 2, frames: 20, keyframeAt: nil, bFrames: 2,
                                      pattern: "lum='200+random(9)*55':cb=128:cr=128")
        let cut = dir.appendingPathComponent("cut.mp4").path
        let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", first, "-i", second, "-filter_complex",
                                            "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264",
                                            "-preset", "ultrafast", "-bf", "2", "-sc_threshold", "0", "-g", "100", cut])
        try #require(r.status == 0, "\(r.stderr)")
        var auto = AutoKeyframes()
        auto.maxGap = 8
        let frames = try Self.segmentFrames(cut, keyframes: .auto(auto), propagation: .motion)
        let keys = frames.filter(\.inferred).map(\.frame.index)
        #expect(keys.first == 0 && keys.contains(20), "keyframes \(keys)")
        let gaps = zip(keys.dropFirst(), keys).map { $0 - $1 } + [frames.count - keys.last!]
        #expect(gaps.allSatisfy { $0 <= 8 }, "keyframes \(keys)")
        #expect(keys.count < frames.count / 2, "auto should skip most frames of a slow pan: \(keys)")

        // An I-frame (all intra) forces a keyframe, with every other trigger out of reach.
        let intraDir = dir.appendingPathComponent("i")
        try FileManager.default.createDirectory(at: intraDir, withIntermediateDirectories: true)
        let withIFrame = try Self.makePan(in: intraDir, step: 2, frames: 24, keyframeAt: 13, bFrames: 2)
        var onlyIntra = AutoKeyframes()
        onlyIntra.maxGap = 1000
        onlyIntra.motionThreshold = 1000
        onlyIntra.sceneCutThreshold = 10
        let intraKeys = try Self.segmentFrames(withIFrame, keyframes: .auto(onlyIntra), propagation: .motion)
            .filter(\.inferred).map(\.frame.index)
        #expect(intraKeys == [0, 13], "keyframes \(intraKeys)")
    }

    /// The shapes clip's panoptic segments through tracking and propagation: frames between keyframes list only
    /// ids of the keyframe before them, marked "propagated" in the JSON lines.
    @Test func panopticTrackIdsSurvivePropagation() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = try makeShapesClip(in: dir, frames: 24)
        var o = SegmentOptions()
        o.inputs = [video]
        o.output = dir.appendingPathComponent("out.mp4").path
        o.classes = ShapesClip.vocabulary
        o.jsonLinesPath = dir.appendingPathComponent("out.jsonl").path
        o.keyframes = .every(4)
        o.progress = .never
        _ = try SegmentJob(options: o, modelProvider: { _ in ShapesPanopticModel() }).run()
        let lines = try String(contentsOfFile: o.jsonLinesPath!, encoding: .utf8).split(whereSeparator: \.isNewline)
            .dropFirst().map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        var keyIds: Set<Int> = []
        var propagated = 0
        for line in lines {
            let ids = Set(((line["segments"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int })
            switch line["result"] as? String {
            case "inferred": keyIds = ids
            case "propagated":
                propagated += 1
                #expect(ids.isSubset(of: keyIds) && !ids.isEmpty, "frame \(line["frame"] ?? "?"): \(ids) vs \(keyIds)")
            default: Issue.record("frame \(line["frame"] ?? "?") is \(line["result"] ?? "nil")")
            }
        }
        #expect(propagated == 18)
    }

    // MARK: Helpers

    /// A picture wider than the frame, panned `step` px per frame to the left, encoded with libx264: grey noise, or
    /// (colourCoded) noise over large red/green regions whose class `ColourCodeModel` reads back.
    static func makePan(in dir: URL, step: Int, frames: Int, keyframeAt: Int?, bFrames: Int,
                        colourCoded: Bool = false, seed: Int = 1, pattern custom: String? = nil) throws -> String {
        let width = 192 + step * frames, height = 128
        let picture = dir.appendingPathComponent("wide.png").path
        let pattern = colourCoded
            ? "r='if(lt(mod(X+Y/2\\,96)\\,48)\\,200\\,50)+random(\(seed))*40':g='if(lt(mod(Y+X/5\\,64)\\,32)\\,200\\,50)+random(\(seed + 1))*40':b='random(\(seed + 2))*255'"
            : "lum='random(\(seed))*255':cb=128:cr=128"
        let source = colourCoded ? "color=black:s=\(width)x\(height),format=rgb24,geq=\(pattern)"
            : "color=black:s=\(width)x\(height),format=yuv444p,geq=\(custom ?? pattern)"
        var r = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", source, "-frames:v", "1", picture])
        try #require(r.status == 0, "\(r.stderr)")
        let clip = dir.appendingPathComponent("pan.mp4").path
        var args = ["-v", "error", "-loop", "1", "-framerate", "25", "-i", picture, "-vf",
                    "crop=192:\(height):x=\(step)*n:y=0", "-frames:v", "\(frames)", "-c:v", "libx264",
                    "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p", "-bf", "\(bFrames)",
                    "-x264-params", "b-adapt=0:ref=1:scenecut=0", "-g", "250"]
        if let keyframeAt { args += ["-force_key_frames", "expr:eq(n,\(keyframeAt))"] }
        r = try run("/usr/bin/ffmpeg", args + [clip])
        try #require(r.status == 0, "\(r.stderr)")
        return clip
    }

    /// Every frame of `clip` through the pipeline with the colour-code model.
    static func segmentFrames(_ clip: String, keyframes: KeyframePolicy, propagation: Propagation) throws -> [ProcessedFrame] {
        var options = SourceOptions()
        options.exportMotionVectors = true
        let sink = CollectingSink()
        let pipeline = FramePipeline(source: MediaFrameSource(try MediaSource(path: clip, options: options)),
                                     model: ColourCodeModel(), renderer: nil, sinks: [sink],
                                     options: .init(keyframes: keyframes, propagation: propagation))
        _ = try pipeline.run()
        return sink.frames
    }

    /// Share of pixels, over all frames, whose label equals the truth's.
    static func agreement(_ frames: [ProcessedFrame], _ truth: [ProcessedFrame]) -> Double {
        var same = 0, total = 0
        for (a, b) in zip(frames, truth) {
            for (x, y) in zip(a.result.labels.labels, b.result.labels.labels) where x == y { same += 1 }
            total += b.result.labels.labels.count
        }
        return Double(same) / Double(max(1, total))
    }

    /// Median displacement over the cells away from the frame's edge that have a vector.
    static func medianMotion(_ field: MotionField) -> (Float, Float) {
        var xs: [Float] = [], ys: [Float] = []
        for r in 2..<(field.rows - 2) {
            for c in 2..<(field.columns - 2) where field.known[r * field.columns + c] {
                xs.append(field.dx[r * field.columns + c])
                ys.append(field.dy[r * field.columns + c])
            }
        }
        guard !xs.isEmpty else { return (.nan, .nan) }
        return (xs.sorted()[xs.count / 2], ys.sorted()[ys.count / 2])
    }
}
