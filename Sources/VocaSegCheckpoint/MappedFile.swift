#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import VocaSegCore

/// A read-only memory map of a whole file.
///
/// Checkpoints are mapped, never read: a storage's bytes are only paged in when a tensor is converted, so opening a
/// 1.5 GB checkpoint costs its directory and pickle, not 1.5 GB of RAM. The mapping lives as long as any tensor record
/// that points into it. (If another process truncates the file while it is mapped, reads fault: mmap's contract.)
final class MappedFile: @unchecked Sendable {
    let path: String
    /// Immutable after init; safe to share between threads.
    let bytes: UnsafeRawBufferPointer
    private let mappedBase: UnsafeMutableRawPointer?

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw checkpointError("cannot open checkpoint: \(String(cString: strerror(errno)))", path: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw checkpointError("cannot stat checkpoint: \(String(cString: strerror(errno)))", path: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw checkpointError("checkpoint is not a regular file", path: path)
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            mappedBase = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw checkpointError("cannot map checkpoint: \(String(cString: strerror(errno)))", path: path)
        }
        mappedBase = base
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let mappedBase { munmap(mappedBase, bytes.count) }
    }

    var count: Int { bytes.count }

    /// Tells the kernel the pages of `range` are no longer needed by this process. They stay in the page cache and
    /// fault back in from the file if touched again, so this only keeps the resident set down after a conversion.
    func releasePages(_ range: Range<Int>) {
        guard let mappedBase, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start else { return }
        _ = madvise(mappedBase + start, end - start, Int32(MADV_DONTNEED))
    }

    /// Little-endian integer reads with bounds checks; `nil` when the read would leave the file.
    func uint16(at offset: Int) -> UInt16? { load(at: offset, as: UInt16.self) }
    func uint32(at offset: Int) -> UInt32? { load(at: offset, as: UInt32.self) }
    func uint64(at offset: Int) -> UInt64? { load(at: offset, as: UInt64.self) }

    private func load<T: FixedWidthInteger>(at offset: Int, as: T.Type) -> T? {
        guard offset >= 0, offset <= bytes.count - MemoryLayout<T>.size else { return nil }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A bounds-checked sub-range, `nil` if any part lies outside the file.
    func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
    }
}
