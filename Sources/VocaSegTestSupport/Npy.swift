import Foundation

/// A NumPy `.npy` array as read for tests: its shape and its values, either as floats (float32/float16/bool
/// widened to Float) or as integers (int64/int32 widened to Int64). Only little-endian, C-order files are accepted.
public struct NpyArray: Sendable {
    public enum Values: Sendable {
        case float([Float])
        case int([Int64])
    }

    public let shape: [Int]
    public let values: Values
    /// The dtype string from the header, e.g. `<f4`.
    public let descr: String

    public var count: Int { shape.reduce(1, *) }

    /// Values as Float (integers are converted; that is exact below 2^24).
    public var floats: [Float] {
        switch values {
        case .float(let f): return f
        case .int(let i): return i.map { Float($0) }
        }
    }

    /// Values as Int64; throws for float arrays so that a golden with the wrong dtype is noticed.
    public func ints() throws -> [Int64] {
        switch values {
        case .int(let i): return i
        case .float: throw NpyError("expected an integer array, found \(descr)")
        }
    }
}

public struct NpyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

public enum Npy {
    /// Reads `url` as an `.npy` file. Errors name the file and the problem.
    public static func read(_ url: URL) throws -> NpyArray {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw NpyError("\(url.path): cannot read (\(error.localizedDescription))")
        }
        do {
            return try parse(data)
        } catch let error as NpyError {
            throw NpyError("\(url.path): \(error.description)")
        }
    }

    public static func read(_ path: String) throws -> NpyArray { try read(URL(fileURLWithPath: path)) }

    /// Parses the bytes of an `.npy` file (format versions 1, 2 and 3).
    public static func parse(_ data: Data) throws -> NpyArray {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw NpyError("not an .npy file (bad magic)") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NpyError("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw NpyError("unsupported .npy version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw NpyError("truncated header") }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw NpyError("header is not text")
        }
        let descr = try headerValue(header, key: "descr").trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        let fortran = try headerValue(header, key: "fortran_order").trimmingCharacters(in: .whitespaces)
        guard fortran == "False" else { throw NpyError("Fortran-order arrays are not supported") }
        let shape = try parseShape(try headerValue(header, key: "shape"))
        let count = shape.reduce(1, *)
        let body = headerStart + headerLength

        func need(_ itemSize: Int) throws {
            guard bytes.count - body >= count * itemSize else {
                throw NpyError("data holds \(bytes.count - body) bytes, shape \(shape) of \(descr) needs \(count * itemSize)")
            }
        }
        // Loads little-endian values without assuming the data start is aligned.
        func loadLE<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            var v: T = 0
            withUnsafeMutableBytes(of: &v) { dst in
                for b in 0..<MemoryLayout<T>.size { dst[b] = bytes[body + i * MemoryLayout<T>.size + b] }
            }
            return T(littleEndian: v)
        }

        switch descr {
        case "<f4":
            try need(4)
            return NpyArray(shape: shape, values: .float((0..<count).map { Float(bitPattern: loadLE(UInt32.self, $0)) }),
                            descr: descr)
        case "<f2":
            try need(2)
            return NpyArray(shape: shape, values: .float((0..<count).map { halfToFloat(loadLE(UInt16.self, $0)) }),
                            descr: descr)
        case "|b1", "<b1", "|u1":
            try need(1)
            return NpyArray(shape: shape, values: .float((0..<count).map { Float(bytes[body + $0]) }), descr: descr)
        case "<i8":
            try need(8)
            return NpyArray(shape: shape, values: .int((0..<count).map { Int64(bitPattern: loadLE(UInt64.self, $0)) }),
                            descr: descr)
        case "<i4":
            try need(4)
            return NpyArray(shape: shape,
                            values: .int((0..<count).map { Int64(Int32(bitPattern: loadLE(UInt32.self, $0))) }),
                            descr: descr)
        default:
            throw NpyError("unsupported dtype \(descr) (expected <f4, <f2, <i8, <i4 or |b1)")
        }
    }

    /// The raw text of `key`'s value in the header dictionary, e.g. `(2, 3)` for shape.
    private static func headerValue(_ header: String, key: String) throws -> String {
        guard let keyRange = header.range(of: "'\(key)'") else { throw NpyError("header has no '\(key)'") }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { throw NpyError("unterminated shape") }
            return String(rest[...close])
        }
        if let end = rest.firstIndex(of: ",") { rest = rest[..<end] } else if let end = rest.firstIndex(of: "}") {
            rest = rest[..<end]
        }
        return String(rest)
    }

    private static func parseShape(_ text: String) throws -> [Int] {
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        if inner.isEmpty { return [] }
        return try inner.split(separator: ",").compactMap { part -> Int? in
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { return nil }
            guard let v = Int(t), v >= 0 else { throw NpyError("bad shape \(text)") }
            return v
        }
    }

    /// IEEE half → single, including subnormals, infinities and NaN.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}

/// The repository root (the folder holding Package.swift), found from this source file's location.
public func repoRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// The shared data folder next to the repository (`../shared`).
public func sharedDataRoot() -> URL { repoRoot().deletingLastPathComponent().appendingPathComponent("shared") }

/// Result of comparing computed values with a golden: passes when every |a − e| ≤ atol + rtol·|e|.
public struct Closeness: CustomStringConvertible, Sendable {
    public let passed: Bool
    public let maxAbsDiff: Float
    /// Index of the element that exceeds its tolerance by the most (or of the largest difference when all pass).
    public let worstIndex: Int
    public let worstActual: Float
    public let worstExpected: Float
    public let mismatches: Int
    public let count: Int
    public let atol: Float
    public let rtol: Float
    public let label: String

    public var description: String {
        if count < 0 { return "\(label): size mismatch" }
        let verdict = passed ? "ok" : "\(mismatches)/\(count) elements out of tolerance"
        return "\(label): \(verdict); max |diff| \(maxAbsDiff), worst at [\(worstIndex)] got \(worstActual) "
            + "expected \(worstExpected) (atol \(atol), rtol \(rtol))"
    }
}

/// Compares `actual` with `expected` elementwise. NaN matches only NaN; infinities must match exactly.
public func closeness(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 0,
                      label: String = "values") -> Closeness {
    guard actual.count == expected.count else {
        return Closeness(passed: false, maxAbsDiff: .infinity, worstIndex: 0, worstActual: .nan, worstExpected: .nan,
                         mismatches: max(actual.count, expected.count), count: -1, atol: atol, rtol: rtol,
                         label: "\(label) (\(actual.count) values vs \(expected.count) expected)")
    }
    var maxAbs: Float = 0
    var worst = 0
    var worstExcess = -Float.infinity
    var mismatches = 0
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        var excess: Float
        if a.isNaN || e.isNaN {
            excess = (a.isNaN && e.isNaN) ? -1 : .infinity
        } else if a.isInfinite || e.isInfinite {
            excess = a == e ? -1 : .infinity
        } else {
            let d = abs(a - e)
            maxAbs = max(maxAbs, d)
            excess = d - (atol + rtol * abs(e))
        }
        if excess > 0 { mismatches += 1 }
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    return Closeness(passed: mismatches == 0, maxAbsDiff: maxAbs, worstIndex: worst,
                     worstActual: actual.isEmpty ? 0 : actual[worst], worstExpected: expected.isEmpty ? 0 : expected[worst],
                     mismatches: mismatches, count: actual.count, atol: atol, rtol: rtol, label: label)
}
