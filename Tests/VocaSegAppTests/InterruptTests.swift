import Foundation
import Testing

/// Ctrl-C during `vocaseg segment` (the real CLI, ERR-Seg with seeded random weights at a tiny input size): the
/// frame in flight is finished, every output is finalised and consistent, and the exit code is 130.
@Suite struct InterruptTests {
    @Test func sigintFinalisesValidOutputsAndExits130() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("long.mp4").path
        let made = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25",
                                               "-frames:v", "2000", "-c:v", "libx264", "-preset", "ultrafast",
                                               "-pix_fmt", "yuv420p", input])
        try #require(made.status == 0)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Repo.cli)
        p.arguments = ["segment", input, "--weights", "random", "--size", "64", "--classes", "a, b, c",
                       "-o", out.appendingPathComponent("o.mp4").path, "--jsonl", out.appendingPathComponent("o.jsonl").path,
                       "--masks", out.appendingPathComponent("masks").path, "--progress", "never"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        // Wait until a few frames have been written (the JSON-lines file is still under its temporary name).
        let deadline = Date().addingTimeInterval(240)
        var linesSoFar = 0
        while Date() < deadline && p.isRunning && linesSoFar < 4 {
            Thread.sleep(forTimeInterval: 0.5)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
            if let temp = names.first(where: { $0.hasPrefix(".o") && $0.hasSuffix(".jsonl") }),
               let text = try? String(contentsOfFile: out.appendingPathComponent(temp).path, encoding: .utf8) {
                linesSoFar = text.split(whereSeparator: \.isNewline).count
            }
        }
        try #require(p.isRunning && linesSoFar >= 4, "never got going: \(linesSoFar) lines")
        kill(p.processIdentifier, SIGINT)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130, "\(stderr)")

        // Every output is under its final name, complete and consistent with the others; no temporaries remain.
        let names = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        #expect(names == ["masks", "o.jsonl", "o.mp4"], "\(names)")
        let lines = try String(contentsOfFile: out.appendingPathComponent("o.jsonl").path, encoding: .utf8)
            .split(whereSeparator: \.isNewline)
        let frames = lines.count - 1
        #expect(frames >= 4 && frames < 2000)
        #expect(try videoFrameTimes(out.appendingPathComponent("o.mp4").path).count == frames)
        let masks = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("masks").path)
        #expect(masks.filter { $0.hasSuffix(".png") }.count == frames)
        let decode = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", out.appendingPathComponent("o.mp4").path, "-f", "null", "-"])
        #expect(decode.stderr.isEmpty)
    }
}
