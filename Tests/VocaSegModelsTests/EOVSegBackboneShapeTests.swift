import Foundation
import Testing
import VocaSegTensor
@testable import VocaSegModels

/// Shapes and edge cases of EOV-Seg's CLIP parts on seeded random weights (values are meaningless).
@Suite struct EOVSegBackboneShapeTests {
    static func config(_ backbone: EOVSegConfig.Backbone) -> EOVSegConfig {
        var c = backbone == .resnet ? EOVSegConfig.small : EOVSegConfig.large
        c.resnetWidth = 8
        c.resnetLayers = [1, 2, 1, 1]
        c.attnpoolHeads = 4
        c.attnpoolGrid = 3
        c.convnextDims = [16, 32, 48, 64]
        c.convnextDepths = [1, 1, 2, 1]
        c.embedDim = 32
        c.vitWidth = 64
        c.vitHeads = 4
        c.vitGrid = 4
        c.vitMLPDim = 256
        return c
    }

    @Test func resnetFeaturesAndMaskedPoolShapes() throws {
        let c = Self.config(.resnet)
        let cnn = EOVSegCNNBackbone(config: c, weights: RandomWeights.loader(seed: 1).scope("visual"))
        let x = Tensor(shape: [1, 3, 64, 96], repeating: 0.3)
        let feats = cnn.features(x)
        #expect(feats.map(\.shape) == [[1, 32, 16, 24], [1, 64, 8, 12], [1, 128, 4, 6], [1, 256, 2, 3]])
        // Query 0 sees everything, query 1 one position, query 2 nothing: a NaN row, as torch.
        var logits = [Float](repeating: -1, count: 3 * 6)
        for p in 0..<6 { logits[p] = 1 }
        logits[6 + 4] = 2
        let pooled = cnn.maskPooled(res5: feats[3], maskLogits: Tensor(shape: [3, 2, 3], data: logits))
        #expect(pooled.shape == [3, 32])
        let v = pooled.toArray()
        #expect(v[0..<64].allSatisfy { $0.isFinite })
        #expect(v[64..<96].allSatisfy { $0.isNaN })
    }

    @Test func convnextFeaturesAndMaskPoolShapes() throws {
        let c = Self.config(.convnext)
        let cnn = EOVSegCNNBackbone(config: c, weights: RandomWeights.loader(seed: 2).scope("visual"))
        let feats = cnn.features(Tensor(shape: [1, 3, 64, 96], repeating: 0.3))
        #expect(feats.map(\.shape) == [[1, 16, 16, 24], [1, 32, 8, 12], [1, 48, 4, 6], [1, 64, 2, 3]])
        let logits = Tensor(shape: [2, 2, 3], data: [1, 1, -1, -1, -1, -1] + [Float](repeating: -1, count: 6))
        let pooled = cnn.maskPooled(res5: feats[3], maskLogits: logits)
        #expect(pooled.shape == [2, 32])
        // An empty mask pools to zeros, which the head maps to finite values (no NaN on the ConvNeXt path).
        #expect(pooled.toArray().allSatisfy { $0.isFinite })
    }

    @Test func vitBranchShapeAndIgnoredKeys() throws {
        let c = Self.config(.resnet)
        let loader = RandomWeights.loader(seed: 3)
        let vit = ViTSpatialBranch(config: c, weights: loader.scope("vit_backbone.clip_model"))
        let v = vit(Tensor(shape: [1, 3, 64, 96], repeating: 0.1))
        #expect(v.shape == [1, 64, 4, 6])
        #expect(v.toArray().allSatisfy { $0.isFinite })
        #expect(ViTSpatialBranch.ignoredPrefixes.contains { $0.prefix == "visual.ln_post" })
    }

    @Test func textTowerFollowsTheVariant() {
        #expect(EOVSegConfig.small.textTower.activation == .quickGelu)
        #expect(EOVSegConfig.medium.textTower.embedDim == 640)
        #expect(EOVSegConfig.large.textTower.activation == .gelu)
        #expect(EOVSegConfig.large.textTower.layers == 16 && EOVSegConfig.large.textTower.causal)
        #expect(EOVSegConfig.small.resnetTower.stageChannels == [256, 512, 1024, 2048])
        #expect(EOVSegConfig.large.convnextTower.head == .mlp)
    }
}
