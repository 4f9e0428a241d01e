import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

@Suite("inspection")
struct CheckpointSummaryTests {
    @Test("totals, per-tensor sizes and JSON encoding")
    func summary() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("basic.pth"))
        let summary = CheckpointSummary(checkpoint)
        let expected = try Fixtures.expected("basic.pth")
        #expect(summary.tensorCount == expected.count)
        #expect(summary.totalElements == expected.reduce(0) { $0 + $1.values.count })
        let f16 = try #require(summary.tensors.first { $0.name == "f16" })
        #expect(f16.byteCount == 12 && f16.elementCount == 6 && f16.dtype == .float16)
        #expect(summary.model.family == "unknown")
        let json = try JSONEncoder().encode(summary)
        let decoded = try JSONDecoder().decode(CheckpointSummary.self, from: json)
        #expect(decoded == summary)
        #expect(String(decoding: json, as: UTF8.self).contains("\"dtype\":\"bfloat16\""))
    }

    /// Signature shapes from ../shared/specs/{errseg,eovseg}-statedict-*.txt.
    @Test("model family and variant from signature keys", arguments: [
        ("sem_seg_head.clip_model.visual.trunk.stem.0.weight", [128, 3, 4, 4], "ERR-Seg", "B"),
        ("sem_seg_head.clip_model.visual.trunk.stem.0.weight", [192, 3, 4, 4], "ERR-Seg", "L"),
        ("cnn_backbone.clip_model.visual.trunk.stem.0.weight", [192, 3, 4, 4], "EOV-Seg", "L"),
        ("cnn_backbone.clip_model.visual.conv1.weight", [32, 3, 3, 3], "EOV-Seg", "S"),
        ("cnn_backbone.clip_model.visual.conv1.weight", [40, 3, 3, 3], "EOV-Seg", "M"),
    ])
    func identification(key: String, shape: [Int], family: String, variant: String) throws {
        let path = Fixtures.temporaryPath("signature.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let count = shape.reduce(1, *)
        try SafetensorsWriter.write([.init(name: key, shape: shape, values: [Float](repeating: 0, count: count))],
                                    to: path)
        let model = CheckpointSummary(try CheckpointFile.open(path: path)).model
        #expect(model.family == family && model.variant == variant)
        #expect(model.evidence.contains(key))
    }
}

@Suite("inspection text")
struct CheckpointSummaryTextTests {
    @Test("the text rendering has a header and one line per tensor")
    func text() throws {
        let summary = CheckpointSummary(try CheckpointFile.open(path: try Fixtures.path("detectron2.pth")))
        let lines = summary.text.split(separator: "\n")
        #expect(lines.count == 5 + summary.tensorCount)
        #expect(lines.contains("skipped: optimizer, scheduler, iteration"))
        #expect(lines.last?.contains("2.bias") == true)
        #expect(CheckpointSummary.megabytes(1_572_864) == "1.5 MiB")
    }
}
