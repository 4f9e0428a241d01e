import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The Swift half of the full-size EOV-Seg parity check (Scripts/parity/eovseg.sh): loads a checkpoint in the
/// official layout through the production loader (`EOVSegModel.load`), prepares the vocabulary through the CLIP
/// tokenizer and the prompt ensemble (`prepare(vocabulary:)`), preprocesses the frame with the model's own
/// preprocessing, runs `forward` and the post-processing once and dumps every stage under the names the PyTorch
/// reference uses (`eovseg.py run --dump`), in the same layout (manifest.json + raw little-endian <name>.bin), so
/// that Scripts/parity/compare_dumps.py reads both. Opt-in (a 1.1–2.1 GB checkpoint and minutes of CPU): skipped
/// unless all of
///
///     VOCASEG_EOV_PARITY_CHECKPOINT  .pth in the official key layout (eovseg.py write-checkpoint --size s|l)
///     VOCASEG_EOV_PARITY_IMAGE       binary PPM (P6) the script decoded with Pillow (both sides read these pixels)
///     VOCASEG_EOV_PARITY_VOCAB       JSON {"classes": ["wall,walls,…", …], "thing": [false, …]}: synonyms
///                                    comma-separated, one thing flag per class (the reference's `--vocab` format)
///     VOCASEG_EOV_PARITY_OUT         output directory
///
/// are set. Optional: VOCASEG_EOV_PARITY_SIZE (s | m | l, default s), VOCASEG_EOV_PARITY_THREADS (default 2), and
/// VOCASEG_EOV_PARITY_DECISIONS (the reference's dump) with VOCASEG_EOV_PARITY_DECIDED_OUT: a second forward whose
/// hard decisions read the reference's mask logits (EOVSegDecisions), dumped there.
@Suite struct EOVSegParityDump {
    static let environment = ProcessInfo.processInfo.environment
    static let requiredVariables = ["VOCASEG_EOV_PARITY_CHECKPOINT", "VOCASEG_EOV_PARITY_IMAGE",
                                    "VOCASEG_EOV_PARITY_VOCAB", "VOCASEG_EOV_PARITY_OUT"]
    static var enabled: Bool { requiredVariables.allSatisfy { !(environment[$0] ?? "").isEmpty } }

