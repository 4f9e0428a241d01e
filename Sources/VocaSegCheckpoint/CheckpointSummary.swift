/// What `vocaseg inspect` shows of the file itself: every tensor's name, dtype, shape and size, and totals.
/// Encodable, so `--json` is one `JSONEncoder` call. Which model the tensors belong to is the model families'
/// question (VocaSegModels' registry), not this layer's.
public struct CheckpointSummary: Sendable, Codable, Equatable {
    public struct Tensor: Sendable, Codable, Equatable {
        public let name: String
        public let dtype: TensorDType
        public let shape: [Int]
        public let elementCount: Int
        public let byteCount: Int
    }

    public let path: String
    public let format: CheckpointFormat
    public let stateDictKey: String?
    public let skippedTopLevelKeys: [String]
    public let nonTensorEntries: [NonTensorEntry]
    public let metadata: [String: String]
    public let tensorCount: Int
    public let totalElements: Int
    public let totalBytes: Int
    /// Tensor count per dtype name.
    public let dtypeCounts: [String: Int]
    public let tensors: [Tensor]

    public init(_ checkpoint: Checkpoint) {
        path = checkpoint.path
        format = checkpoint.format
        stateDictKey = checkpoint.stateDictKey
        skippedTopLevelKeys = checkpoint.skippedTopLevelKeys
        nonTensorEntries = checkpoint.nonTensorEntries
        metadata = checkpoint.metadata
        tensors = checkpoint.tensors.map {
            Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, elementCount: $0.elementCount,
                   byteCount: $0.byteCount)
        }
        tensorCount = tensors.count
        totalElements = tensors.reduce(0) { $0 + $1.elementCount }
        totalBytes = tensors.reduce(0) { $0 + $1.byteCount }
        dtypeCounts = tensors.reduce(into: [:]) { $0[$1.dtype.rawValue, default: 0] += 1 }
    }

    /// Plain-text rendering for `vocaseg inspect` without `--json`: a header block, then one line per tensor.
    public var text: String {
        var lines = ["\(path): \(format.rawValue), \(tensorCount) tensors, \(totalElements) values, "
                     + "\(Self.megabytes(totalBytes))"]
        lines.append("dtypes: " + dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            .joined(separator: ", "))
        if let stateDictKey { lines.append("state dict: '\(stateDictKey)'") }
        if !skippedTopLevelKeys.isEmpty { lines.append("skipped: " + skippedTopLevelKeys.joined(separator: ", ")) }
        if !nonTensorEntries.isEmpty { lines.append("non-tensor entries: " + nonTensorEntries.map(\.description).joined(separator: ", ")) }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { lines.append("metadata \(key): \(value)") }
        let width = tensors.map(\.name.count).max() ?? 0
        for tensor in tensors {
            let name = tensor.name.padding(toLength: width)
            let dtype = tensor.dtype.rawValue.padding(toLength: 8)
            lines.append("  \(name)  \(dtype)  \(tensor.shape)  \(tensor.elementCount)")
        }
        return lines.joined(separator: "\n")
    }

    static func megabytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
