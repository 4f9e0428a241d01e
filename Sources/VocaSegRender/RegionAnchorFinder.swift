import VocaSegCore

/// Where a class's name goes: a frame point well inside the class's largest connected region.
struct RegionAnchor: Sendable, Equatable {
    var classIndex: Int
    /// Frame coordinates.
    var x: Int
    var y: Int
    /// Cells of the largest region on the search grid; orders labels (bigger regions are drawn first).
    var regionCells: Int
}

/// Finds label anchors on a coarse grid (at most `gridLongSide` cells on the long side) so the cost does not
/// grow with the frame: 4-connected components per class, the largest one per class, then the cell of that
/// component farthest from its border (city-block distance transform), ties broken towards the centroid. The
/// point is inside the region even for rings and crescents, where the centroid is not.
enum RegionAnchorFinder {
    static let gridLongSide = 160

    static func anchors(labels: LabelMap, frameWidth: Int, frameHeight: Int, classes wanted: Set<Int>)
        -> [RegionAnchor]
    {
        guard !wanted.isEmpty, labels.width > 0, labels.height > 0 else { return [] }
        let step = max(1, (max(labels.width, labels.height) + gridLongSide - 1) / gridLongSide)
        let gridWidth = (labels.width + step - 1) / step
        let gridHeight = (labels.height + step - 1) / step
        // Label-map column/row sampled by each grid cell: the middle of its step, clamped to the map.
        let sampleX = (0..<gridWidth).map { min($0 * step + step / 2, labels.width - 1) }
        let sampleY = (0..<gridHeight).map { min($0 * step + step / 2, labels.height - 1) }
        var grid = [UInt16](repeating: LabelMap.unlabeled, count: gridWidth * gridHeight)
        for gy in 0..<gridHeight {
            let labelRow = sampleY[gy] * labels.width
            for gx in 0..<gridWidth { grid[gy * gridWidth + gx] = labels.labels[labelRow + sampleX[gx]] }
        }

        let components = ConnectedComponents(grid: grid, width: gridWidth, height: gridHeight, wanted: wanted)
        var anchors: [RegionAnchor] = []
        for (classIndex, component) in components.largestPerClass.sorted(by: { $0.key < $1.key }) {
            let cell = components.deepestCell(of: component)
            // Middle of the frame pixels that sample this label-map pixel (nearest: dst ↦ floor(dst·in/out)).
            let lx = sampleX[cell.x], ly = sampleY[cell.y]
            let x = middleOfPreimage(source: lx, inputCount: labels.width, outputCount: frameWidth)
            let y = middleOfPreimage(source: ly, inputCount: labels.height, outputCount: frameHeight)
            anchors.append(RegionAnchor(classIndex: classIndex, x: x, y: y,
                                        regionCells: components.sizes[component]))
        }
        return anchors
    }

    /// The middle of { dst : floor(dst·in/out) = source }, or the nearest dst when the set is empty (downsampling).
    static func middleOfPreimage(source: Int, inputCount: Int, outputCount: Int) -> Int {
        let first = (source * outputCount + inputCount - 1) / inputCount
        let last = ((source + 1) * outputCount + inputCount - 1) / inputCount - 1
        return min(max((first + max(first, last)) / 2, 0), outputCount - 1)
    }
}

/// 4-connected components of a small class grid, restricted to the wanted classes.
private struct ConnectedComponents {
    let width: Int
    let height: Int
    /// Component id per cell, −1 for cells of unwanted classes.
    var ids: [Int32]
    var sizes: [Int] = []
    var sumX: [Int] = []
    var sumY: [Int] = []
    var boxes: [(minX: Int, minY: Int, maxX: Int, maxY: Int)] = []
    /// Class index → id of its largest component (the first found on ties: top-most, then left-most).
    var largestPerClass: [Int: Int] = [:]

    init(grid: [UInt16], width: Int, height: Int, wanted: Set<Int>) {
        self.width = width
        self.height = height
        ids = [Int32](repeating: -1, count: grid.count)
        var stack: [Int] = []
        stack.reserveCapacity(grid.count)
        for start in 0..<grid.count where ids[start] < 0 && wanted.contains(Int(grid[start])) {
            let label = grid[start]
            let id = sizes.count
            var size = 0, sx = 0, sy = 0
            var box = (minX: Int.max, minY: Int.max, maxX: Int.min, maxY: Int.min)
            ids[start] = Int32(id)
            stack.append(start)
            while let cell = stack.popLast() {
                let x = cell % width, y = cell / width
                size += 1
                sx += x
                sy += y
                box = (min(box.minX, x), min(box.minY, y), max(box.maxX, x), max(box.maxY, y))
                func visit(_ neighbour: Int) {
                    if ids[neighbour] < 0 && grid[neighbour] == label {
                        ids[neighbour] = Int32(id)
                        stack.append(neighbour)
                    }
                }
                if x > 0 { visit(cell - 1) }
                if x + 1 < width { visit(cell + 1) }
                if y > 0 { visit(cell - width) }
                if y + 1 < height { visit(cell + width) }
            }
            sizes.append(size)
            sumX.append(sx)
            sumY.append(sy)
            boxes.append(box)
            if let best = largestPerClass[Int(label)], sizes[best] >= size { continue }
            largestPerClass[Int(label)] = id
        }
    }

    /// The component cell with the largest city-block distance to the nearest cell outside the component (the
    /// grid edge counts as outside), ties broken by distance to the centroid, then by scan order.
    func deepestCell(of component: Int) -> (x: Int, y: Int) {
        let box = boxes[component]
        let boxWidth = box.maxX - box.minX + 1, boxHeight = box.maxY - box.minY + 1
        var distance = [Int32](repeating: 0, count: boxWidth * boxHeight)
        let far = Int32(boxWidth + boxHeight)
        func inside(_ bx: Int, _ by: Int) -> Bool { ids[(box.minY + by) * width + box.minX + bx] == Int32(component) }
        // Two chamfer passes; cells beyond the box are outside the component, so they count as distance 0.
        for by in 0..<boxHeight {
            for bx in 0..<boxWidth where inside(bx, by) {
                let up = by > 0 ? distance[(by - 1) * boxWidth + bx] : 0
                let left = bx > 0 ? distance[by * boxWidth + bx - 1] : 0
                distance[by * boxWidth + bx] = min(far, min(up, left) + 1)
            }
        }
        for by in stride(from: boxHeight - 1, through: 0, by: -1) {
            for bx in stride(from: boxWidth - 1, through: 0, by: -1) where inside(bx, by) {
                let down = by + 1 < boxHeight ? distance[(by + 1) * boxWidth + bx] : 0
                let right = bx + 1 < boxWidth ? distance[by * boxWidth + bx + 1] : 0
                let here = by * boxWidth + bx
                distance[here] = min(distance[here], min(down, right) + 1)
            }
        }
        // Compare squared distances to the centroid scaled by the size, to stay in integers.
        let size = sizes[component]
        var best = (x: box.minX, y: box.minY), bestDepth: Int32 = -1, bestSpread = Int.max
        for by in 0..<boxHeight {
            for bx in 0..<boxWidth where inside(bx, by) {
                let depth = distance[by * boxWidth + bx]
                let dx = (box.minX + bx) * size - sumX[component], dy = (box.minY + by) * size - sumY[component]
                let spread = dx * dx + dy * dy
                if depth > bestDepth || (depth == bestDepth && spread < bestSpread) {
                    best = (box.minX + bx, box.minY + by)
                    bestDepth = depth
                    bestSpread = spread
                }
            }
        }
        return best
    }
}
