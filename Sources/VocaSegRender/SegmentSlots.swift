import VocaSegCore

/// A panoptic frame as the blender sees it: a label map whose labels are positions in `segments` (void pixels
/// unlabeled), so that each segment is drawn, outlined and labelled like a class of its own.
struct SegmentSlots {
    let labels: LabelMap
    let segments: [PanopticSegment]

    init(_ panoptic: PanopticResult) throws {
        guard panoptic.segments.count < Int(LabelMap.unlabeled) else {
            throw VocaSegError(.internal, "a frame has \(panoptic.segments.count) segments; the overlay draws at most "
                + "\(Int(LabelMap.unlabeled) - 1)")
        }
        segments = panoptic.segments
        var slotOf: [UInt32: UInt16] = [:]
        for (slot, segment) in segments.enumerated() {
            // Two segments under one id would both be drawn in the second one's colour and label, silently.
            guard slotOf.updateValue(UInt16(slot), forKey: segment.id) == nil else {
                throw VocaSegError(.internal, "segment id \(segment.id) is listed twice in one frame")
            }
        }
        var out = [UInt16](repeating: LabelMap.unlabeled, count: panoptic.segmentIds.count)
        // Ids come in runs; the last lookup is remembered so that most pixels skip the dictionary.
        var lastId: UInt32 = 0, lastSlot = LabelMap.unlabeled
        for (i, id) in panoptic.segmentIds.enumerated() where id != 0 {
            if id != lastId {
                lastId = id
                lastSlot = slotOf[id] ?? LabelMap.unlabeled
            }
            out[i] = lastSlot
        }
        labels = LabelMap(width: panoptic.width, height: panoptic.height, labels: out)
    }
}
