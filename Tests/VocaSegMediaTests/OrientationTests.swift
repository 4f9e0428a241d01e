import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

/// All eight right-angle display matrices: the upright picture must equal ffmpeg's decode with the transform
/// spelled out as filters (`-noautorotate`, so FFmpeg 5.1's own partial autorotation does not interfere).
@Suite("Display matrix orientations")
struct OrientationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// a, b, c, d of the matrix (16.16 units of ±1/0).
        var abcd: (Int32, Int32, Int32, Int32)
        var filter: String
        var swaps: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "identity", abcd: (1, 0, 0, 1), filter: "null", swaps: false),
        Case(name: "rotate 90 clockwise", abcd: (0, 1, -1, 0), filter: "transpose=clock", swaps: true),
        Case(name: "rotate 180", abcd: (-1, 0, 0, -1), filter: "hflip,vflip", swaps: false),
        Case(name: "rotate 90 counter-clockwise", abcd: (0, -1, 1, 0), filter: "transpose=cclock", swaps: true),
        Case(name: "mirror left-right", abcd: (-1, 0, 0, 1), filter: "hflip", swaps: false),
        Case(name: "mirror top-bottom", abcd: (1, 0, 0, -1), filter: "vflip", swaps: false),
        Case(name: "transpose", abcd: (0, 1, 1, 0), filter: "transpose=cclock_flip", swaps: true),
        Case(name: "anti-transpose", abcd: (0, -1, -1, 0), filter: "transpose=clock_flip", swaps: true),
    ]

    /// Writes the matrix into the first `tkhd` box (version 0) of an mp4, as cameras store it.
    static func patchMatrix(_ data: inout Data, _ abcd: (Int32, Int32, Int32, Int32)) throws {
        let tkhd = try #require(data.range(of: Data("tkhd".utf8)))
        let matrixStart = tkhd.lowerBound - 4 + 48
        let values: [Int32] = [abcd.0 << 16, abcd.1 << 16, 0, abcd.2 << 16, abcd.3 << 16, 0, 0, 0, 1 << 30]
        for (i, v) in values.enumerated() {
            let bytes = withUnsafeBytes(of: v.bigEndian) { Array($0) }
            data.replaceSubrange((matrixStart + 4 * i)..<(matrixStart + 4 * i + 4), with: bytes)
        }
    }

    @Test("upright picture equals ffmpeg's explicit transform", arguments: cases)
    func orientation(_ c: Case) throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixture.sample("rotated_90.mp4")))
        try Self.patchMatrix(&data, c.abcd)
        let path = dir.appendingPathComponent("m.mp4").path
        try data.write(to: URL(fileURLWithPath: path))
        let source = try MediaSource(path: path)
        #expect(source.info.width == (c.swaps ? 180 : 320) && source.info.height == (c.swaps ? 320 : 180))
        let frame = try #require(try source.nextFrame())
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["-noautorotate", "--", "-frames:v", "1", "-vf", c.filter])
        #expect(frame.image.pixels.count == reference.count)
        #expect(meanAbsoluteDifference(frame.image.pixels, reference) < 1.5)
    }
}
