import Foundation
import VocaSegCore

/// Draws segmentation results over video frames: class colours alpha-blended onto the full-resolution frame,
/// optional outlines, class names inside their regions and a legend of the classes present.
///
/// Configure one per stream and reuse it: colours come from `Palette` (or the overrides) and are fixed at init,
/// glyphs and text masks are cached across frames. Calls are serialised by an internal lock, so one renderer may
/// be shared, but two threads rendering at once should each have their own.
public final class OverlayRenderer: @unchecked Sendable {
    public let classNames: [String]
    public let options: OverlayOptions
    private let colorTable: ClassColorTable
    /// Opened only when labels or the legend need text.
    private let font: FontRasterizer?
    private var textMasks: [TextKey: TextMask] = [:]
    private let lock = NSLock()

    private struct TextKey: Hashable {
        var text: String
        var pixelSize: Int
    }

    /// What one call drew where; tests check it against the pixels.
    struct Layout: Sendable {
        var labelBoxes: [(classIndex: Int, box: PixelRect)] = []
        var legend: LegendLayout?
    }

    public init(classNames: [String], options: OverlayOptions = OverlayOptions()) throws {
        guard !classNames.isEmpty else { throw VocaSegError(.usage, "the overlay needs at least one class name") }
        guard classNames.count < Int(LabelMap.unlabeled) else {
            throw VocaSegError(.usage, "the overlay supports at most \(Int(LabelMap.unlabeled) - 1) classes")
        }
        self.classNames = classNames
        self.options = try options.validated()
        colorTable = ClassColorTable(classNames: classNames, alpha: options.alpha, overrides: options.colorOverrides)
        font = options.drawsLabels || options.drawsLegend ? try FontRasterizer(path: options.fontPath) : nil
    }

    public convenience init(vocabulary: Vocabulary, options: OverlayOptions = OverlayOptions()) throws {
        try self.init(classNames: vocabulary.names, options: options)
    }

    /// The colour class `index` is drawn in (palette or override).
    public func color(ofClass index: Int) -> RGBColor? {
        colorTable.colors.indices.contains(index) ? colorTable.colors[index] : nil
    }

    /// Text height in pixels for a frame `height` pixels tall: height / 40, at least 12.
    public static func labelPixelSize(frameHeight height: Int) -> Int { max(12, height / 40) }

    /// Returns `frame` with the overlay drawn; `labels` may be smaller (or larger) than the frame and is sampled
    /// nearest-neighbour. Throws if a label names no class of the vocabulary or the label map is empty.
    public func render(frame: RGBImage, labels: LabelMap) throws -> RGBImage {
        var output = frame
        try render(into: &output, labels: labels)
        return output
    }

    /// Draws the overlay into `frame` in place (no allocation of a new frame when its buffer is uniquely held).
    public func render(into frame: inout RGBImage, labels: LabelMap) throws {
        _ = try renderWithLayout(into: &frame, labels: labels)
    }

    /// Draws a whole result: its panoptic segments (instance colours, outlines between instances, labels such as
    /// `person 3`) when it has them, else its label map.
    public func render(frame: RGBImage, result: SegmentationResult) throws -> RGBImage {
        var output = frame
        if let panoptic = result.panoptic {
            _ = try renderPanopticWithLayout(into: &output, panoptic: panoptic)
        } else {
            try render(into: &output, labels: result.labels)
        }
        return output
    }

    func renderPanopticWithLayout(into frame: inout RGBImage, panoptic: PanopticResult) throws -> Layout {
        lock.lock()
        defer { lock.unlock() }
        guard frame.width > 0, frame.height > 0 else { return Layout() }
        guard panoptic.width > 0, panoptic.height > 0 else {
            throw VocaSegError(.internal, "the panoptic map is empty (\(panoptic.width)x\(panoptic.height))")
        }
        if let bad = panoptic.segments.first(where: { !classNames.indices.contains($0.classIndex) }) {
            throw VocaSegError(.internal, "segment \(bad.id) names class \(bad.classIndex) but the vocabulary has "
                + "only \(classNames.count) classes")
        }
        let slots = try SegmentSlots(panoptic)
        let colors = slots.segments.map {
            InstanceColors.color(classColor: colorTable.colors[$0.classIndex], trackId: $0.id, isThing: $0.isThing)
        }
        // Each segment is its own "class" for the blender, so outlines fall between touching instances too.
        let table = ClassColorTable(colors: colors, alpha: options.alpha)
        OverlayBlender.blend(frame: &frame, labels: slots.labels, colors: table, outlines: options.drawsOutlines)

        var layout = Layout()
        guard let font else { return layout }
        let pixelSize = Self.labelPixelSize(frameHeight: frame.height)
        if options.drawsLabels {
            let names = slots.segments.map { $0.isThing ? "\(classNames[$0.classIndex]) \($0.id)" : classNames[$0.classIndex] }
            let placed = try drawLabels(into: &frame, labels: slots.labels, counts: slots.segments.map(\.area),
                                        names: names, pixelSize: pixelSize)
            layout.labelBoxes = placed.map { (slots.segments[$0.classIndex].classIndex, $0.box) }
        }
        if options.drawsLegend {
            var counts = [Int](repeating: 0, count: classNames.count)
            for segment in slots.segments { counts[segment.classIndex] += segment.area }
            layout.legend = try drawLegend(into: &frame, counts: counts, pixelSize: max(12, pixelSize * 4 / 5),
                                           font: font)
        }
        return layout
    }

