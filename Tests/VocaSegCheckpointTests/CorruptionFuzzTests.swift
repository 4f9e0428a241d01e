import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

/// Deterministic corruption of good fixtures: every outcome must be a clean `.model` error or a checkpoint whose
/// tensors all convert — never a crash, hang or out-of-bounds read.
@Suite("corrupted checkpoints")
struct CorruptionFuzzTests {
    /// xorshift64*, so the mutations are the same on every run.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    }

    static func openAndConvert(_ bytes: [UInt8], at path: String) -> Bool {
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        do {
            let checkpoint = try CheckpointFile.open(path: path)
            for tensor in checkpoint.tensors {
                _ = tensor.float32()
                _ = tensor.contiguousBytes()
            }
            return true
        } catch let error as VocaSegError {
            return error.kind == .model
        } catch {
            return false
        }
    }

    @Test("random byte flips and truncations", arguments: ["basic.pth", "detectron2.pth", "views.pth",
                                                          "python.safetensors"])
    func mutations(file: String) throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try Fixtures.path(file))))
        let path = Fixtures.temporaryPath("fuzz-\(file)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var random = Generator(state: 0x9E37_79B9_7F4A_7C15 ^ UInt64(original.count))
        for round in 0..<200 {
            var bytes = original
            for _ in 0..<(1 + random.below(4)) {
                // Mostly hit the structure (pickle / JSON header near the start, zip directory at the end),
                // where a flipped byte changes what the reader believes, rather than tensor payload.
                let position: Int
                switch random.below(3) {
                case 0: position = random.below(Swift.min(800, bytes.count))
                case 1: position = bytes.count - 1 - random.below(Swift.min(600, bytes.count))
                default: position = random.below(bytes.count)
                }
                bytes[position] = UInt8(truncatingIfNeeded: random.next())
            }
            if round % 5 == 0 { bytes.removeLast(random.below(bytes.count)) }
            #expect(Self.openAndConvert(bytes, at: path), "\(file) round \(round)")
        }
    }
}
