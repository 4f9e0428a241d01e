import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The B and L models ask for exactly the keys and shapes of the official checkpoints, as listed in
/// ../shared/specs/errseg-statedict-{B,L}.txt (read from the real state dict layout): nothing missing, nothing
/// misshapen, nothing left over. Weights are zeros of the listed shapes; only the key paths are under test.
@Suite(.serialized) struct ERRSegKeyListTests {
    static let specs = ERRSegGoldens.repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/specs")

    /// name → shape from lines `name<TAB>[d0, d1, …]<TAB>dtype`.
    static func keyList(_ file: String) throws -> [(String, [Int])] {
        let text = try String(contentsOf: specs.appendingPathComponent(file), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t")
            try #require(parts.count >= 2, "bad key-list line: \(line)")
            let dims = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
            let shape = dims.isEmpty ? [] : dims.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
            return (String(parts[0]), shape)
        }
    }

    static func check(_ config: ERRSegConfig, _ file: String) throws {
        let keys = try keyList(file)
        let shapes = Dictionary(uniqueKeysWithValues: keys)
        var asked = 0
        let loader = WeightLoader(source: file, availableKeys: keys.map(\.0)) { key, _ in
            asked += 1
            return shapes[key].map { Tensor(zeros: $0) }
        }
        _ = try ERRSegModel(config: config, weights: loader, tokenizer: nil)
        // Every listed key except the unused logit_scale is read.
        #expect(asked == keys.count - 1)
    }

    @Test func baseAsksForExactlyTheCheckpointKeys() throws {
        try Self.check(.base, "errseg-statedict-B.txt")
    }

    @Test func largeAsksForExactlyTheCheckpointKeys() throws {
        try Self.check(.large, "errseg-statedict-L.txt")
    }
}
