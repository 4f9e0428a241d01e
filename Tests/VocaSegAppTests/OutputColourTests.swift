import Foundation
import Testing
import VocaSegCore
import VocaSegMedia
@testable import VocaSegApp

/// The overlay video is tagged with what its pixels hold (checked with ffprobe): SDR BT.709 after tone mapping,
/// the input's primaries and transfer when HDR is passed on, progressive after deinterlacing and the input's field
/// order when not. Frame counts and timestamps survive the filter stage.
@Suite(.serialized) struct OutputColourTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var sample: String, hdr: HDRHandling, deinterlace: DeinterlaceMode
        var primaries: String, transfer: String, fieldOrder: String
        var testDescription: String { "\(sample) --hdr \(hdr.rawValue) --deinterlace \(deinterlace.rawValue)" }
    }

    static let cases: [Case] = [
        Case(sample: "hdr_pq.mp4", hdr: .tonemap, deinterlace: .auto, primaries: "bt709", transfer: "bt709", fieldOrder: "progressive"),
        Case(sample: "hdr_pq.mp4", hdr: .off, deinterlace: .auto, primaries: "bt2020", transfer: "smpte2084", fieldOrder: "progressive"),
        Case(sample: "hdr_hlg.mp4", hdr: .tonemap, deinterlace: .auto, primaries: "bt709", transfer: "bt709", fieldOrder: "progressive"),
        Case(sample: "hdr_hlg.mp4", hdr: .off, deinterlace: .auto, primaries: "bt2020", transfer: "arib-std-b67", fieldOrder: "progressive"),
        Case(sample: "interlaced_tff.mp4", hdr: .tonemap, deinterlace: .auto, primaries: "bt709", transfer: "bt709", fieldOrder: "progressive"),
        Case(sample: "interlaced_tff.mp4", hdr: .tonemap, deinterlace: .off, primaries: "bt709", transfer: "bt709", fieldOrder: "tt"),
    ]

    @Test(arguments: cases)
    func tags(_ c: Case) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = SegmentOptions()
        let input = Repo.sample(c.sample)
        o.inputs = [input]
        o.output = dir.appendingPathComponent("out.mp4").path
        o.classes = "sky, tree, road, person"
        o.progress = .never
        o.hdr = c.hdr
        o.deinterlace = c.deinterlace
        let reports = try SegmentJob(options: o, modelProvider: { _ in QuadrantModel() }).run()
        let out = dir.appendingPathComponent("out.mp4").path
        let text = try ffprobe(["-select_streams", "v:0", "-show_entries",
                                "stream=color_primaries,color_transfer,color_space,color_range,field_order",
                                "-of", "default=nw=1", out])
        var tags: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { tags[String(parts[0])] = String(parts[1]) }
        }
        #expect(tags["color_primaries"] == c.primaries)
        #expect(tags["color_transfer"] == c.transfer)
        #expect(tags["color_space"] == "bt709" && tags["color_range"] == "tv")
        #expect(tags["field_order"] == c.fieldOrder, "\(tags)")
        let inTimes = try videoFrameTimes(input)
        let outTimes = try videoFrameTimes(out)
        #expect(reports[0].frames == inTimes.count && outTimes.count == inTimes.count)
        let shift = (outTimes.first ?? 0) - (inTimes.first ?? 0)
        for (a, b) in zip(inTimes, outTimes) { #expect(abs((b - shift) - a) < 0.0015, "pts \(a) → \(b)") }
    }
}
