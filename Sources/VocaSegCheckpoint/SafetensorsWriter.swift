#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Musl)
import Musl
private let systemWrite = Musl.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif
import VocaSegCore

/// Writes safetensors files (for converted or seeded-random weights, and round-trip tests).
public enum SafetensorsWriter {
    /// One tensor to write: raw little-endian elements in row-major order.
    public struct Tensor: Sendable {
        public let name: String
        public let dtype: TensorDType
        public let shape: [Int]
        public let bytes: [UInt8]

        public init(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// A float32 tensor from values.
        public init(name: String, shape: [Int], values: [Float]) {
            var bytes = [UInt8](repeating: 0, count: values.count * 4)
            bytes.withUnsafeMutableBytes { raw in
                for (index, value) in values.enumerated() {
                    raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
                }
            }
            self.init(name: name, dtype: .float32, shape: shape, bytes: bytes)
        }

        /// A checkpoint tensor, copied contiguously in its own dtype.
        public init(_ record: TensorRecord) {
            self.init(name: record.name, dtype: record.dtype, shape: record.shape, bytes: record.contiguousBytes())
        }
    }

    /// Writes `tensors` in the given order to `path` (via a temporary file renamed into place).
    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to path: String) throws {
        var names = Set<String>()
        var header = "{"
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            guard tensor.name != "__metadata__", names.insert(tensor.name).inserted else {
                throw VocaSegError(.internal, "safetensors: duplicate or reserved tensor name '\(tensor.name)'",
                                   path: path)
            }
            let expected = tensor.shape.reduce(tensor.dtype.byteSize, *)
            guard tensor.shape.allSatisfy({ $0 >= 0 }), expected == tensor.bytes.count else {
                throw VocaSegError(.internal, "safetensors: tensor '\(tensor.name)' has \(tensor.bytes.count) bytes, "
                                   + "shape \(tensor.shape) needs \(expected)", path: path)
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.safetensorsName)\","
                           + "\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + expected)]}")
            offset += expected
        }
        header += entries.joined(separator: ",") + "}"
        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        let temporary = path + ".partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw VocaSegError(.model, "cannot write safetensors: \(String(cString: strerror(errno)))", path: path)
        }
        var ok = true
        var length = UInt64(headerBytes.count).littleEndian
        ok = ok && withUnsafeBytes(of: &length) { writeAll(fd, $0) }
        ok = ok && headerBytes.withUnsafeBytes { writeAll(fd, $0) }
        for tensor in tensors where ok {
            ok = tensor.bytes.withUnsafeBytes { writeAll(fd, $0) }
        }
        let error = errno
        ok = (close(fd) == 0) && ok
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw VocaSegError(.model, "cannot write safetensors: \(String(cString: strerror(error)))", path: path)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            guard let base = bytes.baseAddress else { return true }
            let written = systemWrite(fd, base + done, bytes.count - done)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += written
        }
        return true
    }

    /// JSON string literal with the escapes JSON requires.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
