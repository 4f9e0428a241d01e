import Testing
@testable import VocaSegRender

/// FontRasterizer's glyph bitmaps (row order, pitch, placement) against Pillow's FreeType rendering of the same
/// glyphs (`Scripts/reference/render_glyph_goldens.py`).
@Suite struct GlyphGoldenTests {
    @Test(arguments: glyphGoldens.indices)
    func glyphMatchesPillow(index: Int) throws {
        let golden = glyphGoldens[index]
        let font = try FontRasterizer(path: OverlayOptions.defaultFontPath)
        let glyph = try font.glyph(for: golden.character, pixelSize: golden.pixelSize)
        // Crop our bitmap to its ink, as the golden is.
        func ink(_ r: Int, _ c: Int) -> Bool { glyph.coverage[r * glyph.width + c] > 0 }
        let inkRows = (0..<glyph.height).filter { r in (0..<glyph.width).contains { ink(r, $0) } }
        let inkColumns = (0..<glyph.width).filter { c in (0..<glyph.height).contains { ink($0, c) } }
        let top = try #require(inkRows.first), bottom = try #require(inkRows.last)
        let left = try #require(inkColumns.first), right = try #require(inkColumns.last)
        let label = "\(golden.character) at \(golden.pixelSize) px"
        #expect(glyph.left + left == golden.inkLeft, "\(label): ink left")
        #expect(glyph.top - top == golden.inkTop, "\(label): ink top")
        #expect(right - left + 1 == golden.width, "\(label): ink width")
        #expect(bottom - top + 1 == golden.height, "\(label): ink height")
        guard right - left + 1 == golden.width, bottom - top + 1 == golden.height else { return }
        var largestDifference = 0
        for r in 0..<golden.height {
            for c in 0..<golden.width {
                let ours = Int(glyph.coverage[(top + r) * glyph.width + left + c])
                largestDifference = max(largestDifference, abs(ours - Int(golden.coverage[r * golden.width + c])))
            }
        }
        #expect(largestDifference == 0, "\(label): coverage differs by up to \(largestDifference)")
    }
}
