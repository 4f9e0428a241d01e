import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

@Suite("WeightStore")
struct WeightStoreTests {
    @Test("missing, unexpected, shape and dtype problems are all collected and reported together")
    func collectsEveryProblem() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("detectron2.pth"))
        let store = WeightStore(checkpoint: checkpoint, ignoring: [.init("2", reason: "unused head")])
        let first = store.scope("0")
        #expect(first.take("weight", shape: [3, 4]).count == 12)       // fine
        #expect(first.take("bias", shape: [4]) == [0, 0, 0, 0])         // shape mismatch: zeros of the asked shape
        let norm = store.scope("1")
        _ = norm.take("weight", shape: [3])
        _ = norm.take("running_mean", shape: [3])
        _ = norm.take("num_batches_tracked", shape: [])                // int64 asked as float: dtype mismatch
        _ = norm.take("gamma", shape: [3])                             // missing
        _ = store.scope("3").take("weight", shape: [1, 1])             // missing
        // Not taken: 1.bias, 1.running_var → unexpected; 2.* → ignored by rule; optimizer etc. → ignored.

        let error = try #require(throws: VocaSegError.self) { try store.finish() }
        #expect(error.kind == .model)
        #expect(error.path == checkpoint.path)
        #expect(error.message.contains("2 missing (1.gamma [3], 3.weight [1, 1])"), "\(error)")
        #expect(error.message.contains("2 unexpected (1.bias, 1.running_var)"), "\(error)")
        #expect(error.message.contains("1 shape mismatches (0.bias: model [4], checkpoint [3])"), "\(error)")
        #expect(error.message.contains("1 dtype mismatches (1.num_batches_tracked"), "\(error)")

        let report = store.report
        #expect(report.loadedCount == 3)
        #expect(report.missing.map(\.key) == ["1.gamma", "3.weight"])
        #expect(report.ignored.map(\.key) == ["optimizer", "scheduler", "iteration", "2.weight", "2.bias"])
        #expect(report.ignored.last?.reason == "unused head")
        #expect(report.fullText.split(separator: "\n").count == 1 + 2 + 2 + 1 + 1 + 5)
    }

    @Test("a model that takes exactly the checkpoint finishes cleanly, with torch's values")
    func cleanLoad() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("detectron2.pth"))
        let expected = try Fixtures.expected("detectron2.pth")
        let store = WeightStore(checkpoint: checkpoint)
        for want in expected where want.dtype == "float32" {
            #expect(store.take(want.name, shape: want.shape) == want.values.map { Float($0) })
        }
        #expect(store.takeInt64("1.num_batches_tracked", shape: []) == [1])
        #expect(store.children(of: "") == ["0", "1", "2"])
        let report = try store.finish()
        #expect(report.isClean && report.loadedCount == expected.count)
    }

    @Test("non-tensor values inside the state dict are reported as unexpected, not silently dropped")
    func nonTensorEntries() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("with_extra_state.pth"))
        #expect(checkpoint.nonTensorEntries == [NonTensorEntry(name: "layer._extra_state.mode", kind: "str"),
                                                NonTensorEntry(name: "version", kind: "int")])
        let store = WeightStore(checkpoint: checkpoint)
        _ = store.take("layer.weight", shape: [2])
        #expect(store.report.unexpected == ["layer._extra_state.mode", "version"])
        store.ignore("version", reason: "bookkeeping")
        store.ignore("layer._extra_state", reason: "not a weight")
        #expect(try store.finish().ignored.count == 2)
    }

    @Test("an in-memory store reports like a checkpoint-backed one")
    func inMemory() throws {
        let store = try WeightStore(values: ["a.w": ([2], [1, 2]), "a.b": ([1], [3]), "extra": ([1], [0])],
                                    ignoring: [.init("extra", reason: "test")])
        #expect(store.scope("a").take("w", shape: [2]) == [1, 2])
        #expect(store.scope("a").takeIfPresent("missing", shape: [2]) == nil)
        #expect(store.scope("a").take("b", shape: [1]) == [3])
        #expect(try store.finish().ignored == [.init(key: "extra", reason: "test")])
        #expect(throws: VocaSegError.self) { try WeightStore(values: ["x": ([3], [1])]) }
    }

    @Test("the one-line summary lists only the first ten of each kind")
    func summaryIsBounded() throws {
        let store = try WeightStore(values: [:])
        for index in 0..<25 { _ = store.take("w\(index)", shape: [1]) }
        let error = try #require(throws: VocaSegError.self) { try store.finish() }
        #expect(error.message.contains("25 missing"))
        #expect(error.message.contains("… 15 more"))
        #expect(!error.message.contains("w10 "))
        #expect(store.report.missing.count == 25)
    }
}
