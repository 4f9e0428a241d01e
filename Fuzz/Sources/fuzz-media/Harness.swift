import FuzzSupport

/// The bytes are a media file with no extension, so FFmpeg picks the demuxer by probing the content alone (the
/// seeds are small mp4/mkv/avi/ts clips): demux, decode, convert to RGB, apply the display matrix.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = Fuzz.write(data, size, to: "input")
    MediaFuzz.decodeAll(path: path, namesFileUnder: path)
    return 0
}
