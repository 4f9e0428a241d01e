import Foundation
import VocaSegTensor

/// A bias-free convolution followed by an eval-mode BatchNorm (open_clip ModifiedResNet's `convN`+`bnN` and
/// `downsample.0`+`downsample.1`). With running statistics BN is a per-channel affine map, so it is folded into the
/// convolution's weight and bias at load time: one pass over the activations instead of two, same values up to
/// float rounding.
struct FoldedConvBN {
    let weight: Tensor
    let bias: Tensor
    let stride: Int
    let padding: Int

    init(conv: WeightScope, bn: WeightScope, in cin: Int, out cout: Int, kernel: Int, stride: Int = 1,
         padding: Int = 0, eps: Float) {
        (weight, bias) = BatchNormWeights(bn, channels: cout, eps: eps)
            .fold(convWeight: conv.tensor("weight", [cout, cin, kernel, kernel]))
        self.stride = stride
        self.padding = padding
    }

    /// x [N, Cin, H, W] → [N, Cout, Ho, Wo], the activation fused into the convolution's epilogue.
    func callAsFunction(_ x: Tensor, activation: Activation = .identity) -> Tensor {
        Ops.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, activation: activation)
    }
}
