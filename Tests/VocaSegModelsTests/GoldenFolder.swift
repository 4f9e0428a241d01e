import Foundation
import Testing
import VocaSegTensor

/// A folder of goldens written by the PyTorch reference scripts: manifest.json (name → shape, dtype, file) and
/// raw little-endian .bin files. Shared by the families' golden tests (ERR-Seg's errseg_tiny, EOV-Seg's
/// eovseg_tiny_*); each family keeps its own extra entries (config, vocabulary) beside it.
struct GoldenFolder: Sendable {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    let directory: URL

    /// `name` is a folder under Tests/VocaSegModelsTests/Goldens.
    init(_ name: String) { directory = Self.testsDirectory.appendingPathComponent("Goldens/\(name)") }

    /// Any folder in the same layout (e.g. a reference dump of the parity scripts).
    init(directory: URL) { self.directory = directory }

    struct Manifest: Decodable {
        struct Entry: Decodable {
            var shape: [Int]
            var dtype: String
            var file: String
        }
        var tensors: [String: Entry]
    }

    func url(_ file: String) -> URL { directory.appendingPathComponent(file) }

    var exists: Bool { FileManager.default.fileExists(atPath: url("manifest.json").path) }

    func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url("manifest.json")))
    }

    func entry(_ name: String) throws -> Manifest.Entry {
        try #require(try manifest().tensors[name], "golden \(name) is not in the manifest of \(directory.lastPathComponent)")
    }

    static func floats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func ints(_ url: URL) throws -> [Int] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        }
    }

    /// A float golden as a tensor of its manifest shape.
    func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        #expect(e.dtype == "float32")
        let values = try Self.floats(url(e.file))
        try #require(values.count == e.shape.reduce(1, *), "golden \(name): size does not match its shape")
        return Tensor(shape: e.shape, data: values)
    }

    func intValues(_ name: String) throws -> [Int] {
        let e = try entry(name)
        #expect(e.dtype == "int32")
        return try Self.ints(url(e.file))
    }

    /// Max |a − b| and max |b| over two tensors of equal size (shapes may differ in layout-free ways). A NaN or
    /// infinity where the golden has none (or the other way round) makes the difference infinite: `max` would skip
    /// a NaN and let a broken kernel pass.
    static func difference(_ a: Tensor, _ b: Tensor) -> (maxAbs: Float, scale: Float) {
        let x = a.toArray(), y = b.toArray()
        var d: Float = 0, s: Float = 0
        for i in 0..<min(x.count, y.count) {
            d = max(d, elementDifference(x[i], y[i]))
            if y[i].isFinite { s = max(s, abs(y[i])) }
        }
        if x.count != y.count { d = .infinity }
        return (d, s)
    }

    /// |x − y|, 0 when both are the same non-finite value (NaN and NaN, +∞ and +∞), ∞ when only one is non-finite.
    static func elementDifference(_ x: Float, _ y: Float) -> Float {
        if x.isNaN || y.isNaN { return x.isNaN && y.isNaN ? 0 : .infinity }
        if x.isInfinite || y.isInfinite { return x == y ? 0 : .infinity }
        return abs(x - y)
    }

    /// Checks `actual` against golden `name` with |Δ| ≤ tolerance · max(1, max|golden|).
    func expectClose(_ actual: Tensor, _ name: String, tolerance: Float = 1e-4,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let golden = try tensor(name)
        #expect(actual.count == golden.count, "\(name): \(actual.shape) vs golden \(golden.shape)", sourceLocation: sourceLocation)
        let (d, s) = Self.difference(actual, golden)
        #expect(d <= tolerance * max(1, s), "\(name): max |Δ| = \(d) (golden max |x| = \(s))", sourceLocation: sourceLocation)
    }
}
