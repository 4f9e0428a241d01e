/// The read-only subset of the zip format that torch.save produces: a central directory (optionally zip64) of
/// stored, uncompressed entries. Nothing is decompressed or copied; an entry's data is a byte range of the map.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    let file: MappedFile
    let entries: [Entry]
    private let indexByName: [String: Int]

    private static let endOfCentralDirectory: UInt32 = 0x0605_4B50
    private static let zip64Locator: UInt32 = 0x0706_4B50
    private static let zip64EndOfCentralDirectory: UInt32 = 0x0606_4B50
    private static let centralHeader: UInt32 = 0x0201_4B50
    private static let localHeader: UInt32 = 0x0403_4B50

    init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        func corrupt(_ why: String) -> Error { checkpointError("corrupt zip checkpoint: \(why)", path: path) }

        // The end record sits in the last 22 + up to 65535 comment bytes.
        let minimumEnd = 22
        guard file.count >= minimumEnd else { throw corrupt("file too short (\(file.count) bytes)") }
        var endOffset = -1
        var probe = file.count - minimumEnd
        let lowest = Swift.max(0, file.count - minimumEnd - 0xFFFF)
        while probe >= lowest {
            if file.uint32(at: probe) == Self.endOfCentralDirectory { endOffset = probe; break }
            probe -= 1
        }
        guard endOffset >= 0 else { throw corrupt("no end-of-central-directory record (truncated file?)") }

        var entryCount = Int(file.uint16(at: endOffset + 10) ?? 0)
        var directorySize = Int(file.uint32(at: endOffset + 12) ?? 0)
        var directoryOffset = Int(file.uint32(at: endOffset + 16) ?? 0)
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // zip64: the locator sits right before the classic end record.
            let locator = endOffset - 20
            guard locator >= 0, file.uint32(at: locator) == Self.zip64Locator,
                  let zip64Offset = file.uint64(at: locator + 8), zip64Offset < UInt64(file.count),
                  file.uint32(at: Int(zip64Offset)) == Self.zip64EndOfCentralDirectory,
                  let count64 = file.uint64(at: Int(zip64Offset) + 32),
                  let size64 = file.uint64(at: Int(zip64Offset) + 40),
                  let offset64 = file.uint64(at: Int(zip64Offset) + 48)
            else { throw corrupt("bad zip64 end record") }
            guard count64 < UInt64(file.count), size64 <= UInt64(file.count), offset64 <= UInt64(file.count) else {
                throw corrupt("zip64 directory points past the end of the file")
            }
            entryCount = Int(count64)
            directorySize = Int(size64)
            directoryOffset = Int(offset64)
        }
        guard file.slice(directoryOffset, directorySize) != nil else {
            throw corrupt("central directory (offset \(directoryOffset), \(directorySize) bytes) lies past the end "
                          + "of the \(file.count)-byte file")
        }
        // Each directory record takes at least 46 bytes: a count beyond that is a lie, refuse before allocating.
        guard entryCount <= directorySize / 46 else {
            throw corrupt("central directory claims \(entryCount) entries in \(directorySize) bytes")
        }

        var entries: [Entry] = []
        entries.reserveCapacity(entryCount)
        var index: [String: Int] = [:]
        var cursor = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for _ in 0..<entryCount {
            guard cursor + 46 <= directoryEnd, file.uint32(at: cursor) == Self.centralHeader else {
                throw corrupt("bad central directory record at offset \(cursor)")
            }
            // Bounds for the fixed fields were checked just above, so the `?? 0` fallbacks never fire.
            let method = file.uint16(at: cursor + 10) ?? 0
            var compressed = UInt64(file.uint32(at: cursor + 20) ?? 0)
            var uncompressed = UInt64(file.uint32(at: cursor + 24) ?? 0)
            let nameLength = Int(file.uint16(at: cursor + 28) ?? 0)
            let extraLength = Int(file.uint16(at: cursor + 30) ?? 0)
            let commentLength = Int(file.uint16(at: cursor + 32) ?? 0)
            var localOffset = UInt64(file.uint32(at: cursor + 42) ?? 0)
            let recordEnd = cursor + 46 + nameLength + extraLength + commentLength
            guard recordEnd <= directoryEnd, let nameBytes = file.slice(cursor + 46, nameLength) else {
                throw corrupt("central directory record at offset \(cursor) overruns the directory")
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            // zip64 extra field: only the fields saturated in the fixed record are present, in this order.
            var extra = cursor + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let tag = file.uint16(at: extra) ?? 0
                let length = Int(file.uint16(at: extra + 2) ?? 0)
                guard extra + 4 + length <= extraEnd else { throw corrupt("bad extra field in entry '\(name)'") }
                if tag == 0x0001 {
                    var field = extra + 4
                    func next() throws -> UInt64 {
                        guard field + 8 <= extra + 4 + length, let value = file.uint64(at: field) else {
                            throw corrupt("short zip64 field in entry '\(name)'")
                        }
                        field += 8
                        return value
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                }
                extra += 4 + length
            }
            // Sizes beyond the file can never be satisfied by a stored entry; clamp before converting to Int.
            let limit = UInt64(Int.max / 2)
            entries.append(Entry(name: name, method: method,
                                 compressedSize: Int(Swift.min(compressed, limit)),
                                 uncompressedSize: Int(Swift.min(uncompressed, limit)),
                                 localHeaderOffset: Int(Swift.min(localOffset, limit))))
            index[name] = entries.count - 1
            cursor = recordEnd
        }
        self.entries = entries
        self.indexByName = index
    }

    func entry(named name: String) -> Entry? {
        indexByName[name].map { entries[$0] }
    }

    /// The bytes of a stored entry, checked against its local header and the file size. Compressed entries are
    /// refused outright: torch never compresses, so compression here is either another tool or a decompression bomb.
    func data(of entry: Entry) throws -> UnsafeRawBufferPointer {
        let path = file.path
        guard entry.method == 0 else {
            throw checkpointError("zip entry '\(entry.name)' is compressed (method \(entry.method)); torch.save "
                                  + "writes stored entries only, so this file is refused", path: path)
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw checkpointError("zip entry '\(entry.name)' is stored but declares \(entry.compressedSize) bytes "
                                  + "compressed and \(entry.uncompressedSize) uncompressed", path: path)
        }
        let header = entry.localHeaderOffset
        guard file.uint32(at: header) == Self.localHeader,
              let nameLength = file.uint16(at: header + 26), let extraLength = file.uint16(at: header + 28)
        else {
            throw checkpointError("zip entry '\(entry.name)': local header at offset \(header) is missing or past "
                                  + "the end of the \(file.count)-byte file", path: path)
        }
        let start = header + 30 + Int(nameLength) + Int(extraLength)
        guard let bytes = file.slice(start, entry.uncompressedSize) else {
            throw checkpointError("zip entry '\(entry.name)' (\(entry.uncompressedSize) bytes at offset \(start)) "
                                  + "extends past the end of the \(file.count)-byte file (truncated?)", path: path)
        }
        return bytes
    }

    /// Byte range of a stored entry within the file.
    func dataRange(of entry: Entry) throws -> Range<Int> {
        let bytes = try data(of: entry)
        guard let fileBase = file.bytes.baseAddress, let base = bytes.baseAddress else { return 0..<0 }
        let start = base - fileBase
        return start..<(start + bytes.count)
    }
}
