import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

@Suite("safetensors")
struct SafetensorsTests {
    @Test("a file written by the Python safetensors package reads with torch's names, dtypes, shapes and values")
    func readsPythonFile() throws {
        let checkpoint = try CheckpointFile.open(path: try Fixtures.path("python.safetensors"))
        #expect(checkpoint.format == .safetensors)
        #expect(checkpoint.metadata["writer"] == "make_checkpoint_fixtures")
        let expected = try Fixtures.expected("python.safetensors")
        // safetensors stores its own order (by dtype alignment, then name), so compare as sets plus values.
        #expect(Set(checkpoint.names) == Set(expected.map(\.name)))
        let ordered = expected.sorted { (checkpoint.names.firstIndex(of: $0.name) ?? 0)
            < (checkpoint.names.firstIndex(of: $1.name) ?? 0) }
        try expectMatchesTorch(checkpoint, ordered)
    }

    @Test("write then read round-trips names, order, dtypes, shapes, values and metadata")
    func roundTrip() throws {
        let path = Fixtures.temporaryPath("roundtrip.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let values: [Float] = [1, -2.5, .pi, 0, -0.0, 1e-30]
        let halfBits: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7BFF] // 1, -2, smallest subnormal, 65504
        let tensors = [
            SafetensorsWriter.Tensor(name: "b.weight", shape: [2, 3], values: values),
            SafetensorsWriter.Tensor(name: "a.half", dtype: .float16, shape: [4],
                                     bytes: halfBits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }),
            SafetensorsWriter.Tensor(name: "weird \"name\"\n", dtype: .int64, shape: [1],
                                     bytes: [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            SafetensorsWriter.Tensor(name: "scalar", shape: [], values: [7]),
        ]
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: path)
        let checkpoint = try CheckpointFile.open(path: path)
        #expect(checkpoint.names == ["b.weight", "a.half", "weird \"name\"\n", "scalar"])
        #expect(checkpoint.metadata == ["format": "pt"])
        #expect(checkpoint["b.weight"]?.float32() == values)
        #expect(checkpoint["a.half"]?.float32() == [1, -2, 0x1p-24, 65504])
        #expect(try checkpoint["weird \"name\"\n"]?.int64() == [-2])
        #expect(checkpoint["scalar"]?.shape == [] && checkpoint["scalar"]?.float32() == [7])
        // The data section starts 8-byte aligned, as the reference writer guarantees.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0)
    }

    @Test("the writer refuses a byte count that does not match the shape")
    func writerValidates() {
        let path = Fixtures.temporaryPath("bad.safetensors")
        #expect(throws: VocaSegError.self) {
            try SafetensorsWriter.write([.init(name: "x", dtype: .float32, shape: [3], bytes: [0, 0, 0, 0])],
                                        to: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