    func renderWithLayout(into frame: inout RGBImage, labels: LabelMap) throws -> Layout {
        lock.lock()
        defer { lock.unlock() }
        guard frame.width > 0, frame.height > 0 else { return Layout() }
        guard labels.width > 0, labels.height > 0 else {
            throw VocaSegError(.internal, "the label map is empty (\(labels.width)x\(labels.height)) for a "
                + "\(frame.width)x\(frame.height) frame")
        }
        let counts = try LabelStatistics.classCounts(labels, classCount: classNames.count)
        OverlayBlender.blend(frame: &frame, labels: labels, colors: colorTable, outlines: options.drawsOutlines)

        var layout = Layout()
        guard let font else { return layout }
        let pixelSize = Self.labelPixelSize(frameHeight: frame.height)
        if options.drawsLabels {
            layout.labelBoxes = try drawLabels(into: &frame, labels: labels, counts: counts, names: classNames,
                                               pixelSize: pixelSize)
        }
        if options.drawsLegend {
            layout.legend = try drawLegend(into: &frame, counts: counts, pixelSize: max(12, pixelSize * 4 / 5),
                                           font: font)
        }
        return layout
    }

    /// `labels` indexes `names` and `counts` (classes, or the segments of a panoptic frame).
    private func drawLabels(into frame: inout RGBImage, labels: LabelMap, counts: [Int], names: [String],
                            pixelSize: Int) throws -> [(classIndex: Int, box: PixelRect)]
    {
        let minimum = max(1, Int((options.minimumLabelFraction * Double(labels.labels.count)).rounded(.up)))
        let wanted = Set(counts.indices.filter { counts[$0] >= minimum })
        let anchors = RegionAnchorFinder.anchors(labels: labels, frameWidth: frame.width, frameHeight: frame.height,
                                                 classes: wanted)
        // Bigger regions first; a label that would overlap one already placed is left out rather than smeared.
        let ordered = anchors.sorted { ($0.regionCells, -$0.classIndex) > ($1.regionCells, -$1.classIndex) }
        var placed: [(classIndex: Int, box: PixelRect)] = []
        var masks: [TextMask] = []
        for anchor in ordered {
            let mask = try textMask(names[anchor.classIndex], pixelSize: pixelSize)
            let x = min(max(anchor.x - mask.width / 2, 0), max(frame.width - mask.width, 0))
            let y = min(max(anchor.y - mask.height / 2, 0), max(frame.height - mask.height, 0))
            let box = PixelRect(x: x, y: y, width: mask.width, height: mask.height)
            if placed.contains(where: { $0.box.intersects(box) }) { continue }
            placed.append((anchor.classIndex, box))
            masks.append(mask)
        }
        let width = frame.width, height = frame.height
        frame.pixels.withUnsafeMutableBufferPointer { pixels in
            for (mask, label) in zip(masks, placed) {
                mask.draw(at: label.box.x, label.box.y, into: pixels.baseAddress!, frameWidth: width,
                          frameHeight: height)
            }
        }
        return placed
    }

    private func drawLegend(into frame: inout RGBImage, counts: [Int], pixelSize: Int, font: FontRasterizer) throws
        -> LegendLayout?
    {
        let present = counts.indices.filter { counts[$0] > 0 }
        guard !present.isEmpty else { return nil }
        let masks = try present.map { try textMask(classNames[$0], pixelSize: pixelSize) }
        let (ascender, descender) = try font.lineMetrics(pixelSize: pixelSize)
        let layout = LegendLayout(classes: present, masks: masks, pixelSize: pixelSize, ascender: ascender,
                                  descender: descender, frameHeight: frame.height)
        let width = frame.width, height = frame.height
        frame.pixels.withUnsafeMutableBufferPointer { buffer in
            let pixels = buffer.baseAddress!
            RectanglePainter.darken(layout.background, keep: LegendLayout.backgroundKeep, in: pixels, width: width,
                                    height: height)
            for (entry, mask) in zip(layout.entries, masks) {
                RectanglePainter.fill(entry.swatch, with: colorTable.colors[entry.classIndex], in: pixels,
                                      width: width, height: height)
                mask.draw(at: entry.textX, entry.textY, into: pixels, frameWidth: width, frameHeight: height)
            }
        }
        return layout
    }

    private func textMask(_ text: String, pixelSize: Int) throws -> TextMask {
        let key = TextKey(text: text, pixelSize: pixelSize)
        if let cached = textMasks[key] { return cached }
        guard let font else { throw VocaSegError(.internal, "text requested from an overlay without a font") }
        let mask = try TextMask(text: text, pixelSize: pixelSize, font: font)
        // A stream uses a handful of sizes; the bound only guards against a renderer reused across many sizes.
        if textMasks.count >= 4096 { textMasks.removeAll(keepingCapacity: true) }
        textMasks[key] = mask
        return mask
    }
}
