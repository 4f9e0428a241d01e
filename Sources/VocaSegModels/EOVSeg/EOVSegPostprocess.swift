import Foundation
import VocaSegCore
import VocaSegTensor

/// Sizes of one frame through EOV-Seg: the padded network input, the resized image inside it, the original frame.
struct EOVSegFrameGeometry: Equatable {
    var paddedHeight: Int, paddedWidth: Int
    var resizedHeight: Int, resizedWidth: Int
    var originalHeight: Int, originalWidth: Int
}

/// What the post-processing gives for one frame.
struct EOVSegPostprocessResult {
    /// Panoptic inference (spec §4.1), segments numbered 1… in creation order, areas and boxes filled.
    var panoptic: PanopticResult
    /// The semantic map of spec §4.3 (argmax over classes of Σ_q P_q[c]·sigmoid(Mo_q)), computed on the same
    /// resized masks in the same pass. This is the result's `labels`: a per-pixel class even where the panoptic
    /// map is void, and the semantic output the original gives with SEMANTIC_ON.
    var labels: LabelMap
}

/// EOV-Seg's post-processing (spec §4.1, §4.3, §2.9 masks), in tiles of output rows: each tile resamples every
/// query's mask logits to the original size (EOVSegMaskResampler), takes the panoptic argmax owner and the
/// semantic sums there, and is dropped; the per-query counts that the segment rules need are collected on the way.
enum EOVSegPostprocess {
    /// Per query: score and label of softmax(logP) over all K+1 entries (torch max: first maximum, NaN wins).
    static func scores(logProbabilities logP: Tensor) -> (probabilities: Tensor, scores: [Float], labels: [Int]) {
        let q = logP.shape[0], n = logP.shape[1]
        let src = logP.contiguous()
        let probs = Tensor(uninitializedShape: [q, n])
        var scores = [Float](repeating: 0, count: q), labels = [Int](repeating: 0, count: q)
        for i in 0..<q {
            let p = probs.data + i * n
            EOVSegClassification.softmaxRow(src.data + i * n, count: n, into: p)
            var best = p[0], index = 0
            for j in 1..<n where !best.isNaN && (p[j].isNaN || p[j] > best) { best = p[j]; index = j }
            scores[i] = best
            labels[i] = index
        }
        withExtendedLifetime(src) {}
        return (probs, scores, labels)
    }

