import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

/// Every pixel format family the decoder may meet is converted like ffmpeg converts it (same matrix, same range).
/// Inputs are made in a temp dir with the ffmpeg CLI; the reference is ffmpeg's own RGB24 decode with the colour
/// matrix and range stated explicitly, so the test does not depend on CLI defaults.
@Suite("Pixel formats")
struct PixelFormatTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// Output file name (its extension picks the container/image type).
        var file: String
        /// Encoding arguments after `-i testsrc2…`.
        var encode: [String]
        /// The scale filter ffmpeg uses to produce the reference RGB.
        var referenceFilter: String
        var expectedPixelFormat: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "yuv422p10 (FFV1)", file: "a.mkv", encode: ["-c:v", "ffv1", "-pix_fmt", "yuv422p10le"],
             referenceFilter: "scale=in_color_matrix=bt601:in_range=tv", expectedPixelFormat: "yuv422p10le"),
        Case(name: "yuv444p12 (FFV1)", file: "b.mkv", encode: ["-c:v", "ffv1", "-pix_fmt", "yuv444p12le"],
             referenceFilter: "scale=in_color_matrix=bt601:in_range=tv", expectedPixelFormat: "yuv444p12le"),
        Case(name: "full-range BT.709-tagged H.264", file: "c.mp4",
             encode: ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-vf", "scale=out_color_matrix=bt709:out_range=pc",
                      "-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
             // FFmpeg's H.264 decoder reports full range as the (deprecated) yuvj420p.
             referenceFilter: "scale=in_color_matrix=bt709:in_range=pc", expectedPixelFormat: "yuvj420p"),
        Case(name: "limited-range BT.709-tagged H.264", file: "d.mp4",
             encode: ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-vf", "scale=out_color_matrix=bt709:out_range=tv",
                      "-color_range", "tv", "-colorspace", "bt709"],
             referenceFilter: "scale=in_color_matrix=bt709:in_range=tv", expectedPixelFormat: "yuv420p"),
        Case(name: "JPEG 4:2:2 full range", file: "e.jpg", encode: ["-pix_fmt", "yuvj422p", "-q:v", "2"],
             referenceFilter: "scale=in_color_matrix=bt601:in_range=pc", expectedPixelFormat: "yuvj422p"),
        Case(name: "grey PNG", file: "f.png", encode: ["-pix_fmt", "gray"], referenceFilter: "null",
             expectedPixelFormat: "gray"),
        Case(name: "16-bit grey PNG", file: "g.png", encode: ["-pix_fmt", "gray16be"], referenceFilter: "null",
             expectedPixelFormat: "gray16be"),
        Case(name: "RGBA PNG (alpha dropped)", file: "h.png", encode: ["-vf", "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='X'"],
             referenceFilter: "null", expectedPixelFormat: "rgba"),
        Case(name: "palette PNG", file: "i.png", encode: ["-pix_fmt", "pal8"], referenceFilter: "null",
             expectedPixelFormat: "pal8"),
        Case(name: "16-bit RGB PNG", file: "j.png", encode: ["-pix_fmt", "rgb48be"], referenceFilter: "null",
             expectedPixelFormat: "rgb48be"),
        Case(name: "yuva420p (FFV1, alpha dropped)", file: "k.mkv", encode: ["-c:v", "ffv1", "-pix_fmt", "yuva420p"],
             referenceFilter: "scale=in_color_matrix=bt601:in_range=tv", expectedPixelFormat: "yuva420p"),
    ]

    @Test("decodes like ffmpeg", arguments: cases)
    func format(_ c: Case) throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(c.file).path
        try Tool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-frames:v", "1"]
                     + c.encode + [path])
        let source = try MediaSource(path: path)
        #expect(source.info.pixelFormatName == c.expectedPixelFormat)
        let frame = try #require(try source.nextFrame())
        let reference = try Tool.ffmpegRGB(path, extraArguments: ["--", "-vf", c.referenceFilter])
        #expect(frame.image.pixels.count == reference.count)
        let difference = meanAbsoluteDifference(frame.image.pixels, reference)
        #expect(difference < 1.0, "mean abs difference \(difference)")
    }
}
