import Foundation
import Testing
import VocaSegTensor

/// One folder of reference goldens under Tests/VocaSegModelsTests/Goldens: `manifest.json` (a `tensors` table of
/// name → shape, dtype, file, plus whatever else the reference writes) and raw little-endian .bin files. The
/// generic part of ERRSegGoldens, for any model's folder.
struct GoldenFolder: Sendable {
    static let goldensDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Goldens")

    struct Entry: Decodable, Sendable {
        var shape: [Int]
        var dtype: String
        var file: String
    }

    private struct TensorTable: Decodable { var tensors: [String: Entry] }

    let directory: URL

    init(_ name: String) { directory = Self.goldensDirectory.appendingPathComponent(name) }

    var manifestURL: URL { directory.appendingPathComponent("manifest.json") }
    /// Whether the reference has written this folder (tests that need it are skipped until then).
    var exists: Bool { FileManager.default.fileExists(atPath: manifestURL.path) }
    func url(_ file: String) -> URL { directory.appendingPathComponent(file) }

    /// The whole manifest as JSON values, for the fields beyond `tensors`.
    func manifestObject() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL))
        return try #require(object as? [String: Any], "manifest.json is not an object")
    }

    func entries() throws -> [String: Entry] {
        try JSONDecoder().decode(TensorTable.self, from: Data(contentsOf: manifestURL)).tensors
    }

    func has(_ name: String) -> Bool { (try? entries()[name]) != nil }

    func entry(_ name: String) throws -> Entry {
        try #require(try entries()[name], "golden \(name) is not in \(directory.lastPathComponent)/manifest.json")
    }

    static func floats(_ url: URL) throws -> [Float] { floats(try Data(contentsOf: url)) }

    static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
    }

    static func ints(_ data: Data, dtype: String) -> [Int] {
        data.withUnsafeBytes { raw in
            switch dtype {
            case "int64":
                return (0..<(data.count / 8)).map {
                    Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)))
                }
            case "uint8", "bool":
                return (0..<data.count).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
            default:
                return (0..<(data.count / 4)).map {
                    Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)))
                }
            }
        }
    }

    /// A float32 golden as a tensor of its manifest shape.
    func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        try #require(e.dtype == "float32", "golden \(name) is \(e.dtype), not float32")
        let values = Self.floats(try Data(contentsOf: url(e.file)))
        try #require(values.count == e.shape.reduce(1, *), "golden \(name): size does not match its shape")
        return Tensor(shape: e.shape, data: values)
    }

    /// An integer (or boolean) golden; a float one is truncated, so flags may be stored either way.
    func intValues(_ name: String) throws -> [Int] {
        let e = try entry(name)
        if e.dtype.hasPrefix("float") { return try tensor(name).toArray().map { Int($0) } }
        return Self.ints(try Data(contentsOf: url(e.file)), dtype: e.dtype)
    }

    /// |x − y|, 0 when both are the same non-finite value (NaN and NaN, +∞ and +∞), ∞ when only one is non-finite:
    /// a NaN must appear exactly where the reference has one.
    static func elementDifference(_ x: Float, _ y: Float) -> Float {
        if x.isNaN || y.isNaN { return x.isNaN && y.isNaN ? 0 : .infinity }
        if x.isInfinite || y.isInfinite { return x == y ? 0 : .infinity }
        return abs(x - y)
    }

    /// Max |a − b| and max finite |b| over two tensors of equal size; a size mismatch is an infinite difference.
    static func difference(_ a: Tensor, _ b: Tensor) -> (maxAbs: Float, scale: Float) {
        let x = a.toArray(), y = b.toArray()
        var d: Float = x.count == y.count ? 0 : .infinity, s: Float = 0
        for i in 0..<min(x.count, y.count) {
            d = max(d, elementDifference(x[i], y[i]))
            if y[i].isFinite { s = max(s, abs(y[i])) }
        }
        return (d, s)
    }

    /// Checks `actual` against golden `name` with |Δ| ≤ tolerance · max(1, max|golden|) (as ERR-Seg's tests).
    func expectClose(_ actual: Tensor, _ name: String, tolerance: Float = 1e-4,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let golden = try tensor(name)
        #expect(actual.count == golden.count, "\(name): \(actual.shape) vs golden \(golden.shape)",
                sourceLocation: sourceLocation)
        let (d, s) = Self.difference(actual, golden)
        if ProcessInfo.processInfo.environment["VOCASEG_GOLDEN_VERBOSE"] != nil {
            print("golden \(directory.lastPathComponent)/\(name): max |Δ| = \(d), max |x| = \(s)")
        }
        #expect(d <= tolerance * max(1, s), "\(name): max |Δ| = \(d) (golden max |x| = \(s))",
                sourceLocation: sourceLocation)
    }
}
