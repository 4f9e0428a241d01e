import Foundation
import VocaSegTensor

/// An eval-mode BatchNorm's weights (`weight`, `bias`, `running_mean`, `running_var`). It is never applied on its
/// own: with running statistics it is a per-channel affine map, so every model folds it into the convolution
/// before it (one pass over the activations instead of two, the same values up to float rounding). Shared by the
/// CLIP ResNet (`FoldedConvBN`) and EOV-Seg's trained head.
struct BatchNormWeights {
    let gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor
    let eps: Float

    init(_ w: WeightScope, channels: Int, eps: Float = 1e-5) {
        gamma = w.tensor("weight", [channels])
        beta = w.tensor("bias", [channels])
        mean = w.tensor("running_mean", [channels])
        variance = w.tensor("running_var", [channels])
        self.eps = eps
        // An int64 step counter that only training reads.
        w.ignore("num_batches_tracked", reason: "BatchNorm step counter (training only)")
    }

    /// The conv weight [Cout, …] and bias with this BatchNorm folded in.
    func fold(convWeight: Tensor, convBias: Tensor? = nil) -> (weight: Tensor, bias: Tensor) {
        Ops.foldBatchNorm(convWeight: convWeight, convBias: convBias, gamma: gamma, beta: beta, mean: mean,
                          variance: variance, eps: eps)
    }

    /// The same for a ConvTranspose2d weight [Cin, Cout, kh, kw], whose output channels are dim 1.
    func foldTransposed(convWeight: Tensor) -> (weight: Tensor, bias: Tensor) {
        let (w, b) = fold(convWeight: convWeight.permuted([1, 0, 2, 3]).contiguous())
        return (w.permuted([1, 0, 2, 3]).contiguous(), b)
    }
}
