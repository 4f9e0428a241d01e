import VocaSegCore

/// Reads a torch.save zip: `<prefix>/data.pkl` through the restricted unpickler, storages as mapped zip entries
/// `<prefix>/data/<key>`.
enum TorchCheckpointReader {
    /// Nested dicts deeper than this inside a state dict are refused (real ones are flat).
    static let maxStateDictDepth = 32

    static func read(_ file: MappedFile) throws -> Checkpoint {
        let path = file.path
        let archive = try ZipArchive(file: file)
        // torch names the archive folder after the file it first saved to, so find data.pkl by suffix.
        guard let pickleEntry = archive.entries.first(where: {
            $0.name.hasSuffix("/data.pkl") && !$0.name.dropLast("/data.pkl".count).contains("/")
        }) else {
            throw checkpointError("zip has no <archive>/data.pkl entry: not a torch.save checkpoint", path: path)
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        if let byteOrder = archive.entry(named: prefix + "byteorder") {
            let text = String(decoding: try archive.data(of: byteOrder), as: UTF8.self)
            guard text.trimmingWhitespace() == "little" else {
                throw checkpointError("checkpoint was saved on a '\(text)'-endian machine; only little-endian "
                                      + "is supported", path: path)
            }
        }

        let unpickler = RestrictedUnpickler(data: try archive.data(of: pickleEntry), path: path)
        defer { unpickler.tearDown() }
        let root = try unpickler.load()

        guard case .dict(let top) = root else {
            throw checkpointError("top-level object is a \(root.kindName), expected a dict of tensors", path: path)
        }
        var stateDict = top
        var stateDictKey: String?
        for candidate in ["model", "state_dict"] {
            if case .dict(let inner)? = top[candidate] {
                stateDict = inner
                stateDictKey = candidate
                break
            }
        }
        let skipped = stateDictKey == nil ? [] : top.keys.compactMap { key -> String? in
            let name = keyName(key)
            return name == stateDictKey ? nil : name
        }

        var builder = RecordBuilder(archive: archive, prefix: prefix)
        try builder.flatten(stateDict, prefix: "", depth: 0)
        return try Checkpoint(path: path, format: .pytorchZip, tensors: builder.records, stateDictKey: stateDictKey,
                              skippedTopLevelKeys: skipped, nonTensorEntries: builder.nonTensorEntries)
    }

    static func keyName(_ key: PickleValue) -> String {
        switch key {
        case .string(let name): return name
        case .int(let number): return String(number)
        default: return "<\(key.kindName) key>"
        }
    }

    /// Turns pickled tensors into validated records, resolving each storage to its zip entry once.
    private struct RecordBuilder {
        let archive: ZipArchive
        let prefix: String
        var records: [TensorRecord] = []
        var nonTensorEntries: [NonTensorEntry] = []
        private var storages: [String: TensorStorage] = [:]

        init(archive: ZipArchive, prefix: String) {
            self.archive = archive
            self.prefix = prefix
        }

        mutating func flatten(_ dict: PickleDict, prefix namePrefix: String, depth: Int) throws {
            let path = archive.file.path
            guard depth < TorchCheckpointReader.maxStateDictDepth else {
                throw checkpointError("state dict nested deeper than \(TorchCheckpointReader.maxStateDictDepth) "
                                      + "levels at '\(namePrefix)'", path: path)
            }
            for (key, value) in zip(dict.keys, dict.values) {
                let name = namePrefix + TorchCheckpointReader.keyName(key)
                switch value {
                case .tensor(let tensor):
                    let storage = try resolve(tensor.storage, for: name)
                    records.append(try TensorRecord(name: name, dtype: tensor.storage.dtype, shape: tensor.shape,
                                                    strides: tensor.strides, storageOffset: tensor.storageOffset,
                                                    storage: storage))
                case .dict(let inner):
                    try flatten(inner, prefix: name + ".", depth: depth + 1)
                default:
                    nonTensorEntries.append(NonTensorEntry(name: name, kind: value.kindName))
                }
            }
        }

        private mutating func resolve(_ pickled: PickledStorage, for name: String) throws -> TensorStorage {
            let cacheKey = "\(pickled.key)/\(pickled.dtype.rawValue)"
            if let known = storages[cacheKey] { return known }
            let path = archive.file.path
            guard let entry = archive.entry(named: prefix + "data/" + pickled.key) else {
                throw checkpointError("tensor '\(name)': storage '\(pickled.key)' has no entry "
                                      + "\(prefix)data/\(pickled.key) in the zip", path: path)
            }
            let range = try archive.dataRange(of: entry)
            let (declaredBytes, overflow) = pickled.declaredElementCount
                .multipliedReportingOverflow(by: pickled.dtype.byteSize)
            guard !overflow, declaredBytes <= range.count else {
                throw checkpointError("tensor '\(name)': storage '\(pickled.key)' declares "
                                      + "\(pickled.declaredElementCount) \(pickled.dtype.rawValue) elements but its "
                                      + "entry holds only \(range.count) bytes", path: path)
            }
            let storage = TensorStorage(file: archive.file,
                                        byteRange: range.lowerBound..<(range.lowerBound + declaredBytes),
                                        dtype: pickled.dtype)
            storages[cacheKey] = storage
            return storage
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
