/// Where the legend's pieces go: a semi-transparent dark box in the top-left corner holding one row per class
/// present (swatch, then name), in class-index order so rows do not shuffle between frames. When the rows do not
/// fit the frame's height they continue in further columns.
struct LegendLayout: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var classIndex: Int
        var swatch: PixelRect
        /// Top-left corner of the name's text mask.
        var textX: Int
        var textY: Int
    }

    var background: PixelRect
    var entries: [Entry]

    /// Black at 55 %: `f ← (f · 115 + 128) >> 8`.
    static let backgroundKeep: UInt32 = 115

    /// `masks[i]` is the name mask for `classes[i]`; all share `ascender`/`descender` of one pixel size.
    init(classes: [Int], masks: [TextMask], pixelSize: Int, ascender: Int, descender: Int, frameHeight: Int) {
        let margin = max(4, pixelSize / 2), padding = max(3, pixelSize / 3), gap = max(3, pixelSize / 3)
        let rowHeight = ascender + descender + max(2, pixelSize / 4)
        let swatchSide = max(4, ascender)
        let rowsPerColumn = max(1, (frameHeight - 2 * margin - 2 * padding) / rowHeight)

        var entries: [Entry] = []
        var columnX = margin + padding
        var widest = 0
        for (i, classIndex) in classes.enumerated() {
            let row = i % rowsPerColumn
            if row == 0 && i > 0 {
                columnX += widest + 2 * gap
                widest = 0
            }
            let rowY = margin + padding + row * rowHeight
            let baselineY = rowY + (rowHeight - ascender - descender) / 2 + ascender
            let swatch = PixelRect(x: columnX, y: baselineY - swatchSide, width: swatchSide, height: swatchSide)
            let mask = masks[i]
            let textLeft = columnX + swatchSide + gap
            entries.append(Entry(classIndex: classIndex, swatch: swatch, textX: textLeft - mask.origin,
                                 textY: baselineY - mask.baseline))
            widest = max(widest, swatchSide + gap + mask.width - mask.origin)
        }
        let rows = min(classes.count, rowsPerColumn)
        background = PixelRect(x: margin, y: margin, width: columnX + widest + padding - margin,
                               height: 2 * padding + rows * rowHeight)
        self.entries = entries
    }
}
