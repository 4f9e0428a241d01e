import Foundation
import VocaSegTensor

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
