import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// EOV-Seg's post-processing on hand-built inputs, with expectations worked out from the spec's rules (§4.1, §4.3,
/// detectron2's sem_seg_postprocess), not from this code's output.
@Suite struct EOVSegPostprocessTests {
    /// Mask logits [Q, 8, 8], +10 inside the given quadrants/halves, −10 elsewhere.
    static func masks(_ regions: [(rows: Range<Int>, cols: Range<Int>)]) -> Tensor {
        var v = [Float](repeating: -10, count: regions.count * 64)
        for (q, r) in regions.enumerated() {
            for y in r.rows { for x in r.cols { v[q * 64 + y * 8 + x] = 10 } }
        }
        return Tensor(shape: [regions.count, 8, 8], data: v)
    }

    /// logP = log(P) for rows of P that sum to 1, so softmax(logP) = P.
    static func logP(_ rows: [[Float]]) -> Tensor {
        Tensor(shape: [rows.count, rows[0].count], data: rows.flatMap { $0.map { logf($0) } })
    }

    static let square = EOVSegFrameGeometry(paddedHeight: 32, paddedWidth: 32, resizedHeight: 32, resizedWidth: 32,
                                            originalHeight: 32, originalWidth: 32)

    /// Classes: 0 thing, 1 and 2 stuff. q0 thing top-left; q1 and q2 the same stuff class on the right top and
    /// bottom (the second merges into the first's segment); q3 has void on top (dropped although it covers
    /// everything); q4 covers the left half but keeps only the bottom-left after the argmax (≈ 50 % < 80 %: skipped).
    @Test func panopticRulesOnQuadrants() throws {
        let m = Self.masks([(0..<4, 0..<4), (0..<4, 4..<8), (4..<8, 4..<8), (0..<8, 0..<8), (0..<8, 0..<4)])
        let p = Self.logP([[0.9, 0.04, 0.03, 0.03], [0.05, 0.8, 0.1, 0.05], [0.05, 0.7, 0.2, 0.05],
                           [0.01, 0.02, 0.02, 0.95], [0.1, 0.1, 0.7, 0.1]])
        let r = EOVSegPostprocess.run(logProbabilities: p, masks: m, geometry: Self.square,
                                      isThing: [true, false, false], objectMaskThreshold: 0, overlapThreshold: 0.8)
        let s = r.panoptic.segments
        try #require(s.count == 2, "segments: \(s)")
        #expect(s.map(\.id) == [1, 2])
        #expect(s.map(\.classIndex) == [0, 1])
        #expect(s.map(\.isThing) == [true, false])
        #expect(abs(s[0].score - 0.9) < 1e-5 && abs(s[1].score - 0.8) < 1e-5)
        // Away from the two boundary rows/columns (15, 16), every pixel's owner is clear.
        let ids = r.panoptic.segmentIds, labels = r.labels.labels
        for y in 0..<32 where y != 15 && y != 16 {
            for x in 0..<32 where x != 15 && x != 16 {
                let top = y < 16, left = x < 16
                let id: UInt32 = left ? (top ? 1 : 0) : 2
                #expect(ids[y * 32 + x] == id, "id at (\(y), \(x))")
                // Semantic (§4.3): top-left class 0 (0.9 + 0.1 + 0.01), right half class 1, bottom-left class 2.
                let label: UInt16 = left ? (top ? 0 : 2) : 1
                #expect(labels[y * 32 + x] == label, "label at (\(y), \(x))")
            }
        }
        #expect(s[0].area >= 15 * 15 && s[0].area <= 256)
        #expect(s[1].area >= 2 * 15 * 16 && s[1].area <= 512)
    }

    @Test func nothingKeptGivesAnEmptyPanopticMapButStillLabels() {
        let m = Self.masks([(0..<8, 0..<8), (0..<4, 0..<4)])
        let p = Self.logP([[0.1, 0.2, 0.7], [0.3, 0.1, 0.6]])  // void on top for both
        let r = EOVSegPostprocess.run(logProbabilities: p, masks: m, geometry: Self.square, isThing: [true, true],
                                      objectMaskThreshold: 0, overlapThreshold: 0.8)
        #expect(r.panoptic.segments.isEmpty)
        #expect(r.panoptic.segmentIds.allSatisfy { $0 == 0 })
        // Semantic still: q0 everywhere favours class 1 (0.2 vs 0.1); inside q1's quadrant class 0 (0.1 + 0.3 vs 0.2 + 0.1).
        #expect(r.labels.labels[31 * 32 + 31] == 1)
        #expect(r.labels.labels[0] == 0)
    }

