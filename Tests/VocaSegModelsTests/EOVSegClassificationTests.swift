import Foundation
import Testing
import VocaSegTensor
@testable import VocaSegModels

/// get_classification_logits and the geometric ensemble (spec §2.6, §2.9) on small hand-made inputs.
@Suite struct EOVSegClassificationTests {
    /// x = (3, 4) → x̂ = (0.6, 0.8); text rows (1,0), (0,1) for class 0, (0.6,0.8) for class 1, (−1,0) void.
    @Test func logitsTakeTheMaxOverSynonymsAndClampTheScale() {
        let x = Tensor(shape: [1, 2], data: [3, 4])
        let tc = Tensor(shape: [4, 2], data: [1, 0, 0, 1, 0.6, 0.8, -1, 0])
        let ten = EOVSegClassification.classificationLogits(embeddings: x, textClassifier: tc, logitScale: logf(10),
                                                            synonymCounts: [2, 1]).toArray()
        #expect(zip(ten, [8, 10, -6]).allSatisfy { abs($0 - $1) < 1e-4 }, "\(ten)")
        // exp(10) ≈ 22026 is clamped to 100.
        let clamped = EOVSegClassification.classificationLogits(embeddings: x, textClassifier: tc, logitScale: 10,
                                                                synonymCounts: [2, 1]).toArray()
        #expect(zip(clamped, [80, 100, -60]).allSatisfy { abs($0 - $1) < 1e-3 }, "\(clamped)")
    }

    static func softmax(_ v: [Float]) -> [Float] {
        let m = v.max()!
        let e = v.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Seen classes mix as (1−α)·log p_in + α·log p_out, unseen ones with β; void stays softmax(cls)[K].
    @Test func ensembleIsTheGeometricMean() {
        let cls: [Float] = [1, 0.5, -1, 0.2], out: [Float] = [0.3, 2, 0.1, 9]
        let (p, logp) = EOVSegClassification.ensemble(inVocab: Tensor(shape: [1, 4], data: cls),
                                                      outVocab: Tensor(shape: [1, 4], data: out),
                                                      seen: [true, false, true], alpha: 0.4, beta: 0.8, valid: nil)
        let pin = Self.softmax(Array(cls[0..<3])), pout = Self.softmax(Array(out[0..<3]))
        let void = Self.softmax(cls)[3]
        let a: [Float] = [0.4, 0.8, 0.4]
        let l = (0..<3).map { (1 - a[$0]) * logf(pin[$0]) + a[$0] * logf(pout[$0]) }
        let expected = Self.softmax(l).map { $0 * (1 - void) } + [void]
        #expect(zip(p.toArray(), expected).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(logp.toArray(), expected).allSatisfy { abs($0 - logf($1 + 1e-8)) < 1e-5 })
    }

    /// An empty Mc zeroes α and β for that query: NaN CLIP logits (attention over no key) vanish since NaN⁰ = 1,
    /// leaving p_in.
    @Test func invalidMaskIgnoresNaNClipLogits() {
        let cls: [Float] = [1, 0.5, -1, 0.2]
        let (p, _) = EOVSegClassification.ensemble(inVocab: Tensor(shape: [1, 4], data: cls),
                                                   outVocab: Tensor(shape: [1, 4], data: [.nan, .nan, .nan, .nan]),
                                                   seen: [true, false, true], alpha: 0.4, beta: 0.8, valid: [false])
        let void = Self.softmax(cls)[3]
        let expected = Self.softmax(Array(cls[0..<3])).map { $0 * (1 - void) } + [void]
        #expect(zip(p.toArray(), expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// A class probability that underflows to 0 gives log 0 = −∞ in one term and −∞·0 = NaN in the other: the
    /// class row of that query is NaN (void stays finite), as in PyTorch.
    @Test func underflowMakesTheRowNaN() {
        let (p, logp) = EOVSegClassification.ensemble(inVocab: Tensor(shape: [1, 3], data: [0, -200, 0]),
                                                      outVocab: Tensor(shape: [1, 3], data: [0, 0, 0]),
                                                      seen: [true, true], alpha: 0.4, beta: 0.8, valid: nil)
        let v = p.toArray(), lv = logp.toArray()
        #expect(v[0].isNaN && v[1].isNaN && !v[2].isNaN)
        #expect(lv[0].isNaN && lv[1].isNaN && !lv[2].isNaN)
    }

    @Test func validMasksAndClipDownsampling() {
        let m = Tensor(shape: [2, 16, 16], data: (0..<512).map { $0 < 256 ? -1 : ($0 == 300 ? 1 : -1) })
        #expect(EOVSegClassification.validMasks(m) == [false, true])
        let small = EOVSegClassification.clipMasks(m, height: 2, width: 2)
        #expect(small.shape == [2, 2, 2])
    }
}
