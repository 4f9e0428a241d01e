import Foundation
import Testing
import VocaSegTensor
@testable import VocaSegModels

/// EOV-Seg's frozen CLIP parts stage by stage against the PyTorch reference (Scripts/reference/
/// make_eovseg_goldens.py): the tiny checkpoints in the official layout, loaded through the real loader.
/// Each stage starts from the golden input of that stage, so a failure points at one module.
@Suite struct EOVSegBackboneGoldenTests {
    static let folders = ["eovseg_tiny_rn", "eovseg_tiny_cnx"]

    struct Loaded {
        let folder: GoldenFolder
        let config: EOVSegConfig
        let loader: WeightLoader
        let cnn: EOVSegCNNBackbone
        let vit: ViTSpatialBranch
        let text: CLIPTextTransformer
    }

    static func load(_ name: String) throws -> Loaded {
        let folder = GoldenFolder(name)
        let config = try EOVSegConfig.decode(jsonAt: folder.url("config.json").path)
        try config.validate()
        let loader = try WeightLoader(path: folder.url(name + ".pth").path)
        let cnn = EOVSegCNNBackbone(config: config, weights: loader.scope("cnn_backbone.clip_model.visual"))
        let vit = ViTSpatialBranch(config: config, weights: loader.scope("vit_backbone.clip_model"))
        let text = CLIPTextTransformer(config: config.textTower, weights: loader.scope("cnn_backbone.clip_model"))
        return Loaded(folder: folder, config: config, loader: loader, cnn: cnn, vit: vit, text: text)
    }

    @Test(arguments: folders) func everyFrozenCLIPKeyIsReadOrIgnored(_ name: String) throws {
        let m = try Self.load(name)
        let report = m.loader.report
        #expect(report.missing.isEmpty, "missing: \(report.missing.prefix(5))")
        #expect(report.shapeMismatches.isEmpty, "misshapen: \(report.shapeMismatches.prefix(5))")
        #expect(report.dtypeMismatches.isEmpty, "wrong dtype: \(report.dtypeMismatches.prefix(5))")
        // The trained parts (aggregator, decoder, void embedding) are other modules' keys.
        let frozen = report.unexpected.filter { $0.hasPrefix("cnn_backbone.") || $0.hasPrefix("vit_backbone.") }
        #expect(frozen.isEmpty, "unread CLIP keys: \(frozen.prefix(8))")
    }

    @Test(arguments: folders) func cnnFeaturesMatch(_ name: String) throws {
        let m = try Self.load(name)
        let feats = m.cnn.features(try m.folder.tensor("input.tensor"))
        #expect(feats.count == 4)
        for (i, f) in feats.enumerated() {
            #expect(f.shape == (try m.folder.entry("backbone.res\(i + 2)").shape))
            try m.folder.expectClose(f, "backbone.res\(i + 2)")
        }
    }

    @Test(arguments: folders) func vitSpatialBranchMatches(_ name: String) throws {
        let m = try Self.load(name)
        let v = m.vit(try m.folder.tensor("input.tensor"))
        #expect(v.shape == (try m.folder.entry("vit.out").shape))
        try m.folder.expectClose(v, "vit.out")
    }

    /// From the golden res5 and mask logits; the RN model's empty masks must give NaN rows exactly where the
    /// reference has them (`expectClose` treats NaN as equal only to NaN).
    @Test(arguments: folders) func maskPooledEmbeddingsMatch(_ name: String) throws {
        let m = try Self.load(name)
        let res5 = try m.folder.tensor("backbone.res5")
        let masks = try m.folder.tensor("clip.mask_small")
        let q = masks.shape[1]
        let pooled = m.cnn.maskPooled(res5: res5, maskLogits: masks.reshaped([q, masks.shape[2], masks.shape[3]]))
        #expect(pooled.shape == [q, m.config.embedDim])
        try m.folder.expectClose(pooled, "clip.pooled")
        // The reference lists the queries whose pooled row is NaN (RN: the empty masks; ConvNeXt: none).
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: m.folder.url("manifest.json")))
        let checks = try #require((manifest as? [String: Any])?["checks"] as? [String: Any])
        let nanQueries = try #require(checks["nan_pooled_queries"] as? [Int])
        let d = m.config.embedDim, values = pooled.toArray()
        let ours = (0..<q).filter { i in values[(i * d)..<((i + 1) * d)].contains { $0.isNaN } }
        #expect(ours == nanQueries)
        if m.config.backbone == .resnet { #expect(!ours.isEmpty, "the RN golden should exercise an empty mask") }
    }

    /// The text tower built from EOVSegConfig (QuickGELU for RN, GELU for ConvNeXt) through the 14-template
    /// ensemble gives the classifier's synonym rows (the last, void row belongs to the trained part).
    @Test(arguments: folders) func textTowerGivesTheClassifierRows(_ name: String) throws {
        let m = try Self.load(name)
        let tokens = try m.folder.intValues("text.tokens")
        let rows = stride(from: 0, to: tokens.count, by: 77).map { tokens[$0..<($0 + 77)].map { Int32($0) } }
        let unit = RowNormalization.unitRows(try m.text.encode(tokens: rows))
        let classifier = PromptEnsembleEncoder.averaged(unit, every: 14)
        let golden = try m.folder.tensor("text.classifier")
        let synonyms = golden.shape[0] - 1
        #expect(classifier.shape == [synonyms, m.config.embedDim])
        let (d, s) = GoldenFolder.difference(classifier, golden.narrowed(dim: 0, start: 0, length: synonyms).contiguous())
        #expect(d <= 1e-4 * max(1, s), "text classifier: max |Δ| = \(d)")
    }
}
