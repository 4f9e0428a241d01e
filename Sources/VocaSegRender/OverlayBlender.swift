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
        let columns = NearestIndexTable.paddedIndices(outputCount: width, inputCount: labels.width)
        let rows = NearestIndexTable.indices(outputCount: height, inputCount: labels.height)
        let chunks = RowChunks.count(rows: height, activeProcessors: ProcessInfo.processInfo.activeProcessorCount)

        frame.pixels.withUnsafeMutableBufferPointer { pixelBuffer in
            labels.labels.withUnsafeBufferPointer { labelBuffer in
                columns.withUnsafeBufferPointer { columnBuffer in
                    rows.withUnsafeBufferPointer { rowBuffer in
                        colors.premultiplied.withUnsafeBufferPointer { premultiplied in
                            colors.outline.withUnsafeBufferPointer { outline in
                                let job = BlendJob(
                                    pixels: pixelBuffer.baseAddress!, labels: labelBuffer.baseAddress!,
                                    labelWidth: labels.width, columns: columnBuffer.baseAddress!,
                                    rows: rowBuffer.baseAddress!, width: width, height: height,
                                    premultiplied: premultiplied.baseAddress!, frameWeight: colors.frameWeight,
                                    outline: outline.baseAddress!)
                                let shared = UnsafeSendable(job)
                                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                                    let rowRange = RowChunks.range(chunk: chunk, of: chunks, rows: height)
                                    if outlines {
                                        shared.value.blendWithOutlines(rows: rowRange)
                                    } else {
                                        shared.value.blend(rows: rowRange)
                                    }
                                }
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
    /// Padded: `columns[x + 1]` is the label column of frame column x.
    let columns: UnsafePointer<Int>
    let rows: UnsafePointer<Int>
    let width: Int
    let height: Int
    let premultiplied: UnsafePointer<UInt32>
    let frameWeight: UInt32
    let outline: UnsafePointer<UInt8>

    func blend(rows rowRange: Range<Int>) {
        for y in rowRange {
            let labelRow = labels + rows[y] * labelWidth
            var pixel = pixels + y * width * 3
            for x in 0..<width {
                let label = labelRow[columns[x + 1]]
                if label != LabelMap.unlabeled { blendPixel(pixel, Int(label) * 3) }
                pixel += 3
            }
        }
    }

    func blendWithOutlines(rows rowRange: Range<Int>) {
        for y in rowRange {
            // At the top and bottom frame rows the neighbour row is the row itself, so it never differs.
            let labelRow = labels + rows[y] * labelWidth
            let rowAbove = labels + rows[max(y - 1, 0)] * labelWidth
            let rowBelow = labels + rows[min(y + 1, height - 1)] * labelWidth
            var pixel = pixels + y * width * 3
            for x in 0..<width {
                let column = columns[x + 1]
                let label = labelRow[column]
                if label != LabelMap.unlabeled {
                    let onBoundary = labelRow[columns[x]] != label || labelRow[columns[x + 2]] != label
                        || rowAbove[column] != label || rowBelow[column] != label
                    let entry = Int(label) * 3
                    if onBoundary {
                        pixel[0] = outline[entry]
                        pixel[1] = outline[entry + 1]
                        pixel[2] = outline[entry + 2]
                    } else {
                        blendPixel(pixel, entry)
                    }
                }
                pixel += 3
            }
        }
    }

    @inline(__always)
    private func blendPixel(_ pixel: UnsafeMutablePointer<UInt8>, _ entry: Int) {
        pixel[0] = UInt8(truncatingIfNeeded: (premultiplied[entry] &+ frameWeight &* UInt32(pixel[0])) >> 8)
        pixel[1] = UInt8(truncatingIfNeeded: (premultiplied[entry + 1] &+ frameWeight &* UInt32(pixel[1])) >> 8)
        pixel[2] = UInt8(truncatingIfNeeded: (premultiplied[entry + 2] &+ frameWeight &* UInt32(pixel[2])) >> 8)
    }
}
