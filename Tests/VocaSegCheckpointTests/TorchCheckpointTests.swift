import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

@Suite("torch.save checkpoints")
struct TorchCheckpointTests {
    @Test("every dtype, scalars and empty tensors load as torch saved them")
    func basicDTypes() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("basic.pth"))
        #expect(checkpoint.format == .pytorchZip)
        #expect(checkpoint.stateDictKey == nil)
        try expectMatchesTorch(checkpoint, try Fixtures.expected("basic.pth"))
        let scalar = try #require(checkpoint["scalar"])
        #expect(scalar.shape == [] && scalar.elementCount == 1 && scalar.float32() == [3.5])
        let empty = try #require(checkpoint["empty"])
        #expect(empty.shape == [0, 3] && empty.float32().isEmpty)
    }

    @Test("integer tensors refuse to be read as int64 when they are floats")
    func int64OfFloatTensorThrows() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("basic.pth"))
        let record = try #require(checkpoint["f32"])
        #expect(throws: VocaSegError.self) { try record.int64() }
    }

    @Test("transposed and strided views and shared storages are read through their strides and offsets")
    func viewsAndSharedStorage() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("views.pth"))
        let expected = try Fixtures.expected("views.pth")
        try expectMatchesTorch(checkpoint, expected)
        for want in expected {
            let record = try #require(checkpoint[want.name])
            #expect(record.strides == want.strides, "\(want.name)")
            #expect(record.storageOffset == want.storage_offset, "\(want.name)")
        }
        let transposed = try #require(checkpoint["transposed"])
        #expect(!transposed.isContiguous)
        #expect(try #require(checkpoint["expanded"]).strides == [0, 1])
        // shared_a, shared_b and shared_all are views of one torch storage: one zip entry, one TensorStorage.
        let a = try #require(checkpoint["shared_a"]), b = try #require(checkpoint["shared_b"])
        let all = try #require(checkpoint["shared_all"])
        #expect(a.storage === b.storage && b.storage === all.storage)
        #expect(a.storageOffset == 2 && b.storageOffset == 10)
    }

    @Test("nested dicts flatten to dotted names")
    func nestedDicts() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("nested.pth"))
        try expectMatchesTorch(checkpoint, try Fixtures.expected("nested.pth"))
        #expect(checkpoint.names.contains("encoder.layer0.weight"))
    }

    @Test("a detectron2 wrapper yields its 'model' state dict and skips optimizer, scheduler and iteration")
    func detectron2Wrapper() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("detectron2.pth"))
        try expectMatchesTorch(checkpoint, try Fixtures.expected("detectron2.pth"))
        #expect(checkpoint.stateDictKey == "model")
        #expect(checkpoint.skippedTopLevelKeys == ["optimizer", "scheduler", "iteration"])
        #expect(checkpoint["1.num_batches_tracked"]?.dtype == .int64)
    }

    @Test("a checkpoint converts to safetensors and back without loss")
    func pthToSafetensors() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("views.pth"))
        let output = Fixtures.temporaryPath("views.safetensors")
        defer { try? FileManager.default.removeItem(atPath: output) }
        try SafetensorsWriter.write(checkpoint.tensors.map(SafetensorsWriter.Tensor.init), to: output)
        let reread = try CheckpointFile.open(path: output)
        try expectMatchesTorch(reread, try Fixtures.expected("views.pth"))
    }
}

@Suite("zip64")
struct Zip64Tests {
    @Test("sizes, offsets and the end record read through zip64 fields give the same tensors")
    func zip64Everywhere() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("zip64.pth"))
        try expectMatchesTorch(checkpoint, try Fixtures.expected("zip64.pth"))
    }
}
