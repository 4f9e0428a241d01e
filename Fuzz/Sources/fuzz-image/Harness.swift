import FuzzSupport

/// Image inputs. The first byte picks how the picture reaches `MediaSource`; the rest is the picture:
///  - low nibble: the file extension (the image2 demuxer and the folder scan key on it, not only on content);
///  - 0x10: a folder holding the picture twice (`img2`, `img10`: natural order, each opened as its own input);
///  - 0x20: an image2 sequence pattern `img%d.ext` over the same two files;
///  - neither: the single file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 1 else { return 0 }
    let extensions = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "pgm", "ppm", "gif"]
    let ext = extensions[Int(data[0] & 0x0F) % extensions.count]
    let folder = Fuzz.freshFolder("pictures")
    if data[0] & 0x30 == 0 {
        let path = Fuzz.write(data + 1, size - 1, to: "pictures/picture.\(ext)")
        MediaFuzz.decodeAll(path: path, namesFileUnder: path)
        return 0
    }
    Fuzz.write(data + 1, size - 1, to: "pictures/img2.\(ext)")
    Fuzz.write(data + 1, size - 1, to: "pictures/img10.\(ext)")
    let input = data[0] & 0x10 != 0 ? folder : folder + "/img%d.\(ext)"
    MediaFuzz.decodeAll(path: input, namesFileUnder: folder)
    return 0
}
