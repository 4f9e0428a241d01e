import Foundation
import Testing
import VocaSegCheckpoint
import VocaSegCore
@testable import VocaSegModels

/// The family registry's checkpoint verdicts, on one-tensor safetensors files holding a signature key
/// (shapes from ../shared/specs/{errseg,eovseg}-statedict-*.txt).
@Suite struct ModelFamiliesTests {
    static func checkpoint(_ key: String, _ shape: [Int], also extra: [(String, [Int])] = []) throws -> (Checkpoint, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-sig-\(UUID().uuidString).safetensors").path
        let tensors = ([(key, shape)] + extra).map { name, shape in
            SafetensorsWriter.Tensor(name: name, shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *)))
        }
        try SafetensorsWriter.write(tensors, to: path)
        return (try CheckpointFile.open(path: path), path)
    }

    @Test(arguments: [([128, 3, 4, 4], "B"), ([192, 3, 4, 4], "L")])
    func aSEDCheckpointIsRecognisedByItsDecoder(stem: [Int], variant: String) throws {
        let (checkpoint, path) = try Self.checkpoint("sem_seg_head.predictor.clip_model.visual.trunk.stem.0.weight", stem,
                                                     also: [("sem_seg_head.predictor.transformer.head0.weight", [1, 128, 3, 3])])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = ModelFamilies.recognize(checkpoint)
        #expect(r.family == "SED" && r.variant == variant && r.supported)
        #expect(try ModelFamilies.resolve(checkpoint: checkpoint).variant.name == "sed-\(variant.lowercased())")
    }

    @Test(arguments: [
        ("sem_seg_head.clip_model.visual.trunk.stem.0.weight", [128, 3, 4, 4], "ERR-Seg", "B", true),
        ("sem_seg_head.clip_model.visual.trunk.stem.0.weight", [192, 3, 4, 4], "ERR-Seg", "L", true),
        ("cnn_backbone.clip_model.visual.trunk.stem.0.weight", [192, 3, 4, 4], "EOV-Seg", "L", true),
        ("cnn_backbone.clip_model.visual.conv1.weight", [32, 3, 3, 3], "EOV-Seg", "S", true),
        ("cnn_backbone.clip_model.visual.conv1.weight", [40, 3, 3, 3], "EOV-Seg", "M", true),
        ("sem_seg_head.predictor.clip_model.visual.trunk.stem.0.weight", [192, 3, 4, 4], "CAT-Seg", "", false),
        ("sem_seg_head.predictor.clip_model.visual.conv1.weight", [768, 3, 16, 16], "CAT-Seg", "", false),
    ])
    func recognition(key: String, shape: [Int], family: String, variant: String, supported: Bool) throws {
        let (checkpoint, path) = try Self.checkpoint(key, shape)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = ModelFamilies.recognize(checkpoint)
        #expect(r.family == family && (r.variant ?? "") == variant && r.supported == supported)
        #expect(r.evidence.contains(key))
    }

    @Test func aCATSegCheckpointIsRefusedInOneLineNamingTheFile() throws {
        let (checkpoint, path) = try Self.checkpoint("sem_seg_head.predictor.clip_model.visual.trunk.stem.0.weight",
                                                     [192, 3, 4, 4])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = try #require(throws: VocaSegError.self) { try ModelFamilies.resolve(checkpoint: checkpoint) }
        #expect(error.kind == .model && error.path == path)
        #expect(error.message.contains("CAT-Seg") && error.message.contains("cannot run yet"), "\(error.message)")
        #expect(!error.description.contains("\n"))
    }

    @Test func anUnknownCheckpointIsUnknown() throws {
        let (checkpoint, path) = try Self.checkpoint("encoder.weight", [3])
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ModelFamilies.recognize(checkpoint) == .unknown)
    }

    @Test func namesOptionsAndTasksComeFromTheFamilies() throws {
        #expect(ModelFamilies.variantNames == ["errseg-b", "errseg-l", "eovseg-s", "eovseg-m", "eovseg-l", "sed-b", "sed-l"])
        #expect(ModelFamilies.variant(named: "errseg-l")?.variant.label == "L")
        #expect(ModelFamilies.help(for: "resize").contains("Default: official"))
        let family = ERRSegFamily()
        #expect(try family.task(nil) == .semantic)
        #expect(throws: VocaSegError.self) { try family.task("panoptic") }
        #expect(throws: VocaSegError.self) { try ModelFamilies.validate(settings: ["crm-k": "0"], for: family) }
        #expect(throws: VocaSegError.self) { try ModelFamilies.validate(settings: ["resize": "bicubic"], for: family) }
        #expect(throws: VocaSegError.self) { try ModelFamilies.validate(settings: ["bogus": "1"], for: family) }
        try ModelFamilies.validate(settings: ["crm-k": "8", "resize": "direct", "crm-refresh": "1"], for: family)
        let o = family.runOptions(["crm-k": "8", "resize": "direct"])
        #expect(o.classesKept == 8 && o.resizeMode == .direct && o.crmRefresh == 8)
        #expect(family.notices(settings: ["crm-k": "64"], vocabularySize: 20).count == 1)
        #expect(family.notices(settings: ["crm-k": "8"], vocabularySize: 20).isEmpty)
    }
}
