import VocaSegCore

/// COCO run-length encoding of segment masks, byte for byte as pycocotools' `mask.encode` writes it: runs counted
/// down the columns (Fortran order), starting with a run of zeros, then packed into its compressed string.
enum CocoRLE {
    /// `{"size": [height, width], "counts": "..."}` for every segment of `panoptic`, by segment id, from one pass
    /// over the id map.
    static func encodeSegments(_ panoptic: PanopticResult) -> [UInt32: [String: Any]] {
        let w = panoptic.width, h = panoptic.height
        var counts: [UInt32: [Int]] = [:]
        var lastEnd: [UInt32: Int] = [:]
        for s in panoptic.segments {
            counts[s.id] = []
            lastEnd[s.id] = 0
        }
        panoptic.segmentIds.withUnsafeBufferPointer { ids in
            var position = 0
            for x in 0..<w {
                var y = 0
                while y < h {
                    let id = ids[y * w + x]
                    var end = y + 1
                    while end < h && ids[end * w + x] == id { end += 1 }
                    if id != 0, let previous = lastEnd[id] {
                        let start = position + y
                        // Runs touching across a column break merge, as one Fortran-order run.
                        if start == previous, var c = counts[id], !c.isEmpty {
                            c[c.count - 1] += end - y
                            counts[id] = c
                        } else {
                            counts[id]!.append(start - previous)
                            counts[id]!.append(end - y)
                        }
                        lastEnd[id] = position + end
                    }
                    y = end
                }
                position += h
            }
        }
        var out: [UInt32: [String: Any]] = [:]
        for (id, var c) in counts {
            let tail = w * h - lastEnd[id]!
            if tail > 0 || c.isEmpty { c.append(tail) }
            out[id] = ["size": [h, w], "counts": compress(c)]
        }
        return out
    }

    /// pycocotools' `rleToString`: each count (after the second, as the difference to the count two before) in
    /// 5-bit groups, low first, 0x20 marking that more follow, offset by 48 into printable ASCII.
    static func compress(_ counts: [Int]) -> String {
        var bytes: [UInt8] = []
        for i in counts.indices {
            var x = counts[i]
            if i > 2 { x -= counts[i - 2] }
            var more = true
            while more {
                var c = x & 0x1f
                x >>= 5
                more = (c & 0x10) != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                bytes.append(UInt8(c + 48))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
