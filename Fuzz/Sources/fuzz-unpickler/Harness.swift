import CheckpointFuzzSupport
import FuzzSupport

/// The bytes are `data.pkl` of a well-formed torch.save zip that also holds a `byteorder` entry and 16 storages
/// (`data/0` … `data/15`, 128 bytes each). Wrapping them here, rather than fuzzing whole zips, lets every mutation
/// reach the restricted unpickler and the tensor records it builds, instead of mostly breaking zip offsets; the
/// zip reader has its own harness.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var zip = StoredZip()
    zip.add("archive/data.pkl", Array(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)))
    zip.add("archive/byteorder", Array("little".utf8))
    for key in 0..<16 {
        // Distinct, non-trivial element bytes so that conversions read real values (NaNs and denormals included).
        zip.add("archive/data/\(key)", (0..<128).map { UInt8(truncatingIfNeeded: $0 &* (2 * key + 1) &+ key) })
    }
    let bytes = zip.finish()
    let path = bytes.withUnsafeBufferPointer { Fuzz.write($0.baseAddress, $0.count, to: "input.pth") }
    CheckpointFuzz.exercise(path: path)
    return 0
}

/// Just enough of a zip writer for the reader under test: stored entries, no CRCs (the reader does not check
/// them, as torch's own reader does not for stored entries), no zip64.
struct StoredZip {
    private var body: [UInt8] = []
    private var directory: [UInt8] = []
    private var count = 0

    mutating func add(_ name: String, _ contents: [UInt8]) {
        let nameBytes = Array(name.utf8)
        let offset = body.count
        body += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            + le32(contents.count) + le32(contents.count) + le16(nameBytes.count) + le16(0) + nameBytes + contents
        directory += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            + le32(contents.count) + le32(contents.count) + le16(nameBytes.count) + le16(0) + le16(0) + le16(0)
            + le16(0) + le32(0) + le32(offset) + nameBytes
        count += 1
    }

    func finish() -> [UInt8] {
        body + directory + le32(0x0605_4B50) + le16(0) + le16(0) + le16(count) + le16(count)
            + le32(directory.count) + le32(body.count) + le16(0)
    }

    private func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    private func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
}
