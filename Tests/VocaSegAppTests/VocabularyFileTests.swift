import Foundation
import Testing
import VocaSegCore
@testable import VocaSegApp

/// Vocabulary files that name two classes alike (issue 15: ADE-847 has two `screen`s, two `pot`s, …) keep each
/// line as its own class, with a one-line notice; a name typed twice (`--classes`, a pipeline file's inline list)
/// stays a usage error.
@Suite struct VocabularyFileTests {
    /// `../shared/data/vocab/ade847.json` beside the repository: the paper's own benchmark vocabulary.
    static let ade847 = Repo.root.deletingLastPathComponent().appendingPathComponent("shared/data/vocab/ade847.json").path

    func write(_ text: String, named name: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aTextFileWithRepeatedNamesKeepsEveryLineAndSaysSo() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try write("screen, crt screen\npot\nsky\nscreen, silver screen [stuff]\nPot\n", named: "v.txt", in: dir)
        let v = try VocabularyLoader.load(classes: nil, file: path)
        #expect(v.names == ["screen", "pot", "sky", "screen", "Pot"])
        #expect(v.classes[0].synonyms == ["screen", "crt screen"])
        #expect(v.classes[3].synonyms == ["screen", "silver screen"] && !v.classes[3].isThing)
        #expect(v.repeatedNames == ["screen", "Pot"])
        #expect(VocabularyLoader.notices(for: v, file: path)
                == ["\(path): 2 names appear more than once (screen, Pot); each line stays its own class"])
        // Each class keeps its own colour, so the overlay and the palettes tell them apart; the first of a name
        // keeps the colour the name always had.
        let colors = Palette.colors(forClassNames: v.names).map { [$0.r, $0.g, $0.b] }
        #expect(colors[0] != colors[3] && colors[1] != colors[4])
        let own = Palette.color(forClassName: "screen")
        #expect(colors[0] == [own.r, own.g, own.b])
        #expect(Set(colors.map { $0.map(String.init).joined(separator: ",") }).count == 5)
    }

    @Test func aJSONListWithRepeatedNamesToo() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try write(#"["bag", "sky", "bag, handbag, purse"]"#, named: "v.json", in: dir)
        let v = try VocabularyLoader.load(classes: nil, file: path)
        #expect(v.count == 3 && v.names == ["bag", "sky", "bag"])
        #expect(VocabularyLoader.notices(for: v, file: path)
                == ["\(path): 1 name appears more than once (bag); each entry stays its own class"])
    }

    @Test func aFileWithoutRepeatsGivesNoNotice() throws {
        let v = try Vocabulary(fileContents: "sky\nroad\n", path: "v.txt")
        #expect(v.repeatedNames.isEmpty)
        #expect(VocabularyLoader.notices(for: v, file: "v.txt").isEmpty)
    }

    @Test func aNameTypedTwiceIsStillAUsageError() {
        #expect(throws: VocaSegError(.usage, "the vocabulary names a class more than once: a")) {
            try VocabularyLoader.load(classes: "a, b, a", file: nil)
        }
        #expect(throws: VocaSegError(.usage, "the vocabulary names a class more than once: Car, person")) {
            try Vocabulary(commaSeparated: "car, person, Car, tree, person, CAR")
        }
        // Built in code, a vocabulary refuses repeats unless asked to allow them.
        #expect(throws: VocaSegError.self) { try Vocabulary(classes: [.init(synonyms: ["a"]), .init(synonyms: ["A"])]) }
        #expect(throws: Never.self) {
            try Vocabulary(classes: [.init(synonyms: ["a"]), .init(synonyms: ["A"])], allowingRepeatedNames: true)
        }
    }

    /// A pipeline file's inline `vocabulary:` is typed like `--classes` (an error); its `vocabulary_file:` is a
    /// vocabulary file (each line its own class).
    @Test func pipelineFilesFollowTheSameRule() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: VocaSegError.self) { try PipelineFile.parse("vocabulary: [pot, sky, pot]\n", path: "p.yaml") }
        _ = try write("pot\nsky\npot, flowerpot\n", named: "words.txt", in: dir)
        let pipeline = try write("vocabulary_file: words.txt\n", named: "p.yaml", in: dir)
        var o = SegmentOptions()
        try PipelineFile.load(path: pipeline).apply(to: &o, explicitlySet: [])
        let v = try VocabularyLoader.load(classes: o.classes, file: o.vocabularyFile)
        #expect(v.names == ["pot", "sky", "pot"])
        #expect(VocabularyLoader.notices(for: v, file: o.vocabularyFile).first?.contains("(pot)") == true)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: VocabularyFileTests.ade847),
                   "needs ../shared/data/vocab/ade847.json beside the repository (the shared benchmark vocabularies)"))
    func theOfficialADE847ListLoads() throws {
        let v = try VocabularyLoader.load(classes: nil, file: Self.ade847)
        #expect(v.count == 847)
        // The eight of issue 15 in the order of their repeats, and "control panel" (entries 209 and 769), which the
        // issue's list missed.
        let expected = ["screen", "pot", "bag", "pier", "patio", "basket", "pipe", "grill", "control panel"]
        #expect(v.repeatedNames == expected)
        let notices = VocabularyLoader.notices(for: v, file: Self.ade847)
        #expect(notices == ["\(Self.ade847): 9 names appear more than once (\(expected.joined(separator: ", "))); "
                            + "each entry stays its own class"])
        // Two classes of one name are two rows of the model's text: different synonyms, different indices.
        let screens = v.classes.indices.filter { v.classes[$0].name == "screen" }
        #expect(screens == [147, 153])
        #expect(v.classes[147].synonyms != v.classes[153].synonyms)
    }

    /// In process with the quadrant model: the two `screen` classes are labels 1 and 3 in the label maps and the
    /// JSON lines, and classes.json lists both.
    @Test func repeatedClassesKeepTheirIndicesInEveryOutput() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = SegmentOptions()
        o.inputs = [Repo.sample("still.png")]
        o.output = dir.appendingPathComponent("out.png").path
        o.vocabularyFile = try write("sky\nscreen, crt screen\nroad\nscreen, projection screen\n", named: "v.txt", in: dir)
        o.masksDirectory = dir.appendingPathComponent("masks").path
        o.jsonLinesPath = dir.appendingPathComponent("out.jsonl").path
        o.progress = .never
        _ = try SegmentJob(options: o, modelProvider: { _ in QuadrantModel() }).run()

        let lines = try String(contentsOfFile: o.jsonLinesPath!, encoding: .utf8).split(whereSeparator: \.isNewline)
        let header = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(header["vocabulary"] as? [String] == ["sky", "screen", "road", "screen"])
        let frame = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        let present = (frame["classes"] as! [[String: Any]]).map { "\($0["id"]!) \($0["name"]!)" }
        #expect(present == ["0 sky", "1 screen", "2 road", "3 screen"])
        let table = try classesJSON(o.masksDirectory!)
        #expect(table.map { $0["index"] as! Int } == [0, 1, 2, 3])
        #expect(table.map { $0["name"] as! String } == ["sky", "screen", "road", "screen"])
        #expect(table[1]["color"] as! [Int] != table[3]["color"] as! [Int])
    }

    func classesJSON(_ masks: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: masks).appendingPathComponent("classes.json"))
        return (try JSONSerialization.jsonObject(with: data) as! [String: Any])["classes"] as! [[String: Any]]
    }

    /// The real CLI (random ERR-Seg weights, 32×32 input): the notice is one line on stderr naming the file, and
    /// classes.json lists both classes of the repeated name with their own ids.
    @Test func theCLIKeepsRepeatedClassesAndPrintsTheNotice() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = try write(#"["sky", "screen, crt screen", "road", "screen, silver screen, projection screen"]"#,
                              named: "bench.json", in: dir)
        let masks = dir.appendingPathComponent("masks").path
        let r = try run(Repo.cli, ["segment", Repo.sample("still.png"), "-o", dir.appendingPathComponent("o.png").path,
                                   "--weights", "random", "--size", "32", "--vocab", vocab, "--masks", masks,
                                   "--jsonl", dir.appendingPathComponent("o.jsonl").path, "--progress", "never"],
                        environment: ["VOCASEG_CACHE": dir.appendingPathComponent("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        let notices = r.stderr.split(whereSeparator: \.isNewline).filter { $0.contains("more than once") }
        #expect(notices.count == 1, "\(r.stderr)")
        #expect(notices.first?.contains("\(vocab): 1 name appears more than once (screen); each entry stays its own class")
                == true, "\(r.stderr)")
        let table = try classesJSON(masks)
        let screens = table.filter { $0["name"] as? String == "screen" }
        #expect(screens.map { $0["index"] as! Int } == [1, 3])
        #expect(screens.map { $0["synonyms"] as! [String] }
                == [["screen", "crt screen"], ["screen", "silver screen", "projection screen"]])

        // Typed on the command line, the same repeat is refused (exit 2) before anything runs.
        let typed = try run(Repo.cli, ["segment", Repo.sample("still.png"), "-o", dir.appendingPathComponent("t.png").path,
                                       "--weights", "random", "--size", "32", "--classes", "a, b, a", "--progress", "never"])
        #expect(typed.status == 2, "\(typed.stderr)")
        #expect(typed.stderr.contains("the vocabulary names a class more than once: a"), "\(typed.stderr)")
    }
}
