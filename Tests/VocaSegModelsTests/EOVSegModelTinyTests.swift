import Foundation
import Testing
import VocaSegCore
import VocaSegMedia
import VocaSegTensor
@testable import VocaSegModels

/// The whole EOV-Seg model on the tiny goldens, as the product runs it: the checkpoint through the real loader, the
/// vocabulary through the tokenizer and the prompt ensemble, the image through the model's own preprocessing, then
/// `segment`. The stage tests (EOVSegBackbone…, EOVSegHead…) check each part from the reference's inputs; this one
/// checks that the assembly feeds them the same things the reference does and that the result is the reference's.
@Suite(.serialized) struct EOVSegModelTinyTests {
    static func model(_ folder: GoldenFolder, task: SegmentationTask = .panoptic) throws -> EOVSegModel {
        let config = try EOVSegGoldens.config(folder)
        let tokenizer = try CLIPTokenizer(vocabularyPath: ERRSegGoldens.tokenizerPath)
        return try EOVSegModel(config: config, weights: try EOVSegGoldens.weights(folder), tokenizer: tokenizer,
                               task: task)
    }

    /// vocab.json's classes (synonyms comma-separated) with the manifest's thing flags.
    static func vocabulary(_ folder: GoldenFolder) throws -> Vocabulary {
        let vocab = try #require(try folder.manifestFields()["vocab"] as? [String: Any])
        let names = try #require(vocab["classes"] as? [String])
        let things = try #require(vocab["thing"] as? [Bool])
        return try Vocabulary(classes: zip(names, things).map { name, thing in
            Vocabulary.Class(synonyms: name.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
                             isThing: thing)
        })
    }

    static func image(_ folder: GoldenFolder) throws -> RGBImage {
        let source = try MediaSource(path: folder.url("image.png").path)
        return try #require(try source.nextFrame()).image
    }

    @Test(arguments: ["eovseg_tiny_rn", "eovseg_tiny_cnx"])
    func prepareGivesTheReferenceTextClassifier(_ name: String) throws {
        let folder = GoldenFolder(name)
        let model = try Self.model(folder)
        try model.prepare(vocabulary: try Self.vocabulary(folder))
        let prepared = try #require(model.currentClassifier)
        try folder.expectClose(prepared.classifier.rows, "text.classifier", tolerance: 1e-5)
        #expect(prepared.classifier.synonymCounts == (try folder.intValues("text.synonym_counts")))
        #expect(prepared.classifier.seen == (try folder.intValues("seen")).map { $0 != 0 })
        #expect(prepared.classifier.isThing == (try folder.intValues("thing")).map { $0 != 0 })
        try folder.expectClose(prepared.guide, "vas.guide", tolerance: 1e-5)
    }

    @Test(arguments: ["eovseg_tiny_rn", "eovseg_tiny_cnx"])
    func preprocessingGivesTheReferenceInput(_ name: String) throws {
        let folder = GoldenFolder(name)
        let config = try EOVSegGoldens.config(folder)
        let frame = EOVSegPreprocessing.run(try Self.image(folder), config: config)
        let golden = try folder.entry("input.tensor").shape
        #expect([1, frame.channels, frame.height, frame.width] == golden)
        try folder.expectClose(Tensor(shape: golden, data: frame.data), "input.tensor", tolerance: 1e-6)
    }

    @Test(arguments: ["eovseg_tiny_rn", "eovseg_tiny_cnx"])
    func segmentGivesTheReferencePanopticAndSemanticMaps(_ name: String) throws {
        let folder = GoldenFolder(name)
        let model = try Self.model(folder)
        try model.prepare(vocabulary: try Self.vocabulary(folder))
        let image = try Self.image(folder)
        var state: FrameState?
        let result = try model.segment(try model.preprocess(image), state: &state)
        let panoptic = try #require(result.panoptic)

        let expected = try EOVSegGoldens.segments(folder)
        #expect(expected.count >= 5, "the goldens must exercise several segments")
        #expect(panoptic.segments.map { Int($0.id) } == expected.map(\.id))
        #expect(panoptic.segments.map(\.classIndex) == expected.map(\.category))
        #expect(panoptic.segments.map(\.isThing) == expected.map(\.isThing))

        let ids = try folder.intValues("panoptic.ids")
        #expect(ids.count == panoptic.segmentIds.count)
        let same = zip(ids, panoptic.segmentIds).filter { $0 == Int($1) }.count
        #expect(Double(same) >= 0.999 * Double(ids.count), "\(same) of \(ids.count) panoptic ids agree")

        let labels = try folder.intValues("semantic.labels")
        let sameLabels = zip(labels, result.labels.labels).filter { $0 == Int($1) }.count
        #expect(Double(sameLabels) >= 0.999 * Double(labels.count), "\(sameLabels) of \(labels.count) labels agree")
    }

