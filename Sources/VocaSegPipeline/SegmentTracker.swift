import VocaSegCore

/// How segments are matched across frames.
public struct TrackingOptions: Sendable, Equatable {
    /// A segment continues a track of its class when their masks overlap by at least this IoU.
    public var iouThreshold: Double = 0.3
    /// Inferred frames a track survives without a match, so that an object hidden for a moment keeps its id.
    public var memory: Int = 5
    /// Mean absolute thumbnail difference (0…1) above which a frame starts a new scene and ends every thing track.
    public var sceneCutThreshold: Double = 0.3

    public init(iouThreshold: Double = 0.3, memory: Int = 5, sceneCutThreshold: Double = 0.3) {
        self.iouThreshold = iouThreshold
        self.memory = memory
        self.sceneCutThreshold = sceneCutThreshold
    }
}

/// Gives the segments of successive panoptic results persistent ids: a thing instance keeps its track id while its
/// mask overlaps its previous one (or one from the last `memory` inferred frames) by the IoU threshold; stuff keeps
/// one id per class for the whole stream. Ids are never reused, so an id names one object in the whole output.
///
/// Masks are compared on a grid of at most `gridLongSide` cells on the long side, so the cost per frame does not
/// grow with the frame size.
public final class SegmentTracker {
    public static let gridLongSide = 512

    private struct Track {
        var id: UInt32
        var classIndex: Int
        /// Grid cells of the mask when last seen.
        var cells: [Int32]
        /// `tick` of the last frame that matched.
        var lastSeen: Int
    }

    public let options: TrackingOptions
    private var tracks: [Track] = []
    private var stuffIds: [Int: UInt32] = [:]
    private var nextId: UInt32 = 1
    private var tick = 0
    private var frameSize = (width: 0, height: 0)

    public init(options: TrackingOptions = TrackingOptions()) {
        self.options = options
    }

    /// `result` with every segment id replaced by its track id. `sceneCut` ends every thing track first.
    public func update(_ result: PanopticResult, sceneCut: Bool = false) -> PanopticResult {
        tick += 1
        // A new frame size (a folder of pictures) cannot continue masks of another size.
        if sceneCut || frameSize != (result.width, result.height) { tracks.removeAll() }
        frameSize = (result.width, result.height)
        tracks.removeAll { tick - $0.lastSeen > options.memory + 1 }

        let grid = Grid(width: result.width, height: result.height, longSide: Self.gridLongSide)
        let sampled = grid.sample(result.segmentIds, width: result.width)
        var cellsOf: [UInt32: [Int32]] = [:]
        for (cell, id) in sampled.enumerated() where id != 0 { cellsOf[id, default: []].append(Int32(cell)) }

        // Candidate pairs of a live thing track and a thing segment of the same class, by IoU.
        var pairs: [(iou: Double, track: Int, segment: Int)] = []
        for (t, track) in tracks.enumerated() {
            var overlap: [UInt32: Int] = [:]
            for cell in track.cells { overlap[sampled[Int(cell)], default: 0] += 1 }
            for (s, segment) in result.segments.enumerated() where segment.isThing && segment.classIndex == track.classIndex {
                let inter = overlap[segment.id] ?? 0
                guard inter > 0 else { continue }
                let union = track.cells.count + (cellsOf[segment.id]?.count ?? 0) - inter
                let iou = Double(inter) / Double(union)
                if iou >= options.iouThreshold { pairs.append((iou, t, s)) }
            }
        }
        // Greedy, best overlap first; ties go to the more recently seen track, then the older id, so that the
        // result does not depend on dictionary order.
        pairs.sort { a, b in
            if a.iou != b.iou { return a.iou > b.iou }
            let ra = tracks[a.track].lastSeen, rb = tracks[b.track].lastSeen
            if ra != rb { return ra > rb }
            if tracks[a.track].id != tracks[b.track].id { return tracks[a.track].id < tracks[b.track].id }
            return a.segment < b.segment
        }
        var trackTaken = Set<Int>(), segmentTrack: [Int: Int] = [:]
        for pair in pairs where !trackTaken.contains(pair.track) && segmentTrack[pair.segment] == nil {
            trackTaken.insert(pair.track)
            segmentTrack[pair.segment] = pair.track
        }

        var newId: [UInt32: UInt32] = [:]
        var out = result
        for (s, segment) in result.segments.enumerated() {
            let id: UInt32
            if !segment.isThing {
                id = stuffIds[segment.classIndex] ?? takeId()
                stuffIds[segment.classIndex] = id
            } else if let t = segmentTrack[s] {
                id = tracks[t].id
                tracks[t].cells = cellsOf[segment.id] ?? []
                tracks[t].lastSeen = tick
            } else {
                id = takeId()
                tracks.append(Track(id: id, classIndex: segment.classIndex, cells: cellsOf[segment.id] ?? [],
                                    lastSeen: tick))
            }
            newId[segment.id] = id
            out.segments[s].id = id
        }
        out.segmentIds = result.segmentIds.map { $0 == 0 ? 0 : newId[$0] ?? 0 }
        out.segments.sort { $0.id < $1.id }
        return out
    }

    private func takeId() -> UInt32 {
        defer { nextId += 1 }
        return nextId
    }
}

/// The coarse grid masks are compared on: every `step`-th pixel in each direction, from the middle of its step.
private struct Grid {
    let step: Int
    let columns: [Int]
    let rows: [Int]

    init(width: Int, height: Int, longSide: Int) {
        let step = max(1, (max(width, height) + longSide - 1) / longSide)
        self.step = step
        columns = stride(from: 0, to: width, by: step).map { min($0 + step / 2, width - 1) }
        rows = stride(from: 0, to: height, by: step).map { min($0 + step / 2, height - 1) }
    }

    func sample(_ ids: [UInt32], width: Int) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(columns.count * rows.count)
        for y in rows {
            for x in columns { out.append(ids[y * width + x]) }
        }
        return out
    }
}
