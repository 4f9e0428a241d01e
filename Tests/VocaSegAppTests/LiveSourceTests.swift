import Foundation
import Testing
import VocaSegCore
@testable import VocaSegApp

/// The quadrant model, made slower than the source's frame rate: each frame takes `delay` seconds.
final class SlowQuadrantModel: SegmentationModel, @unchecked Sendable {
    let name = "test-slow-quadrants"
    let usesRandomWeights = false
    private let inner = QuadrantModel()
    private let delay: Double
    init(delay: Double) { self.delay = delay }
    func prepare(vocabulary: Vocabulary) throws { try inner.prepare(vocabulary: vocabulary) }
    func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame { try inner.preprocess(frame) }
    func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        Thread.sleep(forTimeInterval: delay)
        return try inner.segment(input, state: &state)
    }
}

/// A live source on loopback: `ffmpeg -re … -f mpegts udp://127.0.0.1:PORT`, read by the segment job while the
/// model is four times slower than the source. The leaky queues keep latency bounded and count what they drop.
@Suite(.serialized) struct LiveSourceTests {
    /// A UDP port nobody holds right now (bound to port 0, read back, released).
    static func freeUDPPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test(.timeLimit(.minutes(1)))
    func latencyStaysBoundedWhenInferenceIsSlowerThanTheSource() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try Self.freeUDPPort()
        let seconds = 4.0, rate = 25.0, delay = 0.16  // inference at ~6 fps against a 25 fps source
        let sender = Process()
        sender.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        sender.arguments = ["-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=\(Int(rate))",
                            "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                            "-g", "10", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"]
        sender.standardOutput = FileHandle.nullDevice
        sender.standardError = FileHandle.nullDevice
        try sender.run()
        defer { if sender.isRunning { sender.terminate() }; sender.waitUntilExit() }

        var o = SegmentOptions()
        o.inputs = ["udp://127.0.0.1:\(port)"]
        o.output = dir.appendingPathComponent("live.mp4").path
        o.jsonLinesPath = dir.appendingPathComponent("live.jsonl").path
        o.classes = "sky, tree, road, person"
        o.progress = .never
        o.networkTimeoutSeconds = 1.5
        let report = try #require(try SegmentJob(options: o, modelProvider: { _ in SlowQuadrantModel(delay: delay) })
            .run().first)

        #expect(report.live, "a network URL switches the pipeline to live mode")
        let received = report.frames + report.droppedFrames
        // Packets sent before the socket was bound are lost; most of the clip must have arrived.
        #expect(received >= Int(seconds * rate * 0.5), "only \(received) frames arrived")
        #expect(report.droppedFrames > report.frames, "inference is 4x slower than the source: most frames drop")
        #expect(report.frames >= 8, "\(report.frames) frames written")
        #expect(report.frames == report.inferredFrames, "every written frame was inferred")
        let latency = try #require(report.timings.first { $0.stage == "latency" })
        // Bounded: one frame waiting behind one in inference, plus the rest of the pipeline. Without dropping, the
        // backlog would grow by ~0.75 frame per frame: seconds of latency by the end.
        #expect(latency.p95Milliseconds < 4 * delay * 1000 + 250, "p95 latency \(latency.p95Milliseconds) ms")
        #expect(latency.frames == report.frames)
        // The output is a valid video holding exactly the written frames, in increasing time.
        let times = try videoFrameTimes(o.output!)
        #expect(times.count == report.frames)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
    }
}