    /// `--task semantic`: the same pass, the §4.3 map only (no panoptic part), equal to the panoptic run's labels.
    @Test func theSemanticTaskGivesTheSameMapWithoutSegments() throws {
        let folder = GoldenFolder("eovseg_tiny_rn")
        let vocabulary = try Self.vocabulary(folder)
        let image = try Self.image(folder)
        var results: [SegmentationResult] = []
        for task in [SegmentationTask.semantic, .panoptic] {
            let model = try Self.model(folder, task: task)
            #expect(model.isPanoptic == (task == .panoptic))
            try model.prepare(vocabulary: vocabulary)
            var state: FrameState?
            results.append(try model.segment(try model.preprocess(image), state: &state))
        }
        #expect(results[0].panoptic == nil && results[1].panoptic != nil)
        #expect(results[0].labels == results[1].labels)
        let labels = try folder.intValues("semantic.labels")
        #expect(zip(labels, results[0].labels.labels).filter { $0 == Int($1) }.count >= labels.count * 999 / 1000)
    }

    @Test(arguments: ["eovseg_tiny_rn", "eovseg_tiny_cnx"])
    func theForwardPassMatchesStageByStage(_ name: String) throws {
        let folder = GoldenFolder(name)
        let model = try Self.model(folder)
        try model.prepare(vocabulary: try Self.vocabulary(folder))
        let (classifier, guide) = try #require(model.currentClassifier)
        var timings: [String: Double] = [:]
        let out = model.forward(input: try folder.tensor("input.tensor"), classifier: classifier, guide: guide,
                                timings: &timings)
        for (i, level) in ["res2", "res3", "res4", "res5"].enumerated() {
            try folder.expectClose(out.features[i], "backbone.\(level)", tolerance: 1e-4)
        }
        try folder.expectClose(out.spatial, "vit.out", tolerance: 1e-4)
        try folder.expectClose(out.aggregated, "aggr.out", tolerance: 1e-4)
        try folder.expectClose(out.gate, "vas.gate", tolerance: 1e-4)
        try folder.expectClose(out.masks.reshaped([1] + out.masks.shape), "decoder.stage2.masks", tolerance: 1e-3)
        try folder.expectClose(out.clipMasks.reshaped([1] + out.clipMasks.shape), "clip.mask_small", tolerance: 1e-3)
        try folder.expectClose(out.clipPooled.reshaped([1] + out.clipPooled.shape), "clip.pooled", tolerance: 1e-3)
        try folder.expectClose(out.clipLogits.reshaped([1] + out.clipLogits.shape), "clip.logits", tolerance: 1e-3)
        try folder.expectClose(out.logProbabilities, "ensemble.logp", tolerance: 1e-3)
        #expect(Set(timings.keys) == ["backbone", "vit", "aggregator", "vas", "decoder", "clip"])
    }

    /// The released variants are recognised from a checkpoint's keys and shapes, and the registry builds them.
    @Test func theRegistryKnowsTheVariants() throws {
        #expect(ModelFamilies.variant(named: "eovseg-s")?.family.name == "EOV-Seg")
        #expect(ModelFamilies.variant(named: "eovseg-l")?.variant.expectedTensorCount == 1121)
        #expect(try EOVSegFamily().task(nil) == .panoptic)
        #expect(try EOVSegFamily().task("semantic") == .semantic)
    }

    /// The analytic count against the spec's FLOP-counter figures at 640×864, T = 404 (§5.2; its ViT row includes
    /// the attention products, its DCN rows the sampling-free conv parts), within 10 % per variant.
    @Test func theComputeCountMatchesTheSpecsFigures() {
        for (config, spec) in [(EOVSegConfig.small, 182.0), (.medium, 257.0), (.large, 479.0)] {
            let total = EOVSegComputeCost(config: config, height: 640, width: 864, textRows: 404).byStage.values
                .reduce(0, +) / 1e9
            #expect(abs(total - spec) / spec < 0.10, "\(config.name): \(total) GMAC, spec \(spec)")
        }
        let s = EOVSegComputeCost(config: .small, height: 640, width: 864, textRows: 404).byStage
        #expect(abs(s["backbone"]! / 1e9 - 59.2) < 59.2 * 0.05, "RN50 backbone \(s["backbone"]! / 1e9)")
        #expect(abs(s["vit"]! / 1e9 - 23.8) < 23.8 * 0.05, "ViT \(s["vit"]! / 1e9)")
    }
}
