import Foundation
import VocaSegCore
import VocaSegTensor

/// ERR-Seg as a window model for sliding-window inference: `forward` with a fixed or fresh CRM selection, the
/// selected classes' logits through the sigmoid.
extension ERRSegModel: ProbabilityMapModel {
    public var inputSize: Int { config.imageSize }
    public var pixelMean: [Float] { config.pixelMean }
    public var pixelStd: [Float] { config.pixelStd }

    private func windowEmbeddings(_ window: Tensor) throws -> Tensor {
        guard let embeddings = currentTextEmbeddings else {
            throw VocaSegError(.internal, "ERR-Seg: a window was run before prepare(vocabulary:)")
        }
        let s = config.imageSize
        guard window.shape == [3, s, s] else {
            throw VocaSegError(.internal, "ERR-Seg: window is \(window.shape), expected [3, \(s), \(s)]")
        }
        return embeddings
    }

    public func classProbabilities(window: Tensor, selection: [Int]?,
                                   timings: inout [String: Double]) throws -> (probs: Tensor, selection: [Int]) {
        let embeddings = try windowEmbeddings(window)
        let t = embeddings.shape[0]
        if let selection {
            guard !selection.isEmpty, selection.allSatisfy({ $0 >= 0 && $0 < t }) else {
                throw VocaSegError(.internal, "ERR-Seg: class selection \(selection) does not fit \(t) classes")
            }
        }
        var stage: [String: Double] = [:]
        let out = forward(input: window.contiguous(), textEmbeddings: embeddings, selected: selection, timings: &stage)
        timings.merge(stage, uniquingKeysWith: +)
        return (Ops.sigmoid(out.logitsSelected), out.selected)
    }

    /// The CRM on the backbone's os16 cost alone: the decoder, most of the head's cost, is skipped.
    public func selectClasses(window: Tensor, timings: inout [String: Double]) throws -> [Int] {
        let embeddings = try windowEmbeddings(window)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let v = visual.forward(window.contiguous(), pool: pool)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let cost16 = CostVolume.cosine(dense: v.os16Dense.data, text: embeddings)
        let scores = ClassReduction.scores(cost: cost16, top: config.crmTop, rankWeights: config.crmRankWeights)
        let selected = ClassReduction.select(scores: scores, k: classesKept(vocabularyCount: embeddings.shape[0]))
        let t2 = DispatchTime.now().uptimeNanoseconds
        timings["backbone", default: 0] += Double(t1 - t0) / 1e9
        timings["head", default: 0] += Double(t2 - t1) / 1e9
        return selected
    }
}
