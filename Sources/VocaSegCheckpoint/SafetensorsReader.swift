#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VocaSegCore

/// Reads safetensors: an 8-byte little-endian header length, a JSON header, then the tensor bytes.
/// Every header claim is checked against the file before a record is made.
enum SafetensorsReader {
    /// The reference implementation's limit; a larger header is hostile.
    static let maxHeaderBytes = 100_000_000

    private struct TensorInfo: Decodable {
        let dtype: String
        let shape: [Int]
        let dataOffsets: [UInt64]
        enum CodingKeys: String, CodingKey {
            case dtype, shape
            case dataOffsets = "data_offsets"
        }
    }

    private enum HeaderValue: Decodable {
        case tensor(TensorInfo)
        case metadata([String: String])

        init(from decoder: Decoder) throws {
            if let tensor = try? TensorInfo(from: decoder) {
                self = .tensor(tensor)
            } else {
                self = .metadata(try [String: String](from: decoder))
            }
        }
    }

    static func read(_ file: MappedFile) throws -> Checkpoint {
        let path = file.path
        func bad(_ why: String) -> VocaSegError { checkpointError("invalid safetensors file: \(why)", path: path) }

        guard let declared = file.uint64(at: 0) else { throw bad("shorter than its 8-byte header length") }
        guard declared <= UInt64(file.count - 8) else {
            throw bad("header length \(declared) is larger than the \(file.count)-byte file")
        }
        let headerLength = Int(declared)
        guard headerLength <= maxHeaderBytes else { throw bad("header of \(headerLength) bytes exceeds 100 MB") }
        guard let headerBytes = file.slice(8, headerLength) else { throw bad("truncated header") }
        let header: [String: HeaderValue]
        do {
            header = try JSONDecoder().decode([String: HeaderValue].self, from: Data(headerBytes))
        } catch {
            throw bad("header is not a JSON object of tensor entries")
        }

        let dataStart = 8 + headerLength
        let dataLength = file.count - dataStart
        var metadata: [String: String] = [:]
        var located: [(name: String, info: TensorInfo, start: Int, end: Int)] = []
        for (name, value) in header {
            switch value {
            case .metadata(let entries):
                guard name == "__metadata__" else { throw bad("entry '\(name)' is not a tensor description") }
                metadata = entries
            case .tensor(let info):
                guard name != "__metadata__" else { throw bad("__metadata__ must map strings to strings") }
                guard info.dataOffsets.count == 2, info.dataOffsets[0] <= info.dataOffsets[1],
                      info.dataOffsets[1] <= UInt64(dataLength) else {
                    throw bad("tensor '\(name)': data_offsets \(info.dataOffsets) lie outside the "
                              + "\(dataLength)-byte data section")
                }
                located.append((name, info, Int(info.dataOffsets[0]), Int(info.dataOffsets[1])))
            }
        }
        // Sort by position: gives file order and makes the overlap check a single pass.
        located.sort { ($0.start, $0.end, $0.name) < ($1.start, $1.end, $1.name) }
        var records: [TensorRecord] = []
        records.reserveCapacity(located.count)
        var previousEnd = 0
        var previousName = ""
        for (name, info, start, end) in located {
            guard let dtype = TensorDType(safetensorsName: info.dtype) else {
                throw bad("tensor '\(name)' has unsupported dtype \(info.dtype)")
            }
            var bytes = dtype.byteSize
            for size in info.shape {
                guard size >= 0 else { throw bad("tensor '\(name)' has a negative size in \(info.shape)") }
                let (product, overflow) = bytes.multipliedReportingOverflow(by: size)
                guard !overflow else { throw bad("tensor '\(name)': shape \(info.shape) overflows") }
                bytes = product
            }
            guard bytes == end - start else {
                throw bad("tensor '\(name)': \(info.dtype) \(info.shape) needs \(bytes) bytes but data_offsets "
                          + "span \(end - start)")
            }
            guard start >= previousEnd else {
                throw bad("tensors '\(previousName)' and '\(name)' overlap")
            }
            if end > start {
                previousEnd = end
                previousName = name
            }
            let storage = TensorStorage(file: file, byteRange: (dataStart + start)..<(dataStart + end), dtype: dtype)
            records.append(try TensorRecord(name: name, dtype: dtype, shape: info.shape,
                                            strides: TensorRecord.contiguousStrides(for: info.shape),
                                            storageOffset: 0, storage: storage))
        }
        return try Checkpoint(path: path, format: .safetensors, tensors: records, metadata: metadata)
    }
}
