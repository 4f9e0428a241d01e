import CFreeType
import Foundation
import VocaSegCore

/// One rendered glyph: 8-bit coverage (0 … 255) plus where it sits relative to the pen on the baseline.
struct Glyph: Sendable {
    var width: Int
    var height: Int
    /// Offset of the bitmap's left column from the pen position.
    var left: Int
    /// Offset of the bitmap's top row above the baseline (positive = up).
    var top: Int
    /// Pen advance in whole pixels.
    var advance: Int
    /// `width * height` coverage bytes, rows packed.
    var coverage: [UInt8]
}

/// A FreeType face rendering anti-aliased glyphs at pixel sizes, caching each glyph bitmap per size.
/// Not thread-safe: FreeType faces are not, so the owner serialises calls.
final class FontRasterizer {
    let path: String
    private var library: FT_Library?
    private var face: FT_Face?
    private var activeSize = 0
    private var glyphs: [GlyphKey: Glyph] = [:]

    private struct GlyphKey: Hashable {
        var pixelSize: Int
        var scalar: UInt32
    }

    init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw VocaSegError(.input, "font file not found (install fonts-dejavu-core or pass a font path)",
                               path: path)
        }
        var library: FT_Library?
        let initError = FT_Init_FreeType(&library)
        guard initError == 0, let library else {
            throw VocaSegError(.internal, "FreeType failed to initialise (error \(initError))")
        }
        self.library = library
        var face: FT_Face?
        let faceError = FT_New_Face(library, path, 0, &face)
        guard faceError == 0, let face else {
            throw VocaSegError(.input, "not a font FreeType can read (error \(faceError))", path: path)
        }
        self.face = face
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    /// Ascender (above the baseline, positive) and descender (below, positive) in whole pixels at `pixelSize`.
    func lineMetrics(pixelSize: Int) throws -> (ascender: Int, descender: Int) {
        let face = try facePointer(pixelSize: pixelSize)
        let metrics = face.pointee.size.pointee.metrics
        return (Int((metrics.ascender + 63) >> 6), Int((-metrics.descender + 63) >> 6))
    }

    func glyph(for scalar: Unicode.Scalar, pixelSize: Int) throws -> Glyph {
        let key = GlyphKey(pixelSize: pixelSize, scalar: scalar.value)
        if let cached = glyphs[key] { return cached }
        let face = try facePointer(pixelSize: pixelSize)
        // A code point the font lacks renders as its .notdef box, which is what a reader should see.
        let loadError = FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(FT_LOAD_RENDER))
        guard loadError == 0, let slot = face.pointee.glyph else {
            throw VocaSegError(.input, "FreeType cannot render U+\(String(scalar.value, radix: 16, uppercase: true)) "
                + "(error \(loadError))", path: path)
        }
        let bitmap = slot.pointee.bitmap
        let width = Int(bitmap.width), height = Int(bitmap.rows), pitch = Int(bitmap.pitch)
        var coverage = [UInt8](repeating: 0, count: width * height)
        if width > 0, height > 0, let buffer = bitmap.buffer {
            guard bitmap.pixel_mode == UInt8(FT_PIXEL_MODE_GRAY.rawValue) else {
                throw VocaSegError(.input, "font renders U+\(String(scalar.value, radix: 16)) as a non-greyscale "
                    + "bitmap (pixel mode \(bitmap.pixel_mode))", path: path)
            }
            // A negative pitch means the rows are stored bottom-up; `buffer` still points at the top row's bytes
            // only for positive pitch, so start from the last stored row then.
            let topRow = pitch >= 0 ? buffer : buffer + (height - 1) * -pitch
            for row in 0..<height {
                let source = topRow + row * pitch
                for column in 0..<width { coverage[row * width + column] = source[column] }
            }
        }
        let glyph = Glyph(width: width, height: height, left: Int(slot.pointee.bitmap_left),
                          top: Int(slot.pointee.bitmap_top), advance: Int((slot.pointee.advance.x + 32) >> 6),
                          coverage: coverage)
        glyphs[key] = glyph
        return glyph
    }

    private func facePointer(pixelSize: Int) throws -> FT_Face {
        guard let face else { throw VocaSegError(.internal, "font face already released", path: path) }
        if activeSize != pixelSize {
            let error = FT_Set_Pixel_Sizes(face, 0, FT_UInt(pixelSize))
            guard error == 0 else {
                throw VocaSegError(.input, "font cannot be set to \(pixelSize) px (error \(error))", path: path)
            }
            activeSize = pixelSize
        }
        return face
    }
}
