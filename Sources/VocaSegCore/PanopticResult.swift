/// One segment of a panoptic result: a thing instance, or all pixels of one stuff class.
public struct PanopticSegment: Sendable, Equatable {
    /// The value of this segment's pixels in `PanopticResult.segmentIds`; never 0 (0 is void). A model numbers
    /// its segments per frame; the tracking stage renumbers them with track ids that persist across frames.
    public var id: UInt32
    /// Vocabulary index.
    public var classIndex: Int
    public var isThing: Bool
    /// The model's confidence in 0…1.
    public var score: Float
    /// Pixels at frame size.
    public var area: Int
    /// Bounding box in frame pixels, COCO style: left, top, width, height.
    public var bbox: (x: Int, y: Int, width: Int, height: Int)

    public init(id: UInt32, classIndex: Int, isThing: Bool, score: Float, area: Int = 0,
                bbox: (x: Int, y: Int, width: Int, height: Int) = (0, 0, 0, 0)) {
        self.id = id
        self.classIndex = classIndex
        self.isThing = isThing
        self.score = score
        self.area = area
        self.bbox = bbox
    }

    public static func == (a: PanopticSegment, b: PanopticSegment) -> Bool {
        a.id == b.id && a.classIndex == b.classIndex && a.isThing == b.isThing && a.score == b.score
            && a.area == b.area && a.bbox == b.bbox
    }
}

/// The panoptic part of a result: which segment every pixel of the frame belongs to, and what each segment is.
public struct PanopticResult: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `width * height` segment ids, row-major; 0 = void (no segment).
    public var segmentIds: [UInt32]
    /// Every id that occurs in `segmentIds`, once, in increasing id order after `normalized()`.
    public var segments: [PanopticSegment]

    public init(width: Int, height: Int, segmentIds: [UInt32], segments: [PanopticSegment]) {
        precondition(segmentIds.count == width * height, "PanopticResult: wrong id-map size")
        self.width = width
        self.height = height
        self.segmentIds = segmentIds
        self.segments = segments
    }

    /// The segments' areas and boxes recomputed from the id map, segments without pixels dropped, sorted by id.
    /// Models call it once after painting, so that areas and boxes always agree with the pixels.
    public func normalized() -> PanopticResult {
        var stats: [UInt32: (area: Int, minX: Int, minY: Int, maxX: Int, maxY: Int)] = [:]
        for y in 0..<height {
            let row = y * width
            var x = 0
            // Runs: an id map is long runs of one id, so each run updates its segment once.
            while x < width {
                let id = segmentIds[row + x]
                var end = x + 1
                while end < width && segmentIds[row + end] == id { end += 1 }
                if id != 0 {
                    var s = stats[id] ?? (0, Int.max, Int.max, Int.min, Int.min)
                    s.area += end - x
                    s.minX = min(s.minX, x)
                    s.maxX = max(s.maxX, end - 1)
                    s.minY = min(s.minY, y)
                    s.maxY = max(s.maxY, y)
                    stats[id] = s
                }
                x = end
            }
        }
        var out = self
        out.segments = segments.compactMap { segment in
            guard let s = stats[segment.id] else { return nil }
            var copy = segment
            copy.area = s.area
            copy.bbox = (s.minX, s.minY, s.maxX - s.minX + 1, s.maxY - s.minY + 1)
            return copy
        }.sorted { $0.id < $1.id }
        return out
    }

    /// The semantic label map this panoptic result implies (void pixels unlabeled).
    public func labelMap() -> LabelMap {
        var classOf: [UInt32: UInt16] = [:]
        for s in segments { classOf[s.id] = UInt16(s.classIndex) }
        return LabelMap(width: width, height: height,
                        labels: segmentIds.map { $0 == 0 ? LabelMap.unlabeled : classOf[$0] ?? LabelMap.unlabeled })
    }
}
