import Foundation
import VocaSegTensor

/// The CLIP tower configurations an EOV-Seg variant implies (spec §2.0, §2.2, §2.8).
extension EOVSegConfig {
    /// The CNN CLIP's text tower (`cnn_backbone.clip_model`), which builds the text classifier: causal, QuickGELU
    /// for the OpenAI RN towers, exact GELU for LAION's ConvNeXt-L-d, projecting to D.
    public var textTower: CLIPTextConfig {
        var c = CLIPTextConfig(width: textWidth, heads: textHeads, layers: textLayers, embedDim: embedDim,
                               activation: textQuickGELU ? .quickGelu : .gelu, causal: true)
        c.contextLength = contextLength
        c.vocabSize = vocabSize
        return c
    }

    /// The ModifiedResNet visual tower with its attention pool (heads and pretraining grid from the config).
    public var resnetTower: CLIPModifiedResNetConfig {
        CLIPModifiedResNetConfig(width: resnetWidth, layers: resnetLayers, heads: attnpoolHeads, grid: attnpoolGrid,
                                 embedDim: embedDim)
    }

    /// The ConvNeXt visual tower with open_clip's MLP head (fc1 C5→2D with bias, GELU, fc2 2D→D without bias;
    /// 2D = C5 for ConvNeXt-L-d).
    public var convnextTower: CLIPConvNeXtConfig {
        CLIPConvNeXtConfig(dims: convnextDims, depths: convnextDepths, embedDim: embedDim, head: .mlp, lnEps: 1e-6)
    }
}
