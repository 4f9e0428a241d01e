import Foundation

/// 64-bit FNV-1a: a fast, stable, non-cryptographic hash (cache keys and change detection, not security).
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add(_ s: String) { for b in s.utf8 { add(byte: b) } }

    public mutating func add(byte: UInt8) {
        value ^= UInt64(byte)
        value = value &* 0x100_0000_01b3
    }

    public mutating func add(word: UInt64) {
        value ^= word
        value = value &* 0x100_0000_01b3
    }
}

/// A digest of a file's contents: FNV-1a over its bytes, eight at a time through a memory map, plus its size
/// ("0123456789abcdef-<size>"). Used to recognise a checkpoint whatever its path (text-embedding cache) and an
/// inbox file whose mtime changed but whose contents did not (`vocaseg watch --content-hash`).
public enum FileDigest {
    /// nil if the file cannot be opened or mapped, or is empty.
    public static func fnv1a(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { return nil }
        let size = Int(st.st_size)
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, size) }
        var h = FNV1a64()
        let words = size / 8
        let p = map.bindMemory(to: UInt64.self, capacity: words)
        for i in 0..<words { h.add(word: p[i]) }
        let tail = map.advanced(by: words * 8).bindMemory(to: UInt8.self, capacity: size - words * 8)
        for i in 0..<(size - words * 8) { h.add(word: UInt64(tail[i])) }
        return String(format: "%016llx-%d", h.value, size)
    }
}
