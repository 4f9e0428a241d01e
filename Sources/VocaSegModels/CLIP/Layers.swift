import Foundation
import VocaSegTensor

/// `nn.LayerNorm` / timm `LayerNorm2d` weights; applied to the last dimension of channels-last data.
struct LayerNormLayer {
    let weight: Tensor
    let bias: Tensor
    let eps: Float

    init(_ w: WeightScope, dim: Int, eps: Float) {
        weight = w.tensor("weight", [dim])
        bias = w.tensor("bias", [dim])
        self.eps = eps
    }

    @discardableResult
    func callAsFunction(_ x: Tensor, out: Tensor? = nil) -> Tensor {
        Ops.layerNorm(x, weight: weight, bias: bias, eps: eps, out: out)
    }
}

/// `nn.Linear` weights as PyTorch stores them ([out, in]).
struct LinearLayer {
    let weight: Tensor
    let bias: Tensor?
    /// The weight repacked for `Ops.linear(_:packed:)`, set by `packed()` on layers that run per class with few
    /// input features (ERR-Seg's aggregator), where that kernel beats OpenBLAS.
    private(set) var packedWeight: PackedLinearWeight?

    init(_ w: WeightScope, in inFeatures: Int, out outFeatures: Int, bias hasBias: Bool = true) {
        weight = w.tensor("weight", [outFeatures, inFeatures])
        bias = hasBias ? w.tensor("bias", [outFeatures]) : nil
    }

    init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    var inFeatures: Int { weight.shape[1] }
    var outFeatures: Int { weight.shape[0] }

    /// This layer with its weight packed for the 6×16 kernel (same results up to summation order).
    func packed() -> LinearLayer {
        var layer = self
        layer.packedWeight = PackedLinearWeight(weight: weight, bias: bias)
        return layer
    }

    @discardableResult
    func callAsFunction(_ x: Tensor, activation: Activation = .identity, out: Tensor? = nil,
                        accumulate: Bool = false) -> Tensor {
        if let packedWeight {
            return Ops.linear(x, packed: packedWeight, activation: activation, out: out, accumulate: accumulate)
        }
        return Ops.linear(x, weight: weight, bias: bias, activation: activation, out: out, accumulate: accumulate)
    }
}

/// A convolution whose input is channels-last: the weight is packed at load time to [Cout, kh·kw·Cin] so that
/// the convolution is `im2col` + one GEMM.
struct ChannelsLastConv {
    let weight: Tensor
    let bias: Tensor?
    let kernel: Int
    let stride: Int
    let padding: Int
    let inChannels: Int
    let outChannels: Int
    let packed: PackedLinearWeight?

    init(_ w: WeightScope, in cin: Int, out cout: Int, kernel: Int, stride: Int, padding: Int, bias hasBias: Bool = true) {
        weight = ChannelsLast.packConvWeight(w.tensor("weight", [cout, cin, kernel, kernel]))
        bias = hasBias ? w.tensor("bias", [cout]) : nil
        // Short reductions (the 4×4 stem: 48; the cost volume's 7×7 on one channel: 49) leave OpenBLAS far below
        // its large-GEMM rate; the packed kernel is not.
        packed = kernel * kernel * cin <= 512 ? PackedLinearWeight(weight: weight, bias: bias) : nil
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        inChannels = cin
        outChannels = cout
    }

    /// x [B, H, W, Cin] (contiguous) → ([B·Ho·Wo, Cout], Ho, Wo).
    func callAsFunction(_ x: Tensor, batch: Int, height: Int, width: Int, activation: Activation = .identity,
                        pool: BufferPool? = nil, slot: String = "conv") -> (Tensor, Int, Int) {
        let ho = (height + 2 * padding - kernel) / stride + 1, wo = (width + 2 * padding - kernel) / stride + 1
        let colsOut = pool?.tensor(slot + ".cols", shape: [batch * ho * wo, kernel * kernel * inChannels])
        let (cols, _, _) = ChannelsLast.im2col(x, batch: batch, height: height, width: width, channels: inChannels,
                                               kernel: kernel, stride: stride, padding: padding, out: colsOut)
        let y = pool?.tensor(slot + ".out", shape: [batch * ho * wo, outChannels])
        if let packed { return (Ops.linear(cols, packed: packed, activation: activation, out: y), ho, wo) }
        return (Ops.linear(cols, weight: weight, bias: bias, activation: activation, out: y), ho, wo)
    }
}
