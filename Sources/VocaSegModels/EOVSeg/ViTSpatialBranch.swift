import Foundation
import VocaSegTensor

/// EOV-Seg's "spatial" ViT branch (§2.3): of the frozen ViT-B/16 CLIP (`vit_backbone.clip_model.visual`) only the
/// patch embedding, class token, positional embedding, `ln_pre` and transformer block 0 run. The block is pre-LN with
/// QuickGELU (OpenAI weights) and full attention over every token, class token and padding included.
public final class ViTSpatialBranch: @unchecked Sendable {
    let patchWeight: Tensor          // conv1 [W, 3, p, p], no bias
    let classEmbedding: Tensor       // [W]
    let positionalEmbedding: Tensor  // [grid² + 1, W]
    let lnPre: LayerNormLayer
    let block: CLIPTransformerBlock
    public let width: Int
    public let patch: Int
    let grid: Int

    /// Keys under `vit_backbone.clip_model` that the branch never reads, with why; the model assembly passes them
    /// to `WeightLoader.ignore`. `visual.transformer.resblocks` covers blocks 1…: block 0's keys are read, and a
    /// key that is read is never reported as ignored.
    public static let ignoredPrefixes: [(prefix: String, reason: String)] = [
        ("visual.transformer.resblocks", "ViT blocks after block 0 are not run by the spatial branch"),
        ("visual.ln_post", "the ViT's pooled output is not used"),
        ("visual.proj", "the ViT's pooled output is not used"),
        ("token_embedding", "the ViT CLIP's text tower is not used (the CNN CLIP's is)"),
        ("positional_embedding", "the ViT CLIP's text tower is not used"),
        ("transformer", "the ViT CLIP's text tower is not used"),
        ("ln_final", "the ViT CLIP's text tower is not used"),
        ("text_projection", "the ViT CLIP's text tower is not used"),
        ("logit_scale", "the ViT CLIP's temperature is not used"),
    ]

    /// `w` is the `vit_backbone.clip_model` scope; the unused keys below it are marked ignored here.
    public init(config: EOVSegConfig, weights w: WeightScope) {
        width = config.vitWidth
        patch = config.vitPatch
        grid = config.vitGrid
        let v = w.scope("visual")
        patchWeight = v.tensor("conv1.weight", [width, 3, patch, patch])
        classEmbedding = v.tensor("class_embedding", [width])
        positionalEmbedding = v.tensor("positional_embedding", [grid * grid + 1, width])
        lnPre = LayerNormLayer(v.scope("ln_pre"), dim: width, eps: 1e-5)
        block = CLIPTransformerBlock(v.scope("transformer.resblocks.0"), width: width, heads: config.vitHeads,
                                     mlpWidth: config.vitMLPDim, eps: 1e-5, activation: .quickGelu, causal: false)
        for rule in Self.ignoredPrefixes { w.ignore(rule.prefix, reason: rule.reason) }
    }

    /// The normalised, padded image [1, 3, H, W] (H, W multiples of the patch) → V [1, width, H/p, W/p].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        opCheck(x.rank == 4 && x.shape[0] == 1 && x.shape[1] == 3, "ViTSpatialBranch: input must be [1, 3, H, W], got \(x.shape)")
        let patches = Ops.conv2d(x, weight: patchWeight, stride: patch)       // [1, W, h, w]
        let h = patches.shape[2], w = patches.shape[3], hw = h * w, d = width
        opCheck(hw > 0, "ViTSpatialBranch: image smaller than one patch")

        // Tokens [1, 1 + h·w, W]: class token then the patches row-major, each plus its positional row.
        let tokens = Tensor(uninitializedShape: [1, 1 + hw, d])
        for c in 0..<d { tokens.data[c] = classEmbedding.data[c] + positionalEmbedding.data[c] }
        let patchTokens = patches.reshaped([d, hw]).transposed(0, 1).contiguous()
        Ops.addInPlace(patchTokens, CLIPPositionalEmbedding.spatial(positionalEmbedding, grid: grid, height: h, width: w))
        // Written through the base pointer: a narrowed view may be copied by `reshaped`, and writes would be lost.
        (tokens.data + d).update(from: patchTokens.data, count: hw * d)
        withExtendedLifetime(patchTokens) {}

        let normed = lnPre(tokens)
        block.forward(normed)
        let out = normed.narrowed(dim: 1, start: 1, length: hw).reshaped([hw, d]).transposed(0, 1).contiguous()
        return out.reshaped([1, d, h, w])
    }
}