    /// `logP` [Q, K+1] (void last) and `masks` Mq [Q, H/4, W/4] → panoptic segments and the semantic label map at
    /// the original size. `isThing[c]` says whether class c is a thing.
    static func run(logProbabilities logP: Tensor, masks: Tensor, geometry g: EOVSegFrameGeometry, isThing: [Bool],
                    objectMaskThreshold: Float, overlapThreshold: Float) -> EOVSegPostprocessResult {
        let q = masks.shape[0], k = logP.shape[1] - 1
        opCheck(logP.rank == 2 && logP.shape[0] == q && k > 0, "postprocess: logP \(logP.shape), masks \(masks.shape)")
        opCheck(isThing.count == k, "postprocess: \(isThing.count) thing flags for \(k) classes")
        opCheck(k < Int(LabelMap.unlabeled), "postprocess: \(k) classes do not fit a label map")
        let resampler = EOVSegMaskResampler(masks: masks, paddedHeight: g.paddedHeight, paddedWidth: g.paddedWidth,
                                            resizedHeight: g.resizedHeight, resizedWidth: g.resizedWidth,
                                            outHeight: g.originalHeight, outWidth: g.originalWidth)
        let (probs, scores, labels) = Self.scores(logProbabilities: logP)
        // §4.1 step 3: void not on top and score above the threshold (NaN scores fail), original order kept.
        let kept = (0..<q).filter { labels[$0] != k && scores[$0] > objectMaskThreshold }
        let h = g.originalHeight, w = g.originalWidth
        // Per pixel: the kept query owning it (index into `kept`), and whether its own mask is ≥ 0.5 there.
        var owner = [Int32](repeating: -1, count: h * w)
        var ownerAbove = [Bool](repeating: false, count: h * w)
        var originalArea = [Int](repeating: 0, count: q)
        var labelValues = [UInt16](repeating: 0, count: h * w)
        let keptScores = kept.map { scores[$0] }
        let tileRows = max(1, min(h, (1 << 21) / max(1, q * w)))
        let sig = TensorStorage(count: q * tileRows * w)
        let sem = TensorStorage(count: k * tileRows * w)
        var y0 = 0
        while y0 < h {
            let y1 = min(h, y0 + tileRows), n = (y1 - y0) * w
            let sp = sig.pointer
            // sigmoid(Mo_q) for this tile, every query (the semantic map uses all of them); ≥ 0.5 counts per query.
            originalArea.withUnsafeMutableBufferPointer { buffer in
                let areas = buffer.baseAddress!
                ChannelsLast.parallelRanges(q) { range in
                    var scratch = [Float]()
                    for qi in range {
                        let d = sp + qi * n
                        resampler.rows(query: qi, from: y0, to: y1, into: d, scratch: &scratch)
                        Ops.activateInPlace(UnsafeMutableBufferPointer(start: d, count: n), .sigmoid)
                        var count = 0
                        for i in 0..<n where d[i] >= 0.5 { count += 1 }
                        areas[qi] += count
                    }
                }
            }
            // Panoptic owner: argmax over kept queries of score·sigmoid (first index on ties).
            owner.withUnsafeMutableBufferPointer { ownBuffer in
                ownerAbove.withUnsafeMutableBufferPointer { aboveBuffer in
                    let own = ownBuffer.baseAddress!, above = aboveBuffer.baseAddress!
                    ChannelsLast.parallelRanges(n, grain: 1024) { range in
                        for i in range where !kept.isEmpty {
                            var best = keptScores[0] * sp[kept[0] * n + i], bestIndex = 0
                            for j in 1..<kept.count {
                                let v = keptScores[j] * sp[kept[j] * n + i]
                                if v > best { best = v; bestIndex = j }
                            }
                            own[y0 * w + i] = Int32(bestIndex)
                            above[y0 * w + i] = sp[kept[bestIndex] * n + i] >= 0.5
                        }
                    }
                }
            }
            // Semantic: sem[c, p] = Σ_q P[q, c]·sigmoid(Mo_q(p)) over c < K, one GEMM per tile, then argmax.
            BLAS.sgemm(transA: true, m: k, n: n, k: q, a: probs.data, lda: k + 1, b: sp, ldb: n, c: sem.pointer, ldc: n)
            let semP = sem.pointer
            labelValues.withUnsafeMutableBufferPointer { buffer in
                let lab = buffer.baseAddress!
                ChannelsLast.parallelRanges(n, grain: 1024) { range in
                    for i in range {
                        // torch argmax: first maximum, a NaN counts as the maximum.
                        var best = semP[i], index = 0
                        if !best.isNaN {
                            for c in 1..<k {
                                let v = semP[c * n + i]
                                if v.isNaN { index = c; break }
                                if v > best { best = v; index = c }
                            }
                        }
                        lab[y0 * w + i] = UInt16(index)
                    }
                }
            }
            y0 = y1
        }
        withExtendedLifetime((probs, sig, sem)) {}
        let panoptic = segments(kept: kept, labels: labels, scores: scores, owner: owner, ownerAbove: ownerAbove,
                                originalArea: originalArea, isThing: isThing, overlapThreshold: overlapThreshold,
                                width: w, height: h)
        return EOVSegPostprocessResult(panoptic: panoptic, labels: LabelMap(width: w, height: h, labels: labelValues))
    }

    /// §4.1 steps 8–10 from the per-pixel owners: each kept query in order becomes a new segment, merges into the
    /// earlier segment of its stuff class, or is skipped (no pixel, or less than `overlapThreshold` of its ≥ 0.5
    /// area survives the argmax).
    static func segments(kept: [Int], labels: [Int], scores: [Float], owner: [Int32], ownerAbove: [Bool],
                         originalArea: [Int], isThing: [Bool], overlapThreshold: Float, width: Int, height: Int)
        -> PanopticResult {
        var area = [Int](repeating: 0, count: kept.count), maskArea = area
        for i in 0..<owner.count where owner[i] >= 0 {
            area[Int(owner[i])] += 1
            if ownerAbove[i] { maskArea[Int(owner[i])] += 1 }
        }
        var idOf = [UInt32](repeating: 0, count: kept.count)
        var stuffMemory: [Int: UInt32] = [:]
        var segments: [PanopticSegment] = []
        var nextId: UInt32 = 0
        // The config holds 0.8 as a Float (0.800000012); the original compares with the double 0.8, and a ratio of
        // exactly 4/5 must not be skipped. The shortest decimal of the Float gives back the double the config meant.
        let threshold = Double("\(overlapThreshold)") ?? Double(overlapThreshold)
        for (j, qi) in kept.enumerated() {
            let label = labels[qi]
            guard area[j] > 0, originalArea[qi] > 0, maskArea[j] > 0 else { continue }
            // Python: int / int is a float division.
            if Double(area[j]) / Double(originalArea[qi]) < threshold { continue }
            let thing = isThing[label]
            if !thing, let id = stuffMemory[label] { idOf[j] = id; continue }
            nextId += 1
            if !thing { stuffMemory[label] = nextId }
            idOf[j] = nextId
            segments.append(PanopticSegment(id: nextId, classIndex: label, isThing: thing, score: scores[qi]))
        }
        var ids = [UInt32](repeating: 0, count: width * height)
        for i in 0..<ids.count where owner[i] >= 0 && ownerAbove[i] { ids[i] = idOf[Int(owner[i])] }
        return PanopticResult(width: width, height: height, segmentIds: ids, segments: segments).normalized()
    }
}
