/// Block motion of one frame relative to the frame shown just before it, on a grid of 4×4-pixel cells (the
/// smallest H.264 partition), in the coordinates of the upright frame.
///
/// A cell holds the displacement (dx, dy) that leads from a pixel of this frame to where its content was in the
/// previous frame: label(this, p) ≈ label(previous, p + d). Cells that no vector covers (intra-coded blocks, a
/// whole I-frame) are *uncertain*.
public struct MotionField: Sendable, Equatable {
    public static let cellSize = 4
    public let width: Int
    public let height: Int
    public let columns: Int
    public let rows: Int
    /// Per cell, row-major; meaningful where `known` is true.
    public var dx: [Float]
    public var dy: [Float]
    public var known: [Bool]
    /// "I", "P", "B" or "?" as the decoder reported the picture.
    public var pictureType: Character

    public init(width: Int, height: Int, pictureType: Character = "?") {
        precondition(width > 0 && height > 0, "MotionField: empty frame")
        self.width = width
        self.height = height
        columns = (width + Self.cellSize - 1) / Self.cellSize
        rows = (height + Self.cellSize - 1) / Self.cellSize
        dx = [Float](repeating: 0, count: columns * rows)
        dy = dx
        known = [Bool](repeating: false, count: columns * rows)
        self.pictureType = pictureType
    }

    /// Sets every cell that the block (top-left x, y; size w×h, in pixels) covers, clipped to the frame.
    public mutating func setBlock(x: Int, y: Int, width w: Int, height h: Int, dx: Float, dy: Float) {
        let c0 = max(0, x / Self.cellSize), c1 = min(columns, (x + w + Self.cellSize - 1) / Self.cellSize)
        let r0 = max(0, y / Self.cellSize), r1 = min(rows, (y + h + Self.cellSize - 1) / Self.cellSize)
        guard c0 < c1, r0 < r1 else { return }
        for r in r0..<r1 {
            for c in c0..<c1 {
                let i = r * columns + c
                self.dx[i] = dx
                self.dy[i] = dy
                known[i] = true
            }
        }
    }

    /// Share of cells without a usable vector (0…1).
    public var uncertainFraction: Double {
        Double(known.lazy.filter { !$0 }.count) / Double(known.count)
    }

    /// Mean displacement length over the cells with a vector, in pixels per frame (0 when none).
    public var meanMotion: Double {
        var sum = 0.0, count = 0
        for i in known.indices where known[i] {
            sum += Double((dx[i] * dx[i] + dy[i] * dy[i]).squareRoot())
            count += 1
        }
        return count > 0 ? sum / Double(count) : 0
    }

    /// For every pixel, the index of the previous frame's pixel it takes its value from, or -1 where uncertain.
    /// Displacements round to the nearest pixel and clamp to the frame (content entering at an edge repeats it).
    func sourceIndices() -> [Int32] {
        var map = [Int32](repeating: -1, count: width * height)
        for y in 0..<height {
            let row = (y / Self.cellSize) * columns
            for x in 0..<width {
                let cell = row + x / Self.cellSize
                guard known[cell] else { continue }
                let sx = min(width - 1, max(0, x + Int((dx[cell]).rounded())))
                let sy = min(height - 1, max(0, y + Int((dy[cell]).rounded())))
                map[y * width + x] = Int32(sy * width + sx)
            }
        }
        return map
    }

    /// Carries `previous` (one value per pixel, row-major, this field's size) forward to this frame. Uncertain
    /// pixels take the nearest certain pixel's warped value on their row (left first, then right), or, on a row
    /// with none, the row above; a frame without any vector keeps `previous` unchanged.
    public func warp<T>(_ previous: [T]) -> [T] {
        precondition(previous.count == width * height, "MotionField.warp: \(previous.count) values for a \(width)x\(height) field")
        let sources = sourceIndices()
        guard sources.contains(where: { $0 >= 0 }) else { return previous }
        var out = previous
        var filled = [Bool](repeating: false, count: width * height)
        for i in 0..<(width * height) where sources[i] >= 0 {
            out[i] = previous[Int(sources[i])]
            filled[i] = true
        }
        for y in 0..<height {
            let base = y * width
            var last = -1
            for x in 0..<width {
                if filled[base + x] { last = x } else if last >= 0 { out[base + x] = out[base + last] }
            }
            // Leading gap: from the first certain pixel on the right.
            if let first = (0..<width).first(where: { filled[base + $0] }) {
                for x in 0..<first { out[base + x] = out[base + first] }
            } else if y > 0 {
                for x in 0..<width { out[base + x] = out[base - width + x] }
            }
        }
        return out
    }
}

extension LabelMap {
    /// This label map carried to the next frame by `motion` (same size), or nil when the sizes differ.
    public func propagated(by motion: MotionField) -> LabelMap? {
        guard motion.width == width, motion.height == height else { return nil }
        return LabelMap(width: width, height: height, labels: motion.warp(labels))
    }
}

extension PanopticResult {
    /// The segment-id map carried to the next frame by `motion`; segments keep their ids, classes and scores, their
    /// areas and boxes are measured again, and those that left the frame are dropped. Nil when the sizes differ.
    public func propagated(by motion: MotionField) -> PanopticResult? {
        guard motion.width == width, motion.height == height else { return nil }
        var result = self
        result.segmentIds = motion.warp(segmentIds)
        var area: [UInt32: Int] = [:]
        var box: [UInt32: (x0: Int, y0: Int, x1: Int, y1: Int)] = [:]
        for y in 0..<height {
            for x in 0..<width {
                let id = result.segmentIds[y * width + x]
                guard id != 0 else { continue }
                area[id, default: 0] += 1
                let b = box[id] ?? (x, y, x, y)
                box[id] = (min(b.x0, x), min(b.y0, y), max(b.x1, x), max(b.y1, y))
            }
        }
        result.segments = segments.compactMap { segment in
            guard let a = area[segment.id], let b = box[segment.id] else { return nil }
            var s = segment
            s.area = a
            s.bbox = (b.x0, b.y0, b.x1 - b.x0 + 1, b.y1 - b.y0 + 1)
            return s
        }
        return result
    }
}
