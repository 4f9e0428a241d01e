import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// EOV-Seg's trained parts and post-processing against the PyTorch reference, each stage from the reference's own
/// inputs of that stage, weights from the tiny checkpoint through the real loader. Skipped until the reference
/// has written the folder.
@Suite struct EOVSegHeadGoldenTests {
    static let available = EOVSegGoldens.folders.filter(\.exists).map { $0.directory.lastPathComponent }

    struct Fixture {
        let folder: GoldenFolder
        let config: EOVSegConfig
        let weights: WeightLoader
        let aggregator: LiteAggregator
        let decoder: LightweightDecoder
        let textClassifier: Tensor
        let synonymCounts: [Int]

        init(_ name: String) throws {
            folder = GoldenFolder(name)
            config = try EOVSegGoldens.config(folder)
            weights = try EOVSegGoldens.weights(folder)
            aggregator = LiteAggregator(weights.scope("lite_aggr"), featureChannels: config.featureChannels,
                                        aggDim: config.aggDim, hiddenDim: config.hiddenDim)
            decoder = LightweightDecoder(weights.scope("light_weight_decoder"), config: config)
            textClassifier = try folder.tensor("text.classifier")
            synonymCounts = try folder.intValues("text.synonym_counts")
        }

        /// Every key the head asks for exists with its shape.
        func expectHeadKeysLoaded() {
            let report = weights.report
            #expect(report.missing.isEmpty, "missing: \(report.missing.prefix(5))")
            #expect(report.shapeMismatches.isEmpty, "misshapen: \(report.shapeMismatches.prefix(5))")
            #expect(report.dtypeMismatches.isEmpty)
            // Every trained key of the head is read (or deliberately ignored, as criterion.empty_weight).
            let unread = report.unexpected.filter { $0.hasPrefix("lite_aggr.") || $0.hasPrefix("light_weight_decoder.") }
            #expect(unread.isEmpty, "head keys never read: \(unread.prefix(5))")
            #expect(report.ignored.map(\.key).filter { $0.hasPrefix("light_weight_decoder.criterion") }
                    == LightweightDecoder.ignoredKeys)
        }
    }

    @Test(.enabled(if: !available.isEmpty), arguments: available)
    func aggregatorFromReferenceFeatures(_ name: String) throws {
        let f = try Fixture(name)
        f.expectHeadKeysLoaded()
        let res = try ["res2", "res3", "res4", "res5"].map { try f.folder.tensor("backbone.\($0)") }
        try f.folder.expectClose(f.aggregator(features: res), "aggr.out", tolerance: 1e-4)
    }

    @Test(.enabled(if: !available.isEmpty), arguments: available)
    func vasFromReferenceAggregator(_ name: String) throws {
        let f = try Fixture(name)
        let guide = f.decoder.vas.guide(textClassifier: f.textClassifier)
        try f.folder.expectClose(guide, "vas.guide", tolerance: 1e-5)
        let (out, gate) = f.decoder.vas(try f.folder.tensor("aggr.out"), guide: guide)
        try f.folder.expectClose(gate, "vas.gate", tolerance: 1e-5)
        try f.folder.expectClose(out, "vas.out", tolerance: 1e-4)
    }

    @Test(.enabled(if: !available.isEmpty), arguments: available)
    func decoderFromReferenceVAS(_ name: String) throws {
        let f = try Fixture(name)
        let out = f.decoder.decode(features: try f.folder.tensor("vas.out"), spatial: try f.folder.tensor("vit.out"),
                                   textClassifier: f.textClassifier, synonymCounts: f.synonymCounts)
        try f.folder.expectClose(out.upscaledSpatial, "decoder.upscaled", tolerance: 1e-4)
        try f.folder.expectClose(out.initialMasks, "decoder.mask0", tolerance: 1e-4)
        for (s, stage) in out.stages.enumerated() {
            try f.folder.expectClose(stage.kernels, "decoder.stage\(s).kernels", tolerance: 1e-4)
            try f.folder.expectClose(stage.masks, "decoder.stage\(s).masks", tolerance: 1e-4)
        }
        try f.folder.expectClose(out.classLogits, "decoder.stage\(f.config.numStages - 1).cls", tolerance: 1e-4)
    }

    /// Each decoder stage from the reference's previous stage (so an error does not compound across stages).
    @Test(.enabled(if: !available.isEmpty), arguments: available)
    func decoderStagesFromReferenceInputs(_ name: String) throws {
        let f = try Fixture(name)
        let feats = try f.folder.tensor("vas.out")
        let c = f.config.hiddenDim, h = feats.shape[2], w = feats.shape[3]
        let flat = feats.reshaped([c, h * w])
        var kernels = f.decoder.objectKernels
        var masks = EOVSegGoldens.unbatched(try f.folder.tensor("decoder.mask0"))
        for (s, stage) in f.decoder.stages.enumerated() {
            let (k, m) = stage.update(features: flat, kernels: kernels, masks: masks)
            try f.folder.expectClose(k, "decoder.stage\(s).kernels", tolerance: 1e-4)
            try f.folder.expectClose(m, "decoder.stage\(s).masks", tolerance: 1e-4)
            kernels = EOVSegGoldens.unbatched(try f.folder.tensor("decoder.stage\(s).kernels"))
            masks = EOVSegGoldens.unbatched(try f.folder.tensor("decoder.stage\(s).masks"))
        }
        let last = f.config.numStages - 1
        let vu = EOVSegGoldens.unbatched(try f.folder.tensor("decoder.upscaled"))
        let cls = f.decoder.stages[last].classify(kernels: kernels, masks: masks, features: flat,
                                                  spatial: vu.reshaped([vu.shape[0], h * w]),
                                                  textClassifier: f.textClassifier, synonymCounts: f.synonymCounts)
        try f.folder.expectClose(cls, "decoder.stage\(last).cls", tolerance: 1e-4)
    }

    @Test(.enabled(if: !available.isEmpty), arguments: available)
    func clipLogitsMasksAndEnsemble(_ name: String) throws {
        let f = try Fixture(name)
        let mq = EOVSegGoldens.unbatched(try f.folder.tensor("decoder.stage\(f.config.numStages - 1).masks"))
        let small = try f.folder.entry("clip.mask_small").shape
        let mc = EOVSegClassification.clipMasks(mq, height: small[small.count - 2], width: small[small.count - 1])
        try f.folder.expectClose(mc, "clip.mask_small", tolerance: 1e-5)
        let pooled = EOVSegGoldens.unbatched(try f.folder.tensor("clip.pooled"))
        // The CNN CLIP's logit_scale is frozen at ln 100 in the released weights; read it from the checkpoint.
        let clipScale = f.weights.tensor("cnn_backbone.clip_model.logit_scale", shape: []).toArray()[0]
        let out = EOVSegClassification.classificationLogits(embeddings: pooled, textClassifier: f.textClassifier,
                                                            logitScale: clipScale, synonymCounts: f.synonymCounts)
        try f.folder.expectClose(out, "clip.logits", tolerance: 1e-4)
        // Ensemble from the reference's logits and masks.
        let cls = EOVSegGoldens.unbatched(try f.folder.tensor("decoder.stage\(f.config.numStages - 1).cls"))
        let clipLogits = EOVSegGoldens.unbatched(try f.folder.tensor("clip.logits"))
        let seen = try f.folder.intValues("seen").map { $0 != 0 }
        let valid = f.config.ensembleOnValidMask
            ? EOVSegClassification.validMasks(EOVSegGoldens.unbatched(try f.folder.tensor("clip.mask_small"))) : nil
        let (_, logp) = EOVSegClassification.ensemble(inVocab: cls, outVocab: clipLogits, seen: seen,
                                                      alpha: f.config.ensembleAlpha, beta: f.config.ensembleBeta,
                                                      valid: valid)
        try f.folder.expectClose(logp, "ensemble.logp", tolerance: 1e-4)
    }

    @Test(.enabled(if: !available.isEmpty), arguments: available)
    func postprocessingFromReferenceLogits(_ name: String) throws {
        let f = try Fixture(name)
        let g = try EOVSegGoldens.geometry(f.folder, config: f.config)
        let mq = EOVSegGoldens.unbatched(try f.folder.tensor("decoder.stage\(f.config.numStages - 1).masks"))
        let resampler = EOVSegMaskResampler(masks: mq, paddedHeight: g.paddedHeight, paddedWidth: g.paddedWidth,
                                            resizedHeight: g.resizedHeight, resizedWidth: g.resizedWidth,
                                            outHeight: g.originalHeight, outWidth: g.originalWidth)
        try f.folder.expectClose(resampler.all(), "post.masks", tolerance: 1e-5)
        let logp = EOVSegGoldens.unbatched(try f.folder.tensor("ensemble.logp"))
        let thing = try f.folder.intValues("thing").map { $0 != 0 }
        let result = EOVSegPostprocess.run(logProbabilities: logp, masks: mq, geometry: g, isThing: thing,
                                           objectMaskThreshold: f.config.objectMaskThreshold,
                                           overlapThreshold: f.config.overlapThreshold)
        // Segments: same count, categories and thing flags, in order.
        let expected = try EOVSegGoldens.segments(f.folder)
        let got = result.panoptic.segments.sorted { $0.id < $1.id }
        #expect(got.map { Int($0.id) } == expected.map(\.id))
        #expect(got.map(\.classIndex) == expected.map(\.category))
        #expect(got.map(\.isThing) == expected.map(\.isThing))
        // Each segment's score is its (first) query's score.
        if let details = try f.folder.manifestFields()["panoptic"] as? [String: Any],
           let queries = details["segment_queries"] as? [Int], queries.count == got.count {
            let (_, scores, _) = EOVSegPostprocess.scores(logProbabilities: logp)
            #expect(zip(got, queries).allSatisfy { $0.0.score == scores[$0.1] }, "segment scores")
        }
        // Id maps: at least 99.9 % identical.
        let ids = try f.folder.intValues("panoptic.ids")
        try #require(ids.count == result.panoptic.segmentIds.count)
        let same = zip(ids, result.panoptic.segmentIds).filter { $0.0 == Int($0.1) }.count
        #expect(Double(same) >= 0.999 * Double(ids.count), "panoptic ids: \(same) of \(ids.count) equal")
        let labels = try f.folder.intValues("semantic.labels")
        try #require(labels.count == result.labels.labels.count)
        let sameLabels = zip(labels, result.labels.labels).filter { $0.0 == Int($0.1) }.count
        #expect(Double(sameLabels) >= 0.999 * Double(labels.count), "semantic: \(sameLabels) of \(labels.count) equal")
    }
}