    @Test(.enabled(if: EOVSegParityDump.enabled)) func dumpFullSizeStages() throws {
        let env = Self.environment
        let size = env["VOCASEG_EOV_PARITY_SIZE"] ?? "s"
        let threads = Int(env["VOCASEG_EOV_PARITY_THREADS"] ?? "") ?? 2
        let config: EOVSegConfig = try #require(["s": EOVSegConfig.small, "m": EOVSegConfig.medium,
                                                 "l": EOVSegConfig.large][size],
                                                "VOCASEG_EOV_PARITY_SIZE must be s, m or l, not \(size)")
        ParallelConfig.setThreads(threads)

        let vocabulary = try Self.vocabulary(path: env["VOCASEG_EOV_PARITY_VOCAB"]!)
        let image = try ERRSegParityDump.readPPM(path: env["VOCASEG_EOV_PARITY_IMAGE"]!)
        let tokenizer = try CLIPTokenizer(vocabularyPath: ERRSegGoldens.tokenizerPath)

        let loadStart = Date()
        let model = try EOVSegModel.load(checkpointPath: env["VOCASEG_EOV_PARITY_CHECKPOINT"]!, config: config,
                                         tokenizer: tokenizer)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let textStart = Date()
        model.textEmbeddingCache = nil
        try model.prepare(vocabulary: vocabulary)
        let textSeconds = Date().timeIntervalSince(textStart)
        let (classifier, guide) = try #require(model.currentClassifier)

        let frame = try model.preprocess(image)
        let resized = try #require(frame.payload as? EOVSegResizedSize)
        let input = Tensor(shape: [1, 3, frame.height, frame.width], data: frame.data)

        let outputs = [(env["VOCASEG_EOV_PARITY_OUT"]!, nil as EOVSegDecisions?)]
            + (try Self.decisions(env).map { [(env["VOCASEG_EOV_PARITY_DECIDED_OUT"]!, $0)] } ?? [])
        for (directory, decisions) in outputs {
            try Self.runAndDump(model: model, classifier: classifier, guide: guide, frame: frame, resized: resized,
                                input: input, config: config, decisions: decisions, directory: directory,
                                extra: ["producer": "swift EOVSegParityDump" + (decisions == nil ? "" : " (shared decisions)"),
                                        "size": size, "threads": threads, "image": env["VOCASEG_EOV_PARITY_IMAGE"]!,
                                        "load_seconds": loadSeconds, "text_seconds": textSeconds])
        }
        #expect(classifier.rows.shape[0] == classifier.synonymCounts.reduce(0, +) + 1)
        print("EOVSegParityDump: loaded in \(String(format: "%.1f", loadSeconds)) s, text encoded in "
              + "\(String(format: "%.1f", textSeconds)) s")
    }

    /// One forward (with `decisions` when given) and the post-processing, dumped under the reference's names.
    static func runAndDump(model: EOVSegModel, classifier: EOVSegTextClassifier, guide: Tensor,
                           frame: PreprocessedFrame, resized: EOVSegResizedSize, input: Tensor, config: EOVSegConfig,
                           decisions: EOVSegDecisions?, directory: String, extra: [String: Any]) throws {
        var timings: [String: Double] = [:]
        let forwardStart = Date()
        let r = model.forward(input: input, classifier: classifier, guide: guide, timings: &timings,
                              decisions: decisions)
        let forwardSeconds = Date().timeIntervalSince(forwardStart)
        let postStart = Date()
        let geometry = EOVSegFrameGeometry(paddedHeight: frame.height, paddedWidth: frame.width,
                                           resizedHeight: resized.resizedHeight, resizedWidth: resized.resizedWidth,
                                           originalHeight: frame.originalHeight, originalWidth: frame.originalWidth)
        let post = EOVSegPostprocess.run(logProbabilities: r.logProbabilities, masks: r.masks, geometry: geometry,
                                         isThing: classifier.isThing, objectMaskThreshold: config.objectMaskThreshold,
                                         overlapThreshold: config.overlapThreshold)
        let postSeconds = Date().timeIntervalSince(postStart)

        let dump = try TensorDumpWriter(directory: directory)
        func batched(_ x: Tensor) -> [Int] { [1] + x.shape }
        try dump.floats("input.tensor", input)
        try dump.floats("text.classifier", classifier.rows)
        try dump.ints("text.synonym_counts", classifier.synonymCounts.map { Int32($0) },
                      shape: [classifier.classCount])
        try dump.ints("seen", classifier.seen.map { $0 ? 1 : 0 }, shape: [classifier.classCount])
        try dump.ints("thing", classifier.isThing.map { $0 ? 1 : 0 }, shape: [classifier.classCount])
        for (i, level) in ["res2", "res3", "res4", "res5"].enumerated() {
            try dump.floats("backbone.\(level)", r.features[i])
        }
        try dump.floats("vit.out", r.spatial)
        try dump.floats("aggr.out", r.aggregated)
        try dump.floats("vas.guide", guide)
        try dump.floats("vas.gate", r.gate)
        try dump.floats("vas.out", r.gated)
        let d = r.decoder
        try dump.floats("decoder.upscaled", d.upscaledSpatial, shape: batched(d.upscaledSpatial))
        try dump.floats("decoder.mask0", d.initialMasks, shape: batched(d.initialMasks))
        for (i, stage) in d.stages.enumerated() {
            try dump.floats("decoder.stage\(i).kernels", stage.kernels, shape: batched(stage.kernels))
            try dump.floats("decoder.stage\(i).masks", stage.masks, shape: batched(stage.masks))
        }
        try dump.floats("decoder.stage\(d.stages.count - 1).cls", d.classLogits, shape: batched(d.classLogits))
        try dump.floats("clip.mask_small", r.clipMasks, shape: batched(r.clipMasks))
        try dump.floats("clip.pooled", r.clipPooled, shape: batched(r.clipPooled))
        try dump.floats("clip.logits", r.clipLogits, shape: batched(r.clipLogits))
        try dump.floats("ensemble.logp", r.logProbabilities)
        // The post-processing's own per-query class probabilities (softmax of logP, what the score and label of
        // panoptic inference come from); the reference's run --dump writes softmax(ensemble.logp) under this name.
        try dump.floats("ensemble.probs", EOVSegPostprocess.scores(logProbabilities: r.logProbabilities).probabilities)
        // post.masks: every query's mask logits at the original size, from the resampler the post-processing uses.
        let q = r.masks.shape[0], oh = frame.originalHeight, ow = frame.originalWidth
        let resampler = EOVSegMaskResampler(masks: r.masks, paddedHeight: frame.height, paddedWidth: frame.width,
                                            resizedHeight: resized.resizedHeight, resizedWidth: resized.resizedWidth,
                                            outHeight: oh, outWidth: ow)
        let postMasks = Tensor(uninitializedShape: [q, oh, ow])
        var scratch = [Float]()
        for qi in 0..<q { resampler.rows(query: qi, from: 0, to: oh, into: postMasks.data + qi * oh * ow, scratch: &scratch) }
        try dump.floats("post.masks", postMasks)
        try dump.ints("panoptic.ids", post.panoptic.segmentIds.map { Int32($0) }, shape: [oh, ow])
        try dump.ints("semantic.labels", post.labels.labels.map { Int32($0) }, shape: [oh, ow])
        let segments: [[String: Any]] = post.panoptic.segments.map {
            ["id": Int($0.id), "isthing": $0.isThing, "category_id": $0.classIndex]
        }
        try dump.finish(extra: extra.merging([
            "segments": segments,
            "resized_size": [resized.resizedHeight, resized.resizedWidth], "padded_size": [frame.height, frame.width],
            "forward_seconds": forwardSeconds,
            "postprocess_seconds": postSeconds, "timings": timings,
        ]) { $1 })
        print("EOVSegParityDump: \(dump.count) tensors in \(directory); T \(classifier.rows.shape[0]), "
              + "input \(frame.height)x\(frame.width); forward \(String(format: "%.1f", forwardSeconds)) s, "
              + "post-processing \(String(format: "%.2f", postSeconds)) s; \(segments.count) segments")
    }

    /// The reference dump's mask logits at every threshold (VOCASEG_EOV_PARITY_DECISIONS), or nil.
    static func decisions(_ env: [String: String]) throws -> EOVSegDecisions? {
        guard let path = env["VOCASEG_EOV_PARITY_DECISIONS"], !path.isEmpty else { return nil }
        try #require(!(env["VOCASEG_EOV_PARITY_DECIDED_OUT"] ?? "").isEmpty,
                     "VOCASEG_EOV_PARITY_DECISIONS needs VOCASEG_EOV_PARITY_DECIDED_OUT")
        let ref = GoldenFolder(directory: URL(fileURLWithPath: path))
        func unbatched(_ name: String) throws -> Tensor {
            let t = try ref.tensor(name)
            return t.reshaped(Array(t.shape.dropFirst()))
        }
        let stages = try ref.manifest().tensors.keys.filter { $0.hasPrefix("decoder.stage") && $0.hasSuffix(".masks") }.count
        try #require(stages > 0, "\(path): no decoder.stage*.masks")
        return EOVSegDecisions(stageInputs: try [unbatched("decoder.mask0")]
                                   + (0..<(stages - 1)).map { try unbatched("decoder.stage\($0).masks") },
                               classMasks: try unbatched("decoder.stage\(stages - 1).masks"),
                               clipMasks: try unbatched("clip.mask_small"))
    }

    /// The reference's JSON vocabulary: class strings (synonyms split as eovseg_ref/text.py does: `", "` → `","`,
    /// then on `","`) and thing flags.
    static func vocabulary(path: String) throws -> Vocabulary {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let names = doc["classes"] as? [String], let things = doc["thing"] as? [Bool], names.count == things.count
        else {
            throw VocaSegError(.input, "\(path): expected {\"classes\": [...], \"thing\": [...]} of equal length")
        }
        return try Vocabulary(classes: zip(names, things).map { name, thing in
            Vocabulary.Class(synonyms: name.replacingOccurrences(of: ", ", with: ",").components(separatedBy: ","),
                             isThing: thing)
        })
    }
}