    /// Two identical thing queries with equal scores: the argmax gives every pixel to the first (torch's first index),
    /// so the second has no area and makes no segment.
    @Test func argmaxTiesGoToTheFirstQuery() {
        let m = Self.masks([(0..<8, 0..<8), (0..<8, 0..<8)])
        let p = Self.logP([[0.6, 0.3, 0.1], [0.3, 0.6, 0.1]])
        let r = EOVSegPostprocess.run(logProbabilities: p, masks: m, geometry: Self.square, isThing: [true, true],
                                      objectMaskThreshold: 0, overlapThreshold: 0.8)
        #expect(r.panoptic.segments.count == 1)
        #expect(r.panoptic.segments.first?.classIndex == 0)
        #expect(r.panoptic.segmentIds.allSatisfy { $0 == 1 })
    }

    /// A query whose argmax area is exactly 4/5 of its ≥ 0.5 area is kept (Python compares 0.8 < 0.8 in double);
    /// 4/6 is skipped.
    @Test func overlapRatioOfExactlyFourFifthsIsKept() {
        let owner: [Int32] = [0, 0, 0, 0, -1, -1]
        let above = [true, true, true, true, false, false]
        let kept = EOVSegPostprocess.segments(kept: [0], labels: [0], scores: [0.9], owner: owner, ownerAbove: above,
                                              originalArea: [5], isThing: [true], overlapThreshold: 0.8,
                                              width: 6, height: 1)
        #expect(kept.segments.count == 1 && kept.segments[0].area == 4)
        let skipped = EOVSegPostprocess.segments(kept: [0], labels: [0], scores: [0.9], owner: owner,
                                                 ownerAbove: above, originalArea: [6], isThing: [true],
                                                 overlapThreshold: 0.8, width: 6, height: 1)
        #expect(skipped.segments.isEmpty && skipped.segmentIds.allSatisfy { $0 == 0 })
    }

    /// A NaN row (from the ensemble's −∞·0) has a NaN score, and NaN > 0 is false: the query is dropped.
    @Test func nanQueriesAreDropped() {
        let m = Self.masks([(0..<8, 0..<8), (0..<4, 0..<4)])
        let p = Self.logP([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]])
        p.data[0] = .nan
        let (_, scores, _) = EOVSegPostprocess.scores(logProbabilities: p)
        #expect(scores[0].isNaN)
        let r = EOVSegPostprocess.run(logProbabilities: p, masks: m, geometry: Self.square, isThing: [true, true],
                                      objectMaskThreshold: 0, overlapThreshold: 0.8)
        #expect(r.panoptic.segments.count == 1)
        #expect(r.panoptic.segmentIds[0] == 1 && r.panoptic.segmentIds[31 * 32 + 31] == 0)
    }

    /// The tiled resampling equals sem_seg_postprocess written out: bilinear to the padded size, crop, bilinear to
    /// the original size (upsampling and downsampling).
    @Test(arguments: [[45, 50], [17, 20], [30, 37]])
    func maskResamplingEqualsInterpolateCropInterpolate(_ original: [Int]) {
        var rng = SystemRandomNumberGenerator()
        let q = 3, h4 = 8, w4 = 10
        let m = Tensor(shape: [q, h4, w4], data: (0..<(q * h4 * w4)).map { _ in Float.random(in: -5...5, using: &rng) })
        let resampler = EOVSegMaskResampler(masks: m, paddedHeight: 32, paddedWidth: 40, resizedHeight: 30,
                                            resizedWidth: 37, outHeight: original[0], outWidth: original[1])
        let padded = Ops.interpolateBilinear(m, size: (32, 40), alignCorners: false)
        let crop = padded.narrowed(dim: 1, start: 0, length: 30).narrowed(dim: 2, start: 0, length: 37).contiguous()
        let expected = Ops.interpolateBilinear(crop, size: (original[0], original[1]), alignCorners: false)
        let (d, _) = GoldenFolder.difference(resampler.all(), expected)
        #expect(d <= 1e-5, "max |Δ| = \(d)")
    }
}
