import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

/// HDR tone mapping and deinterlacing go through libavfilter like the ffmpeg CLI's own filter chains: each sample's
/// frames are compared with ffmpeg's output of the same chain (per channel mean and maximum absolute difference),
/// and the frame count and timestamps with ffprobe's.
@Suite("Filter stage: HDR and interlaced input")
struct FilterTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var sample: String
        var options: SourceOptions
        /// The chain ffmpeg runs for the reference (the one the plan must choose).
        var chain: String
        var summaryPrefix: String
        var testDescription: String { sample }
    }

    static let toneMap = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,"
        + "zscale=t=bt709:m=bt709:r=pc,format=gbrp"

    static let cases: [Case] = [
        Case(sample: "hdr_pq.mp4", options: SourceOptions(), chain: toneMap, summaryPrefix: "tone-mapping HDR PQ"),
        Case(sample: "hdr_hlg.mp4", options: SourceOptions(), chain: toneMap, summaryPrefix: "tone-mapping HDR HLG"),
        Case(sample: "interlaced_tff.mp4", options: SourceOptions(),
             chain: "bwdif=mode=send_frame:parity=auto:deint=interlaced", summaryPrefix: "deinterlacing interlaced"),
    ]

    @Test("matches ffmpeg's output of the same chain, frame count and timestamps kept", arguments: cases)
    func matchesFFmpeg(_ c: Case) throws {
        let path = Fixture.sample(c.sample)
        let source = try MediaSource(path: path, options: c.options)
        let frames = try decodeAll(source)
        #expect(source.info.filterSummary?.hasPrefix(c.summaryPrefix) == true, "\(source.info.filterSummary ?? "none")")
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["--", "-vf", c.chain])
        let frameBytes = source.info.width * source.info.height * 3
        #expect(reference.count == frames.count * frameBytes, "frame count: ours \(frames.count), ffmpeg \(reference.count / frameBytes)")
        let probed = try Tool.probeFramePTS(path)
        #expect(frames.map(\.pts) == probed, "timestamps: ours \(frames.map(\.pts)), ffprobe \(probed)")
        // Bounds: the same libavfilter chain on both sides, so only the last RGB packing may differ (it does not
        // here); 0.5 mean and 2 maximum leave room for a rounding difference, nothing more.
        for (i, frame) in frames.enumerated() where (i + 1) * frameBytes <= reference.count {
            let ref = reference[(i * frameBytes)..<((i + 1) * frameBytes)]
            for channel in 0..<3 {
                var total = 0, worst = 0
                var p = channel
                let ours = frame.image.pixels
                let base = ref.startIndex
                while p < frameBytes {
                    let d = abs(Int(ours[p]) - Int(ref[base + p]))
                    total += d
                    worst = max(worst, d)
                    p += 3
                }
                let mean = Double(total) / Double(frameBytes / 3)
                #expect(mean <= 0.5 && worst <= 2, "frame \(i) channel \(channel): mean \(mean), max \(worst)")
            }
        }
    }

    @Test("tone mapping changes the picture: PQ passed on untouched is far from the tone-mapped one")
    func toneMappingIsNotANoOp() throws {
        var off = SourceOptions()
        off.hdr = .off
        let passed = try decodeAll(try MediaSource(path: Fixture.sample("hdr_pq.mp4"), options: off))
        let mapped = try decodeAll(try MediaSource(path: Fixture.sample("hdr_pq.mp4")))
        #expect(passed.count == mapped.count)
        let difference = meanAbsoluteDifference(passed[0].image.pixels, mapped[0].image.pixels)
        #expect(difference > 10, "mean difference \(difference)")
    }

    @Test("progressive SDR input enters no filter graph; off turns each filter off; on deinterlaces every frame")
    func plans() throws {
        #expect(try MediaSource(path: Fixture.sample("clip_640x360_aac.mp4")).info.filterSummary == nil)
        #expect(try MediaSource(path: Fixture.sample("tenbit_yuv420p10.mp4")).info.filterSummary == nil)
        var off = SourceOptions()
        off.hdr = .off
        off.deinterlace = .off
        let pq = try MediaSource(path: Fixture.sample("hdr_pq.mp4"), options: off)
        #expect(pq.info.filterSummary == nil)
        #expect(pq.info.framePrimaries == "bt2020" && pq.info.frameTransfer == "smpte2084")
        let interlaced = try MediaSource(path: Fixture.sample("interlaced_tff.mp4"), options: off)
        #expect(interlaced.info.framesInterlaced && interlaced.info.fieldOrder == "tt")
        var on = SourceOptions()
        on.deinterlace = .on
        let forced = try MediaSource(path: Fixture.sample("clip_640x360_aac.mp4"), options: on)
        #expect(forced.info.filterSummary?.hasPrefix("deinterlacing every frame") == true)
        let frames = try decodeAll(forced)
        #expect(frames.count == 75)
    }
}
