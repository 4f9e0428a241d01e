import Foundation
import Testing

/// Bad input through the real CLI: a one-line error naming the file, the documented exit code, and nothing left
/// behind in the output directory.
@Suite struct BadInputTests {
    struct Case: CustomStringConvertible, Sendable {
        var description: String
        /// Builds the input in `dir`; returns the CLI arguments (before the common output flags).
        var arguments: @Sendable (URL) throws -> [String]
        var expectedStatus: Int32
        /// Text that must appear in the error line (the file name, usually).
        var mentions: @Sendable (URL) -> String
    }

    static let cases: [Case] = [
        Case(description: "nonexistent path", arguments: { d in [d.appendingPathComponent("missing.mp4").path] },
             expectedStatus: 3, mentions: { _ in "missing.mp4" }),
        Case(description: "text file named .mp4", arguments: { d in
            let p = d.appendingPathComponent("notes.mp4")
            try "this is not a video\n".write(to: p, atomically: true, encoding: .utf8)
            return [p.path]
        }, expectedStatus: 3, mentions: { _ in "notes.mp4" }),
        Case(description: "zero-byte file", arguments: { d in
            let p = d.appendingPathComponent("empty.mp4")
            try Data().write(to: p)
            return [p.path]
        }, expectedStatus: 3, mentions: { _ in "empty.mp4" }),
        Case(description: "truncated mp4 without its index", arguments: { d in
            // Remux so the moov atom sits at the end, then cut the file in half: the index is gone.
            let full = d.appendingPathComponent("full.mp4").path
            let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-i", Repo.sample("clip_640x360_aac.mp4"), "-c", "copy",
                                                "-movflags", "-faststart", "-y", full])
            guard r.status == 0 else { throw CocoaError(.fileWriteUnknown) }
            let data = try Data(contentsOf: URL(fileURLWithPath: full))
            let cut = d.appendingPathComponent("cut.mp4")
            try data.prefix(data.count / 2).write(to: cut)
            try FileManager.default.removeItem(atPath: full)
            return [cut.path]
        }, expectedStatus: 3, mentions: { _ in "cut.mp4" }),
        Case(description: "audio-only file", arguments: { d in
            let p = d.appendingPathComponent("tone.m4a").path
            let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                                                "-c:a", "aac", "-y", p])
            guard r.status == 0 else { throw CocoaError(.fileWriteUnknown) }
            return [p]
        }, expectedStatus: 3, mentions: { _ in "tone.m4a" }),
        Case(description: "empty vocabulary", arguments: { _ in [Repo.sample("still.png"), "--classes", " , "] },
             expectedStatus: 2, mentions: { _ in "vocabulary" }),
        Case(description: "duplicate-laden vocabulary", arguments: { _ in
            [Repo.sample("still.png"), "--classes", "car, person, Car, tree, person"]
        }, expectedStatus: 2, mentions: { _ in "Car, person" }),
        Case(description: "missing vocabulary file", arguments: { d in
            [Repo.sample("still.png"), "--vocab", d.appendingPathComponent("words.txt").path]
        }, expectedStatus: 3, mentions: { _ in "words.txt" }),
    ]

    @Test(arguments: cases)
    func isRefusedCleanly(_ c: Case) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputDir = dir.appendingPathComponent("in"), outDir = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: inputDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        var args = ["segment"] + (try c.arguments(inputDir))
        if !args.contains("--classes") && !args.contains("--vocab") { args += ["--classes", "person, car"] }
        let out = outDir.appendingPathComponent(args[1].hasSuffix(".png") ? "o.png" : "o.mp4").path
        args += ["-o", out, "--masks", outDir.appendingPathComponent("masks").path, "--jsonl",
                 outDir.appendingPathComponent("o.jsonl").path, "--progress", "never"]
        let r = try run(Repo.cli, args)
        #expect(r.status == c.expectedStatus, "\(c): status \(r.status), stderr: \(r.stderr)")
        let lines = r.stderr.split(whereSeparator: \.isNewline)
        #expect(lines.count == 1, "\(c): expected one error line, got: \(r.stderr)")
        #expect(r.stderr.contains(c.mentions(inputDir)), "\(c): error does not name it: \(r.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: outDir.path).filter { $0 != "masks" }
        #expect(left.isEmpty, "\(c): left behind \(left)")
        let masks = (try? FileManager.default.contentsOfDirectory(atPath: outDir.appendingPathComponent("masks").path)) ?? []
        #expect(masks.isEmpty, "\(c): left masks \(masks)")
    }

    @Test func outputEqualToInputIsAUsageError() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("clip.mp4")
        try FileManager.default.copyItem(atPath: Repo.sample("clip_640x360_aac.mp4"), toPath: input.path)
        let before = try Data(contentsOf: input)
        let r = try run(Repo.cli, ["segment", input.path, "--classes", "a, b", "-o", input.path])
        #expect(r.status == 2)
        #expect(r.stderr.contains("clip.mp4") && r.stderr.contains("overwrite the input"))
        #expect(try Data(contentsOf: input) == before)
    }

    @Test func unwritableOutputPathIsAUsageError() throws {
        // Root ignores permission bits, so use a directory that does not exist and a path inside /proc.
        for out in ["/nonexistent-vocaseg-dir/out.mp4", "/proc/vocaseg-out.mp4"] {
            let r = try run(Repo.cli, ["segment", Repo.sample("clip_640x360_aac.mp4"), "--classes", "a, b", "-o", out])
            #expect(r.status == 2, "\(out): \(r.stderr)")
            #expect(r.stderr.contains(out))
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    @Test func unknownModelNameIsAUsageErrorBeforeDecoding() throws {
        let r = try run(Repo.cli, ["segment", Repo.sample("still.png"), "--classes", "a, b", "--model", "errseg-xl",
                                   "-o", "/tmp/unused-\(UUID().uuidString).png"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("errseg-xl"))
    }

    /// A valid input but no checkpoint in the model directory: exit 4, saying where to get it and where to put it,
    /// and nothing written.
    @Test func missingWeightsAreAModelError() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        let r = try run(Repo.cli, ["segment", Repo.sample("clip_640x360_aac.mp4"), "--classes", "a, b", "-o", out],
                        environment: ["VOCASEG_MODELS": dir.path])
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.contains(dir.appendingPathComponent("errseg-b/model_final.pth").path))
        #expect(r.stderr.contains("huggingface.co/lchen1019/ERR-Seg"))
        #expect(r.stderr.split(whereSeparator: \.isNewline).count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func aCheckpointThatIsNotERRSegIsAModelError() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fake = dir.appendingPathComponent("weights.pth")
        try "not a checkpoint".write(to: fake, atomically: true, encoding: .utf8)
        let r = try run(Repo.cli, ["segment", Repo.sample("still.png"), "--classes", "a, b", "--model", fake.path,
                                   "-o", dir.appendingPathComponent("o.png").path])
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.contains("weights.pth"))
    }

    @Test func argumentParserUsageErrorsExitWithTwo() throws {
        let r = try run(Repo.cli, ["segment", "--every", "many", "x.mp4"])
        #expect(r.status == 2)
    }
}
