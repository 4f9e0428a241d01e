import Foundation
import VocaSegTensor

/// open_clip `Bottleneck` of the ModifiedResNet: 1×1 → 3×3 → (avgpool when strided) → 1×1 (×4), all convolutions
/// stride 1; downsampling is anti-aliased by an average pool instead of a strided conv (also on the shortcut:
/// AvgPool → 1×1 conv → BN).
struct CLIPBottleneck {
    let conv1: FoldedConvBN
    let conv2: FoldedConvBN
    let conv3: FoldedConvBN
    let downsample: FoldedConvBN?
    let stride: Int

    init(_ w: WeightScope, inplanes: Int, planes: Int, stride: Int, eps: Float) {
        let out = 4 * planes
        conv1 = FoldedConvBN(conv: w.scope("conv1"), bn: w.scope("bn1"), in: inplanes, out: planes, kernel: 1, eps: eps)
        conv2 = FoldedConvBN(conv: w.scope("conv2"), bn: w.scope("bn2"), in: planes, out: planes, kernel: 3,
                             padding: 1, eps: eps)
        conv3 = FoldedConvBN(conv: w.scope("conv3"), bn: w.scope("bn3"), in: planes, out: out, kernel: 1, eps: eps)
        // open_clip adds the shortcut branch exactly when the shape changes.
        downsample = stride > 1 || inplanes != out
            ? FoldedConvBN(conv: w.scope("downsample.0"), bn: w.scope("downsample.1"), in: inplanes, out: out,
                           kernel: 1, eps: eps)
            : nil
        self.stride = stride
    }

    /// x [1, Cin, H, W] → [1, 4·planes, H/stride, W/stride].
    func forward(_ x: Tensor) -> Tensor {
        var h = conv2(conv1(x, activation: .relu), activation: .relu)
        if stride > 1 { h = Ops.avgPool2d(h, kernel: (stride, stride)) }
        let out = conv3(h)
        var identity = x
        if let downsample {
            // open_clip's shortcut is `AvgPool2d(stride)` even for stride 1 (identity pooling), so pool only when strided.
            identity = downsample(stride > 1 ? Ops.avgPool2d(x, kernel: (stride, stride)) : x)
        }
        Ops.addInPlace(out, identity)
        Ops.activateInPlace(out, .relu)
        return out
    }
}

/// open_clip `ModifiedResNet` (`…clip_model.visual`, OpenAI RN50 / RN50x4): 3-conv stem, 2×2 average pool, four
/// layers of bottlenecks, and the attention pool (`attnpool`), which dense models run only restricted to masks.
/// BatchNorms are folded into their convolutions at load.
public final class CLIPModifiedResNet: @unchecked Sendable {
    public let config: CLIPModifiedResNetConfig
    let stem: [FoldedConvBN]
    let layers: [[CLIPBottleneck]]
    public let attnpool: CLIPAttentionPool

    /// `w` is the `...clip_model.visual` scope.
    public init(config c: CLIPModifiedResNetConfig, weights w: WeightScope) {
        config = c
        let half = c.width / 2, eps = c.bnEps
        stem = [
            FoldedConvBN(conv: w.scope("conv1"), bn: w.scope("bn1"), in: 3, out: half, kernel: 3, stride: 2,
                         padding: 1, eps: eps),
            FoldedConvBN(conv: w.scope("conv2"), bn: w.scope("bn2"), in: half, out: half, kernel: 3, padding: 1,
                         eps: eps),
            FoldedConvBN(conv: w.scope("conv3"), bn: w.scope("bn3"), in: half, out: c.width, kernel: 3, padding: 1,
                         eps: eps),
        ]
        var inplanes = c.width
        var layers: [[CLIPBottleneck]] = []
        for (i, count) in c.layers.enumerated() {
            let planes = c.width << i
            let stride = i == 0 ? 1 : 2
            layers.append((0..<count).map { b in
                let block = CLIPBottleneck(w.scope("layer\(i + 1).\(b)"), inplanes: inplanes, planes: planes,
                                           stride: b == 0 ? stride : 1, eps: eps)
                inplanes = 4 * planes
                return block
            })
        }
        self.layers = layers
        attnpool = CLIPAttentionPool(w.scope("attnpool"), channels: 32 * c.width, heads: c.heads, grid: c.grid,
                                     outDim: c.embedDim)
    }

    /// res2 … res5 (strides 4 … 32) of a normalised image [1, 3, H, W], each NCHW.
    public func features(_ x: Tensor) -> [Tensor] {
        opCheck(x.rank == 4 && x.shape[0] == 1 && x.shape[1] == 3, "CLIPModifiedResNet: input must be [1, 3, H, W], got \(x.shape)")
        var h = x.contiguous()
        for conv in stem { h = conv(h, activation: .relu) }
        h = Ops.avgPool2d(h, kernel: (2, 2))
        var outs: [Tensor] = []
        for layer in layers {
            for block in layer { h = block.forward(h) }
            outs.append(h)
        }
        return outs
    }

    /// The attention pool restricted to each mask (see `CLIPAttentionPool.maskedPool`): res5 [1, 32w, h, w] and
    /// mask logits [Q, h, w] → [Q, embedDim].
    public func maskedAttentionPool(res5: Tensor, maskLogits: Tensor) -> Tensor {
        attnpool.maskedPool(res5: res5, maskLogits: maskLogits)
    }
}
