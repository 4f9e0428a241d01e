import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// Reads the tiny ERR-Seg goldens written by Scripts/reference/make_errseg_goldens.py (manifest.json + raw
/// little-endian .bin files) and the port's own ones from Scripts/reference/errseg_swift_goldens.py.
enum ERRSegGoldens {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let tinyDirectory = testsDirectory.appendingPathComponent("Goldens/errseg_tiny")
    static let swiftDirectory = testsDirectory.appendingPathComponent("Goldens/errseg_swift")
    static let repositoryRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let tokenizerPath = repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/data/clip/bpe_simple_vocab_16e6.txt.gz").path

    struct Manifest: Decodable {
        struct Entry: Decodable {
            var shape: [Int]
            var dtype: String
            var file: String
        }
        var tensors: [String: Entry]
        var t: Int
        var k: Int
    }

    static let manifest: Result<Manifest, Error> = Result {
        let data = try Data(contentsOf: tinyDirectory.appendingPathComponent("manifest.json"))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    static func entry(_ name: String) throws -> Manifest.Entry {
        let m = try manifest.get()
        return try #require(m.tensors[name], "golden \(name) is not in the manifest")
    }

    static func rawBytes(_ url: URL) throws -> Data { try Data(contentsOf: url) }

    static func floats(_ url: URL) throws -> [Float] { GoldenFolder.floats(try rawBytes(url)) }

    static func ints(_ url: URL) throws -> [Int] { GoldenFolder.ints(try rawBytes(url), dtype: "int32") }

    /// A float golden as a tensor of its manifest shape.
    static func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        #expect(e.dtype == "float32")
        let values = try floats(tinyDirectory.appendingPathComponent(e.file))
        try #require(values.count == e.shape.reduce(1, *), "golden \(name): size does not match its shape")
        return Tensor(shape: e.shape, data: values)
    }

    static func intValues(_ name: String) throws -> [Int] {
        let e = try entry(name)
        #expect(e.dtype == "int32")
        return try ints(tinyDirectory.appendingPathComponent(e.file))
    }

    static func config() throws -> ERRSegConfig {
        try ERRSegConfig.load(path: tinyDirectory.appendingPathComponent("config.json").path)
    }

    static func vocabulary() throws -> Vocabulary {
        let data = try Data(contentsOf: tinyDirectory.appendingPathComponent("vocab.json"))
        let names = try JSONDecoder().decode([String].self, from: data)
        // As the official class JSON: synonyms separated by ", " (the first one is prompted).
        return try Vocabulary(classes: names.map { Vocabulary.Class(synonyms: $0.components(separatedBy: ", ")) })
    }

    /// Max |a − b| and max finite |b|; NaN or ∞ only where the golden has the same (GoldenFolder's rule).
    static func difference(_ a: Tensor, _ b: Tensor) -> (maxAbs: Float, scale: Float) { GoldenFolder.difference(a, b) }

    static func elementDifference(_ x: Float, _ y: Float) -> Float { GoldenFolder.elementDifference(x, y) }

    /// Checks `actual` against golden `name` with |Δ| ≤ tolerance · max(1, max|golden|).
    static func expectClose(_ actual: Tensor, _ name: String, tolerance: Float = 1e-4,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let golden = try tensor(name)
        #expect(actual.count == golden.count, "\(name): \(actual.shape) vs golden \(golden.shape)", sourceLocation: sourceLocation)
        let (d, s) = difference(actual, golden)
        #expect(d <= tolerance * max(1, s), "\(name): max |Δ| = \(d) (golden max |x| = \(s))", sourceLocation: sourceLocation)
    }
}
