import Foundation
import VocaSegTensor

/// An eval-mode BatchNorm of EOV-Seg's trained head (aggregator and VAS), read from `weight`, `bias`,
/// `running_mean`, `running_var` (eps 1e-5). It is never applied on its own: at inference it is linear, so it is
/// folded into the convolution before it (spec §5.3), which gives the same values up to float rounding.
struct LiteAggregatorBatchNorm {
    let gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor
    static let eps: Float = 1e-5

    init(_ w: WeightScope, channels: Int) {
        gamma = w.tensor("weight", [channels])
        beta = w.tensor("bias", [channels])
        mean = w.tensor("running_mean", [channels])
        variance = w.tensor("running_var", [channels])
        // An int64 step counter that only training reads.
        w.ignore("num_batches_tracked", reason: "BatchNorm step counter (training only)")
    }

    /// The conv weight [Cout, …] and bias with this BatchNorm folded in.
    func fold(convWeight: Tensor, convBias: Tensor? = nil) -> (weight: Tensor, bias: Tensor) {
        Ops.foldBatchNorm(convWeight: convWeight, convBias: convBias, gamma: gamma, beta: beta, mean: mean,
                          variance: variance, eps: Self.eps)
    }

    /// The same for a ConvTranspose2d weight [Cin, Cout, kh, kw], whose output channels are dim 1.
    func foldTransposed(convWeight: Tensor) -> (weight: Tensor, bias: Tensor) {
        let (w, b) = fold(convWeight: convWeight.permuted([1, 0, 2, 3]).contiguous())
        return (w.permuted([1, 0, 2, 3]).contiguous(), b)
    }
}

/// A plain NCHW convolution of the head (weight [Cout, Cin, k, k], optional bias, symmetric padding), possibly with
/// a BatchNorm already folded in and a fused activation.
struct LiteAggregatorConv {
    let weight: Tensor
    let bias: Tensor?
    let padding: Int
    let activation: Activation

    init(weight: Tensor, bias: Tensor?, padding: Int, activation: Activation = .identity) {
        self.weight = weight
        self.bias = bias
        self.padding = padding
        self.activation = activation
    }

    init(_ w: WeightScope, in cin: Int, out cout: Int, kernel: Int, bias hasBias: Bool = true) {
        self.init(weight: w.tensor("weight", [cout, cin, kernel, kernel]), bias: hasBias ? w.tensor("bias", [cout]) : nil,
                  padding: kernel / 2)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        Ops.conv2d(x, weight: weight, bias: bias, padding: padding, activation: activation)
    }
}
