import Foundation
import VocaSegTensor

/// EOV-Seg's frozen CNN CLIP visual tower (`cnn_backbone.clip_model.visual`), either kind behind one interface so
/// the model assembly does not branch: multi-scale features for the neck (§2.2) and the out-of-vocabulary mask
/// embeddings (§2.8).
public enum EOVSegCNNBackbone: @unchecked Sendable {
    /// OpenAI RN50 / RN50x4: masked attention pool.
    case resnet(CLIPModifiedResNet)
    /// LAION ConvNeXt-L-d: binary mask average → `trunk.head.norm` → `head.mlp`.
    case convnext(CLIPConvNeXtVisual)

    /// `w` is the `cnn_backbone.clip_model.visual` scope.
    public init(config: EOVSegConfig, weights w: WeightScope) {
        switch config.backbone {
        case .resnet: self = .resnet(CLIPModifiedResNet(config: config.resnetTower, weights: w))
        case .convnext: self = .convnext(CLIPConvNeXtVisual(config: config.convnextTower, weights: w))
        }
    }

    /// res2 … res5 (strides 4 … 32, NCHW) of the normalised, padded image [1, 3, H, W]. res5 is also
    /// `clip_vis_dense` (ConvNeXt's `norm_pre` is the identity). `pool` lends the ConvNeXt trunk its scratch
    /// (im2col columns of the stem); a model that runs frame after frame passes its own so nothing big is
    /// allocated per frame. The returned maps never alias the pool.
    public func features(_ x: Tensor, pool: BufferPool = BufferPool()) -> [Tensor] {
        switch self {
        case .resnet(let net):
            return net.features(x)
        case .convnext(let net):
            opCheck(x.rank == 4 && x.shape[0] == 1 && x.shape[1] == 3,
                    "EOVSegCNNBackbone: input must be [1, 3, H, W], got \(x.shape)")
            var timings: [String: Double] = [:]
            let maps = net.trunk(x.reshaped([3, x.shape[2], x.shape[3]]), pool: pool, timings: &timings)
            return maps.map { $0.nchw() }
        }
    }

    /// Per-mask CLIP embeddings [Q, D] (not normalised) from res5 [1, C5, h, w] and mask logits [Q, h, w] already
    /// at res5's size. Empty masks: NaN rows for ResNet (as the original), head(LN(0)) rows for ConvNeXt.
    public func maskPooled(res5: Tensor, maskLogits: Tensor) -> Tensor {
        switch self {
        case .resnet(let net):
            return net.maskedAttentionPool(res5: res5, maskLogits: maskLogits)
        case .convnext(let net):
            opCheck(res5.rank == 4 && res5.shape[0] == 1, "maskPooled: res5 must be [1, C, h, w], got \(res5.shape)")
            opCheck(maskLogits.rank == 3 && maskLogits.shape[1] == res5.shape[2] && maskLogits.shape[2] == res5.shape[3],
                    "maskPooled: mask logits must be [Q, h, w] at res5's size, got \(maskLogits.shape)")
            let pooled = Ops.maskPool(features: res5.contiguous().reshaped(Array(res5.shape.dropFirst())), masks: maskLogits,
                                      binarize: true, normalize: true, eps: 1e-8)
            // trunk.head: global pooling of a 1×1 map is the identity, LayerNorm2d over channels, flatten; then
            // the MLP head.
            return net.denseProjection(pooled)
        }
    }

    /// D, the width of `maskPooled`'s rows.
    public var embedDim: Int {
        switch self {
        case .resnet(let net): return net.attnpool.outDim
        case .convnext(let net): return net.config.embedDim
        }
    }
}
