import Dispatch
import Foundation
import VocaSegCore

/// Alpha-blends class colours onto a full-resolution frame, sampling a label map of any size nearest-neighbour,
/// optionally with class outlines. Rows are split into chunks blended in parallel.
enum OverlayBlender {
    /// The label map's classes must already be validated (`< colors.colors.count` or unlabeled).
    static func blend(frame: inout RGBImage, labels: LabelMap, colors: ClassColorTable, outlines: Bool) {
        let width = frame.width, height = frame.height
        guard width > 0, height > 0, labels.width > 0, labels.height > 0 else { return }
        let columns = NearestIndexTable.indices(outputCount: width, inputCount: labels.width)
        let rows = NearestIndexTable.indices(outputCount: height, inputCount: labels.height)
        let chunks = RowChunks.count(rows: height, activeProcessors: ProcessInfo.processInfo.activeProcessorCount)

        frame.pixels.withUnsafeMutableBufferPointer { pixelBuffer in
            labels.labels.withUnsafeBufferPointer { labelBuffer in
                columns.withUnsafeBufferPointer { columnBuffer in
                    rows.withUnsafeBufferPointer { rowBuffer in
                        let job = BlendJob(
                            pixels: pixelBuffer.baseAddress!, labels: labelBuffer.baseAddress!,
                            labelWidth: labels.width, columns: columnBuffer.baseAddress!, rows: rowBuffer.baseAddress!,
                            width: width, height: height, premultiplied: colors.premultiplied,
                            frameWeight: colors.frameWeight, outline: colors.outline,
                            pattern: colors.premultipliedPattern, outlines: outlines)
                        let shared = UnsafeSendable(job)
                        // The job holds raw pointers into `colors`; keep the table alive until the workers finish.
                        withExtendedLifetime(colors) {
                            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                                shared.value.run(rows: RowChunks.range(chunk: chunk, of: chunks, rows: height))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Raw pointers for one blend call; each worker writes only its own rows of `pixels`.
private struct BlendJob {
    let pixels: UnsafeMutablePointer<UInt8>
    let labels: UnsafePointer<UInt16>
    let labelWidth: Int
    /// Label column sampled by each frame column.
    let columns: UnsafePointer<Int>
    /// Label row sampled by each frame row.
    let rows: UnsafePointer<Int>
    let width: Int
    let height: Int
    let premultiplied: UnsafeMutablePointer<UInt32>
    let frameWeight: UInt32
    let outline: UnsafeMutablePointer<UInt8>
    let pattern: UnsafeMutablePointer<UInt16>
    let outlines: Bool

    func run(rows rowRange: Range<Int>) {
        var source = LabelRowSource(labels: labels, labelWidth: labelWidth, columns: columns, width: width)
        defer { source.release() }
        for y in rowRange {
            let here = rows[y]
            if !outlines {
                blend(row: y, labels: source.row(here, keeping: (here, here)))
                continue
            }
            // Rows above/below that sample the same label row cannot differ, so they alias the current row; at the
            // frame's top and bottom edges the missing neighbour is the row itself, so it never differs either.
            let above = rows[max(y - 1, 0)], below = rows[min(y + 1, height - 1)]
            let current = source.row(here, keeping: (above, below))
            let upper = above == here ? current : source.row(above, keeping: (here, below))
            let lower = below == here ? current : source.row(below, keeping: (here, above))
            blendWithOutlines(row: y, current: current, upper: upper, lower: lower)
        }
    }

    /// Label maps are runs of one class, so rows are walked run by run and each run blended with its colour
    /// loaded once.
    private func blend(row y: Int, labels current: UnsafePointer<UInt16>) {
        let rowPixels = pixels + y * width * 3
        var x = 0
        while x < width {
            let label = current[x]
            let end = LabelRuns.end(of: label, in: current, from: x + 1, to: width)
            if label != LabelMap.unlabeled { blendRun(rowPixels + x * 3, count: end - x, label: Int(label)) }
            x = end
        }
    }

    /// A labeled pixel is outline when a 4-neighbour inside the frame has another label (the frame's edges are
    /// not boundaries). Within a run of one label only its two ends can differ horizontally; the rest is outline
    /// only where the row above or below differs.
    private func blendWithOutlines(row y: Int, current: UnsafePointer<UInt16>, upper: UnsafePointer<UInt16>,
                                   lower: UnsafePointer<UInt16>) {
        let rowPixels = pixels + y * width * 3
        var x = 0
        while x < width {
            let label = current[x]
            let end = LabelRuns.end(of: label, in: current, from: x + 1, to: width)
            if label != LabelMap.unlabeled {
                let entry = Int(label) * 3
                var first = x, last = end
                if x > 0 {
                    outlinePixel(rowPixels + x * 3, entry)
                    first += 1
                }
                if end < width && last > first {
                    outlinePixel(rowPixels + (end - 1) * 3, entry)
                    last -= 1
                }
                var i = first
                while i < last {
                    if upper[i] != label || lower[i] != label {
                        outlinePixel(rowPixels + i * 3, entry)
                        i += 1
                        continue
                    }
                    let runEnd = LabelRuns.end(of: label, in: upper, and: lower, from: i + 1, to: last)
                    blendRun(rowPixels + i * 3, count: runEnd - i, label: Int(label))
                    i = runEnd
                }
            }
            x = end
        }
    }

    @inline(__always)
    private func outlinePixel(_ pixel: UnsafeMutablePointer<UInt8>, _ entry: Int) {
        pixel[0] = outline[entry]
        pixel[1] = outline[entry + 1]
        pixel[2] = outline[entry + 2]
    }

    /// Blends `count` pixels of one class: 16 at a time as three 16-byte vectors, the rest one by one.
    @inline(__always)
    private func blendRun(_ start: UnsafeMutablePointer<UInt8>, count: Int, label: Int) {
        var done = 0
        if count >= 16 {
            let patterns = UnsafeRawPointer(pattern + label * 48)
            let p0 = patterns.loadUnaligned(as: SIMD16<UInt16>.self)
            let p1 = patterns.loadUnaligned(fromByteOffset: 32, as: SIMD16<UInt16>.self)
            let p2 = patterns.loadUnaligned(fromByteOffset: 64, as: SIMD16<UInt16>.self)
            let weight = SIMD16<UInt16>(repeating: UInt16(frameWeight))
            @inline(__always) func blend16(_ at: UnsafeMutableRawPointer, _ premultiplied: SIMD16<UInt16>) {
                let frame = SIMD16<UInt16>(truncatingIfNeeded: at.loadUnaligned(as: SIMD16<UInt8>.self))
                let mixed = (premultiplied &+ weight &* frame) &>> 8
                at.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: mixed), as: SIMD16<UInt8>.self)
            }
            while done + 16 <= count {
                let block = UnsafeMutableRawPointer(start + done * 3)
                blend16(block, p0)
                blend16(block + 16, p1)
                blend16(block + 32, p2)
                done += 16
            }
        }
        let entry = label * 3
        while done < count {
            blendPixel(start + done * 3, entry)
            done += 1
        }
    }

    @inline(__always)
    private func blendPixel(_ pixel: UnsafeMutablePointer<UInt8>, _ entry: Int) {
        pixel[0] = UInt8(truncatingIfNeeded: (premultiplied[entry] &+ frameWeight &* UInt32(pixel[0])) >> 8)
        pixel[1] = UInt8(truncatingIfNeeded: (premultiplied[entry + 1] &+ frameWeight &* UInt32(pixel[1])) >> 8)
        pixel[2] = UInt8(truncatingIfNeeded: (premultiplied[entry + 2] &+ frameWeight &* UInt32(pixel[2])) >> 8)
    }
}

/// Label rows resampled to the frame's width. When the widths match, rows are read in place; otherwise each label
/// row is expanded once into one of three scratch rows and reused while consecutive frame rows sample it (an
/// upsampled map repeats each label row several times), so the column gather is paid per label row, not per
/// frame row.
private struct LabelRowSource {
    let labels: UnsafePointer<UInt16>
    let labelWidth: Int
    let columns: UnsafePointer<Int>
    let width: Int
    let inPlace: Bool
    let scratch: UnsafeMutablePointer<UInt16>
    /// Label row held by each scratch row, −1 when empty.
    var held: (Int, Int, Int) = (-1, -1, -1)

    init(labels: UnsafePointer<UInt16>, labelWidth: Int, columns: UnsafePointer<Int>, width: Int) {
        self.labels = labels
        self.labelWidth = labelWidth
        self.columns = columns
        self.width = width
        inPlace = labelWidth == width
        scratch = .allocate(capacity: inPlace ? 0 : 3 * width)
    }

    func release() { scratch.deallocate() }

    /// Label row `source` at frame width. `keeping` names the (up to two) other rows the caller still needs, so
    /// their scratch rows are not overwritten.
    mutating func row(_ source: Int, keeping other: (Int, Int)) -> UnsafePointer<UInt16> {
        if inPlace { return labels + source * labelWidth }
        if held.0 == source { return UnsafePointer(scratch) }
        if held.1 == source { return UnsafePointer(scratch + width) }
        if held.2 == source { return UnsafePointer(scratch + 2 * width) }
        func free(_ tag: Int) -> Bool { tag != other.0 && tag != other.1 }
        let slot = free(held.0) ? 0 : (free(held.1) ? 1 : 2)
        switch slot {
        case 0: held.0 = source
        case 1: held.1 = source
        default: held.2 = source
        }
        let target = scratch + slot * width
        let sourceRow = labels + source * labelWidth
        for x in 0..<width { target[x] = sourceRow[columns[x]] }
        return UnsafePointer(target)
    }
}
