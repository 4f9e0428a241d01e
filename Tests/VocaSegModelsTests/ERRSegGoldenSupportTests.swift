import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The tiny ERR-Seg goldens written by Scripts/reference/make_errseg_goldens.py (read through `GoldenFolder`) and
/// the port's own ones from Scripts/reference/errseg_swift_goldens.py.
enum ERRSegGoldens {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let tinyDirectory = testsDirectory.appendingPathComponent("Goldens/errseg_tiny")
    static let swiftDirectory = testsDirectory.appendingPathComponent("Goldens/errseg_swift")
    static let repositoryRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let tokenizerPath = repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/data/clip/bpe_simple_vocab_16e6.txt.gz").path

    /// The tiny folder through the shared reader (`GoldenFolder`).
    static let folder = GoldenFolder("errseg_tiny")

    static func floats(_ url: URL) throws -> [Float] { try GoldenFolder.floats(url) }

    /// A float golden as a tensor of its manifest shape.
    static func tensor(_ name: String) throws -> Tensor { try folder.tensor(name) }

    static func intValues(_ name: String) throws -> [Int] { try folder.intValues(name) }

    static func config() throws -> ERRSegConfig {
        try ERRSegConfig.load(path: tinyDirectory.appendingPathComponent("config.json").path)
    }

    static func vocabulary() throws -> Vocabulary {
        let data = try Data(contentsOf: tinyDirectory.appendingPathComponent("vocab.json"))
        let names = try JSONDecoder().decode([String].self, from: data)
        // As the official class JSON: synonyms separated by ", " (the first one is prompted).
        return try Vocabulary(classes: names.map { Vocabulary.Class(synonyms: $0.components(separatedBy: ", ")) })
    }

    static func difference(_ a: Tensor, _ b: Tensor) -> (maxAbs: Float, scale: Float) { GoldenFolder.difference(a, b) }

    static func elementDifference(_ x: Float, _ y: Float) -> Float { GoldenFolder.elementDifference(x, y) }

    /// Checks `actual` against golden `name` with |Δ| ≤ tolerance · max(1, max|golden|).
    static func expectClose(_ actual: Tensor, _ name: String, tolerance: Float = 1e-4,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        try folder.expectClose(actual, name, tolerance: tolerance, sourceLocation: sourceLocation)
    }
}
