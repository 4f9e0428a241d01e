import Foundation
import VocaSegCore
import VocaSegTensor

/// A semantic model that can run on one already-normalised square window and return per-class probabilities
/// (after the sigmoid) at its output resolution: what sliding-window inference needs from a model.
///
/// Text embeddings are the model's (computed once by `prepare(vocabulary:)`), so every window shares them.
public protocol ProbabilityMapModel: SegmentationModel {
    /// Side of the square input the network runs at.
    var inputSize: Int { get }
    /// Per-channel RGB mean and standard deviation on the 0…255 scale: input = (pixel − mean) / std.
    var pixelMean: [Float] { get }
    var pixelStd: [Float] { get }

    /// Runs the network on `window` [3, inputSize, inputSize]. `selection`: vocabulary indices (ascending) to
    /// score, or nil to let the model pick its own (ERR-Seg's CRM). Returns the probabilities [K, h, w] of the
    /// `selection.count == K` classes it scored, in the order of the returned selection. Model stage timings are
    /// added to `timings`.
    func classProbabilities(window: Tensor, selection: [Int]?,
                            timings: inout [String: Double]) throws -> (probs: Tensor, selection: [Int])

    /// Only the class selection the model would make for `window` (ascending vocabulary indices). Models may
    /// stop early (ERR-Seg skips the decoder).
    func selectClasses(window: Tensor, timings: inout [String: Double]) throws -> [Int]
}
