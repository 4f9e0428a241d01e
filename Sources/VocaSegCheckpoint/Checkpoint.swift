import VocaSegCore

/// The container format a checkpoint was read from.
public enum CheckpointFormat: String, Sendable, Codable {
    /// `torch.save` zip archive (`.pth`, `.pt`, `.bin`).
    case pytorchZip = "pytorch-zip"
    case safetensors
}

/// The tensors of one checkpoint file, described and memory-mapped but not read.
///
/// For a torch file these are the entries of its state dict, flattened with dots (`{"a": {"b": t}}` → `a.b`);
/// when the file wraps the state dict the way detectron2 does (`{"model": …, "optimizer": …, "iteration": …}`),
/// only `model` (or else `state_dict`) is taken and the rest is listed in `skippedTopLevelKeys`, never materialised.
public struct Checkpoint: Sendable {
    public let path: String
    public let format: CheckpointFormat
    /// File order: pickle order for torch files, data-offset order for safetensors.
    public let tensors: [TensorRecord]
    /// The top-level key that held the state dict (`model`, `state_dict`), or nil when the file is the state dict.
    public let stateDictKey: String?
    /// Top-level entries other than the state dict (optimizer, scheduler, iteration, …).
    public let skippedTopLevelKeys: [String]
    /// Values inside the state dict that are not tensors (never in a plain `state_dict()`); the models'
    /// weight loader reports them as unexpected unless the model ignores them.
    public let nonTensorEntries: [NonTensorEntry]
    /// safetensors `__metadata__`; empty for torch files.
    public let metadata: [String: String]
    private let indexByName: [String: Int]

    init(path: String, format: CheckpointFormat, tensors: [TensorRecord], stateDictKey: String? = nil,
         skippedTopLevelKeys: [String] = [], nonTensorEntries: [NonTensorEntry] = [], metadata: [String: String] = [:])
        throws {
        var index: [String: Int] = [:]
        for (position, tensor) in tensors.enumerated() {
            guard index.updateValue(position, forKey: tensor.name) == nil else {
                throw checkpointError("tensor name '\(tensor.name)' occurs twice", path: path)
            }
        }
        self.path = path
        self.format = format
        self.tensors = tensors
        self.stateDictKey = stateDictKey
        self.skippedTopLevelKeys = skippedTopLevelKeys
        self.nonTensorEntries = nonTensorEntries
        self.metadata = metadata
        self.indexByName = index
    }

    /// Tensor names in file order.
    public var names: [String] { tensors.map(\.name) }

    public subscript(name: String) -> TensorRecord? {
        indexByName[name].map { tensors[$0] }
    }
}

/// A state-dict value that is not a tensor: its flattened name and Python type (or the allowed global that built it).
public struct NonTensorEntry: Sendable, Codable, Equatable, CustomStringConvertible {
    public let name: String
    public let kind: String
    public var description: String { "\(name) (\(kind))" }
}

/// Opening checkpoints by content, not by file extension.
public enum CheckpointFile {
    /// Maps `path` and reads its directory: a torch.save zip or a safetensors file, told apart by magic bytes.
    /// Throws `VocaSegError(.model, …, path:)` for anything unreadable, malformed or unsafe.
    public static func open(path: String) throws -> Checkpoint {
        let file = try MappedFile(path: path)
        let head = file.slice(0, Swift.min(file.count, 16)) ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return try TorchCheckpointReader.read(file)
        }
        if head.count > 8, head[8] == UInt8(ascii: "{") {
            return try SafetensorsReader.read(file)
        }
        if head.starts(with: [0x80, 0x02, 0x8A, 0x0A]) || isTar(file) {
            throw checkpointError("legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with "
                                  + "torch.save(torch.load(path), path) under torch >= 1.6", path: path)
        }
        throw checkpointError("not a checkpoint: neither a torch.save zip nor a safetensors file", path: path)
    }

    private static func isTar(_ file: MappedFile) -> Bool {
        guard let magic = file.slice(257, 5) else { return false }
        return magic.elementsEqual("ustar".utf8)
    }
}
