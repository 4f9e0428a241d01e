import Foundation
import Testing
import VocaSegCheckpoint
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The one weight loader, on the checkpoint layer's fixtures (Scripts/reference/make_checkpoint_fixtures.py).
@Suite struct WeightLoaderTests {
    static func fixture(_ name: String) -> String {
        ERRSegGoldens.repositoryRoot.appendingPathComponent("Tests/VocaSegCheckpointTests/Fixtures/\(name)").path
    }

    @Test("missing, unexpected, shape and dtype problems are all collected and reported together")
    func collectsEveryProblem() throws {
        let loader = try WeightLoader(path: Self.fixture("detectron2.pth"))
        loader.ignore("2", reason: "unused head")
        let first = loader.scope("0")
        #expect(first.tensor("weight", [3, 4]).count == 12)                // fine
        #expect(first.tensor("bias", [4]).toArray() == [0, 0, 0, 0])       // shape mismatch: zeros of the asked shape
        let norm = loader.scope("1")
        _ = norm.tensor("weight", [3])
        _ = norm.tensor("running_mean", [3])
        _ = norm.tensor("num_batches_tracked", [])                        // int64 asked as float: dtype mismatch
        _ = norm.tensor("gamma", [3])                                     // missing
        _ = loader.scope("3").tensor("weight", [1, 1])                    // missing
        let error = try #require(throws: VocaSegError.self) { try loader.finish() }
        #expect(error.kind == .model && error.path == Self.fixture("detectron2.pth"))
        #expect(error.message.contains("6 problem(s)"), "\(error.message)")
        #expect(error.message.contains("2 missing (1.gamma [3], 3.weight [1, 1])"), "\(error.message)")
        #expect(error.message.contains("2 unexpected (1.bias, 1.running_var)"), "\(error.message)")
        #expect(error.message.contains("1 shape mismatches (0.bias: model [4], checkpoint [3])"), "\(error.message)")
        #expect(error.message.contains("1 dtype mismatches (1.num_batches_tracked"), "\(error.message)")
        let report = loader.report
        #expect(report.loadedCount == 3)
        #expect(report.ignored.map(\.key) == ["optimizer", "scheduler", "iteration", "2.weight", "2.bias"])
        #expect(report.ignored.last?.reason == "unused head")
    }

    @Test("non-tensor values inside the state dict are unexpected until the model ignores them")
    func nonTensorEntries() throws {
        let loader = try WeightLoader(path: Self.fixture("with_extra_state.pth"))
        _ = loader.tensor("layer.weight", shape: [2])
        #expect(loader.report.unexpected == ["layer._extra_state.mode", "version"])
        loader.ignore("version", reason: "bookkeeping")
        loader.ignore("layer._extra_state")
        #expect(try loader.finish().ignored.count == 2)
    }

    @Test("random weights depend on the key and seed only, not on the order they are asked in")
    func randomWeightsAreOrderFree() throws {
        let a = RandomWeights.loader(seed: 3), b = RandomWeights.loader(seed: 3)
        let x1 = a.tensor("p.weight", shape: [4, 8]).toArray()
        _ = b.tensor("q.weight", shape: [4, 8])
        #expect(b.tensor("p.weight", shape: [4, 8]).toArray() == x1)
        #expect(RandomWeights.loader(seed: 4).tensor("p.weight", shape: [4, 8]).toArray() != x1)
        try a.finish()
    }
}
