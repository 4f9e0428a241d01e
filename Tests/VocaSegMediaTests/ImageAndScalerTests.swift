import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

@Suite("Images, label maps, scaling")
struct ImageAndScalerTests {
    func stillImage() throws -> RGBImage {
        try #require(try MediaSource(path: Fixture.sample("still.png")).nextFrame()).image
    }

    @Test("PNG round trip is lossless; JPEG is close; both appear atomically")
    func imageFiles() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try stillImage()
        let png = dir.appendingPathComponent("out.png").path
        try ImageFileWriter.write(image, to: png)
        #expect(try Tool.ffmpegRGB(png) == image.pixels)
        let jpg = dir.appendingPathComponent("out.jpg").path
        try ImageFileWriter.write(image, to: jpg)
        #expect(try Tool.probeStream(jpg, "v:0", "codec_name")["codec_name"] == "mjpeg")
        // Mandelbrot detail is hard on JPEG: hold ours to ffmpeg's own `-q:v 2` encode of the same picture.
        let ffmpegJPG = dir.appendingPathComponent("ffmpeg.jpg").path
        try Tool.run("ffmpeg", ["-v", "error", "-i", Fixture.sample("still.png"), "-q:v", "2", "-pix_fmt", "yuvj420p", ffmpegJPG])
        let ours = meanAbsoluteDifference(try Tool.ffmpegRGB(jpg), image.pixels)
        let theirs = meanAbsoluteDifference(try Tool.ffmpegRGB(ffmpegJPG), image.pixels)
        #expect(ours <= theirs + 0.5)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["out.png", "out.jpg", "ffmpeg.jpg"])
        #expect(throws: VocaSegError.self) { try ImageFileWriter.write(image, to: dir.appendingPathComponent("x.gifx").path) }
    }

    @Test("label map ≤ 256 classes: pal8 PNG whose indices and palette ffmpeg reads back")
    func indexedLabelMap() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let width = 37, height = 23
        var labels = (0..<(width * height)).map { UInt16(($0 * 7 + $0 / width) % 5) }
        labels[3] = LabelMap.unlabeled
        let palette: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30), (200, 100, 50)]
        let path = dir.appendingPathComponent("labels.png").path
        try ImageFileWriter.writeLabelMap(LabelMap(width: width, height: height, labels: labels), palette: palette, to: path)
        #expect(try Tool.probeStream(path, "v:0", "pix_fmt")["pix_fmt"] == "pal8")
        // rawvideo pal8 = indices, then the 256-entry palette as little-endian 0xAARRGGBB (B, G, R, A bytes).
        let raw = [UInt8](try Tool.run("ffmpeg", ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "pal8", "-"]))
        #expect(raw.count == width * height + 1024)
        let indices = Array(raw.prefix(width * height))
        #expect(indices == labels.map { $0 == LabelMap.unlabeled ? 255 : UInt8($0) })
        for (i, c) in palette.enumerated() {
            let entry = Array(raw[(width * height + 4 * i)..<(width * height + 4 * i + 4)])
            #expect(entry == [c.2, c.1, c.0, 255])
        }
    }

    @Test("label map > 256 classes: 16-bit grey PNG with the class indices")
    func wideLabelMap() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let width = 40, height = 30
        var labels = (0..<(width * height)).map { UInt16($0 % 300) }
        labels[7] = LabelMap.unlabeled
        let palette = (0..<300).map { (UInt8($0 % 256), UInt8(0), UInt8(0)) }
        let path = dir.appendingPathComponent("wide.png").path
        try ImageFileWriter.writeLabelMap(LabelMap(width: width, height: height, labels: labels), palette: palette, to: path)
        #expect(try Tool.probeStream(path, "v:0", "pix_fmt")["pix_fmt"] == "gray16be")
        let raw = [UInt8](try Tool.run("ffmpeg", ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray16be", "-"]))
        let values = stride(from: 0, to: raw.count, by: 2).map { UInt16(raw[$0]) << 8 | UInt16(raw[$0 + 1]) }
        #expect(values == labels)
    }

    @Test("FrameScaler equals ffmpeg's scale filter (bilinear and area)")
    func scaler() throws {
        let image = try stillImage()
        for (method, flags) in [(FrameScaler.Method.bilinear, "bilinear"), (.area, "area")] {
            let scaler = FrameScaler(method: method)
            let small = try scaler.scale(image, width: 100, height: 75)
            let again = try scaler.scale(image, width: 100, height: 75)  // reuses the context
            #expect(small.pixels == again.pixels)
            let reference = try Tool.ffmpegRGB(Fixture.sample("still.png"), extraArguments: [
                "--", "-vf", "scale=100:75:flags=\(flags)+accurate_rnd",
            ])
            #expect(small.width == 100 && small.height == 75)
            #expect(meanAbsoluteDifference(small.pixels, reference) < 0.5)
        }
    }

    @Test("AtomicOutputFile: nothing under the final name until commit; abort removes the temporary")
    func atomicFile() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let final = dir.appendingPathComponent("result.json").path
        let file = try AtomicOutputFile(finalPath: final)
        #expect((file.temporaryPath as NSString).lastPathComponent.hasPrefix(".result.partial-"))
        #expect(file.temporaryPath.hasSuffix(".json"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: file.temporaryPath))
        #expect(!FileManager.default.fileExists(atPath: final))
        try file.commit()
        #expect(FileManager.default.fileExists(atPath: final))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["result.json"])
        let second = try AtomicOutputFile(finalPath: final)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: second.temporaryPath))
        second.abort()
        #expect(try String(contentsOfFile: final, encoding: .utf8) == "{}")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["result.json"])
    }
}
