import Foundation
import Testing
import VocaSegMedia
import VocaSegCore

/// Speed figures for the report (run with `-c release`); the assertions check that the work really happened.
@Suite("Throughput at 1920x1080")
struct ThroughputTests {
    @Test("decode and encode fps of the 1080p sample")
    func throughput() throws {
        let input = Fixture.sample("bench_1080p.mp4")
        let clock = ContinuousClock()
        // The machine is shared, so wall time is noisy: CPU seconds of this process are printed too.
        func cpuSeconds() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
        }
        let cpu0 = cpuSeconds()
        var frames: [DecodedFrame] = []
        let source = try MediaSource(path: input)
        let decodeTime = try clock.measure {
            while let frame = try source.nextFrame() { frames.append(frame) }
        }
        let cpu1 = cpuSeconds()
        #expect(frames.count == 50)
        #expect(frames.allSatisfy { $0.image.width == 1920 && $0.image.height == 1080 })

        let dir = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("bench.mp4").path
        let encodeTime = try clock.measure {
            let writer = try VideoWriter(path: output, width: 1920, height: 1080, timeBase: source.info.timeBase,
                                         frameRate: source.info.averageFrameRate, copyStreamsFrom: nil)
            for frame in frames { try writer.write(frame.image, pts: frame.pts, duration: frame.duration) }
            try writer.finish()
        }
        let cpu2 = cpuSeconds()
        #expect(try Tool.probeFramePTS(output) == frames.map(\.pts))
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        let decodeFPS = Double(frames.count) / seconds(decodeTime)
        let encodeFPS = Double(frames.count) / seconds(encodeTime)
        print(String(format: "[media throughput] 1920x1080 %d frames: decode→RGB %.1f fps (%.2f s wall, %.2f s CPU), "
                     + "RGB→x264 veryfast crf20 encode %.1f fps (%.2f s wall, %.2f s CPU)", frames.count,
                     decodeFPS, seconds(decodeTime), cpu1 - cpu0, encodeFPS, seconds(encodeTime), cpu2 - cpu1))
        #expect(decodeFPS > 1 && encodeFPS > 1)
    }
}
