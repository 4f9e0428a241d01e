import Foundation
import Testing

/// `vocaseg inspect` through the real CLI on files written by `torch.save` (Scripts/reference/
/// make_checkpoint_fixtures.py); the expected names, dtypes and shapes are what PyTorch saw when it wrote them.
@Suite struct InspectCLITests {
    static let fixtures = Repo.root.appendingPathComponent("Tests/VocaSegCheckpointTests/Fixtures")

    struct Expected: Decodable { var name: String; var dtype: String; var shape: [Int] }
    struct Listed: Decodable { var name: String; var dtype: String; var shape: [Int] }
    struct Summary: Decodable { var tensors: [Listed]; var stateDictKey: String?; var tensorCount: Int }

    @Test(arguments: ["basic.pth", "views.pth", "detectron2.pth", "nested.pth"])
    func listsExactlyTheTensorsPyTorchSaw(_ name: String) throws {
        let expectedAll = try JSONDecoder().decode(
            [String: [Expected]].self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json")))
        let expected = try #require(expectedAll[name])
        let r = try run(Repo.cli, ["inspect", "--json", Self.fixtures.appendingPathComponent(name).path])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try JSONDecoder().decode(Summary.self, from: r.stdoutData)
        #expect(summary.tensorCount == expected.count)
        #expect(summary.tensors.map(\.name).sorted() == expected.map(\.name).sorted())
        for e in expected {
            let listed = try #require(summary.tensors.first { $0.name == e.name })
            #expect(listed.shape == e.shape, "\(e.name)")
            #expect(listed.dtype == e.dtype, "\(e.name)")
        }
        if name == "detectron2.pth" { #expect(summary.stateDictKey == "model") }
    }

    /// A pickle that runs `os.system("touch …")` under `torch.load(weights_only=False)`: refused with exit 4 and
    /// a message naming the global, and the file it would have created does not exist afterwards.
    @Test(arguments: ["malicious_system.pth", "malicious_eval.pth"])
    func aMaliciousPickleIsRefusedAndDoesNotRun(_ name: String) throws {
        let marker = "/tmp/vocaseg-pwned-checkpoint-fixture"
        try? FileManager.default.removeItem(atPath: marker)
        let r = try run(Repo.cli, ["inspect", Self.fixtures.appendingPathComponent(name).path])
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.contains(name) && r.stderr.contains("refused global"), "\(r.stderr)")
        #expect(r.stderr.split(whereSeparator: \.isNewline).count == 1)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func aHumanTableNamesTheModelAndTotals() throws {
        let r = try run(Repo.cli, ["inspect", Self.fixtures.appendingPathComponent("detectron2.pth").path])
        #expect(r.status == 0)
        #expect(r.stdout.contains("9 tensors") && r.stdout.contains("model: unknown"), "\(r.stdout)")
    }
}
