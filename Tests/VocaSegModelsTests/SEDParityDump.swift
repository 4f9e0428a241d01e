import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The Swift half of the full-size SED parity check (Scripts/parity/sed.sh): loads a real-layout checkpoint through
/// the production loader, encodes the vocabulary with the 80-template ensemble, preprocesses one image as the
/// official test mapper, runs the network and dumps every stage under the reference's names (`sed.py run --dump`),
/// so that Scripts/parity/compare_dumps.py --model sed reads both. Opt-in (a ~1 GB checkpoint and minutes of CPU):
/// skipped unless all of
///
///     VOCASEG_SED_PARITY_CHECKPOINT  .pth in the official key layout (sed.py write-checkpoint --size b|l)
///     VOCASEG_SED_PARITY_IMAGE       binary PPM (P6), written by the script with Pillow
///     VOCASEG_SED_PARITY_VOCAB       the vocabulary JSON {"classes": [...]} the reference reads
///     VOCASEG_SED_PARITY_OUT         output directory
///
/// are set. Optional: VOCASEG_SED_PARITY_SIZE (b | l, default b), VOCASEG_SED_PARITY_CER_K (empty: CER off),
/// VOCASEG_SED_PARITY_THREADS (default 2).
@Suite struct SEDParityDump {
    static let environment = ProcessInfo.processInfo.environment
    static let requiredVariables = ["VOCASEG_SED_PARITY_CHECKPOINT", "VOCASEG_SED_PARITY_IMAGE",
                                    "VOCASEG_SED_PARITY_VOCAB", "VOCASEG_SED_PARITY_OUT"]
    static var enabled: Bool { requiredVariables.allSatisfy { !(environment[$0] ?? "").isEmpty } }

    @Test(.enabled(if: SEDParityDump.enabled)) func dumpFullSizeStages() throws {
        let env = Self.environment
        let size = env["VOCASEG_SED_PARITY_SIZE"] ?? "b"
        let cerK = Int(env["VOCASEG_SED_PARITY_CER_K"] ?? "")
        let threads = Int(env["VOCASEG_SED_PARITY_THREADS"] ?? "") ?? 2
        let config: SEDConfig = try #require(["b": SEDConfig.base, "l": SEDConfig.large][size],
                                             "VOCASEG_SED_PARITY_SIZE must be b or l, not \(size)")
        ParallelConfig.setThreads(threads)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: env["VOCASEG_SED_PARITY_VOCAB"]!)))
        let names = try #require((object as? [String: Any])?["classes"] as? [String], "the vocabulary JSON has no classes")
        // As the official `class_embeddings`: a name is split into synonyms at ", ".
        let vocabulary = try Vocabulary(classes: names.map { Vocabulary.Class(synonyms: $0.components(separatedBy: ", ")) })
        let image = try ERRSegParityDump.readPPM(path: env["VOCASEG_SED_PARITY_IMAGE"]!)
        let tokenizer = try CLIPTokenizer(vocabularyPath: ERRSegGoldens.tokenizerPath)
        let loadStart = Date()
        let model = try SEDModel(config: config, weights: try WeightLoader(path: env["VOCASEG_SED_PARITY_CHECKPOINT"]!),
                                 tokenizer: tokenizer, options: SEDOptions(cerK: cerK))
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let textStart = Date()
        try model.prepare(vocabulary: vocabulary)
        let textSeconds = Date().timeIntervalSince(textStart)
        let bank = try #require(model.currentText.bank)
        let p = try model.preprocess(image)
        let s = config.imageSize
        let input = Tensor(shape: [3, s, s], data: p.data)
        var timings: [String: Double] = [:]
        let forwardStart = Date()
        let r = model.forward(input: input, textBank: bank, keepIntermediates: true, timings: &timings)
        let forwardSeconds = Date().timeIntervalSince(forwardStart)
        var state: FrameState?
        let labels = try model.segment(p, state: &state).labels

        let t = names.count, pt = config.templateCount, e = config.embedDim
        let h = r.features[3].height, w = r.features[3].width
        let dump = try TensorDumpWriter(directory: env["VOCASEG_SED_PARITY_OUT"]!)
        func nchw(_ x: Tensor, _ side: Int) -> Tensor {
            let n = x.shape[0]
            return ChannelsLast.toNCHW(x.contiguous(), batch: n, height: side, width: side, channels: x.count / (n * side * side))
        }
        try dump.floats("input", input, shape: [1, 3, s, s])
        for (i, name) in ["res2", "res3", "res4", "res5"].enumerated() { try dump.floats(name, r.features[i].nchw()) }
        try dump.floats("dense", nchw(r.dense.reshaped([1, h * w, e]), h))
        try dump.floats("text", bank, shape: [t, pt, e])
        try dump.floats("corr", nchw(try #require(r.cost), h))
        try dump.floats("corr_embed", nchw(try #require(r.costEmbedding), h))
        let prefix = cerK == nil ? "" : "cer."
        if cerK != nil {
            try dump.floats("head0", r.auxLogits[0], shape: [t, h, w])
            for i in 0..<3 { try dump.ints("cer.survivors\(i + 1)", r.survivors[i].map { Int32($0) }, shape: [r.survivors[i].count]) }
            try dump.floats("cer.head1", r.auxLogits[1], shape: [r.survivors[0].count, 2 * h, 2 * w])
            try dump.floats("cer.head2", r.auxLogits[2], shape: [r.survivors[1].count, 4 * h, 4 * w])
        } else {
            for i in 0..<3 {
                try dump.floats("corr_guidance.\(i)", r.corrGuidance[i])
                try dump.floats("app_guidance.\(i)", r.appearanceGuidance[i])
                try dump.floats("decoder\(i + 1)", nchw(r.stageOutputs[i], h << (i + 1)))
            }
            try dump.floats("decoder1.attn", nchw(r.mixed[0], h))
            try dump.floats("logits", r.logits)
        }
        let probs = Ops.scatterSlices(Ops.sigmoid(r.logits), dim: 0, indices: r.survivors[2], size: t, fill: 0)
        try dump.floats(prefix + "probs", probs)
        if cerK != nil { try dump.floats("cer.logits", r.logits) }
        // sem_seg_postprocess: the probabilities resized straight to the photo's size.
        let output = Ops.interpolateBilinear(probs.reshaped([1] + probs.shape), size: (image.height, image.width),
                                             alignCorners: false)
        try dump.floats(prefix + "output", output, shape: [t, image.height, image.width])
        try dump.ints(prefix + "labels", labels.labels.map { Int32($0) }, shape: [labels.height, labels.width])
        try dump.finish(extra: [
            "producer": "swift SEDParityDump", "size": size, "t": t, "cer_k": cerK ?? 0, "threads": threads,
            "load_seconds": loadSeconds, "text_seconds": textSeconds, "forward_seconds": forwardSeconds,
            "timings": timings,
        ])
        print("SEDParityDump: \(dump.count) tensors; load \(String(format: "%.1f", loadSeconds)) s, text \(String(format: "%.1f", textSeconds)) s, forward \(String(format: "%.1f", forwardSeconds)) s; survivors \(r.survivors.map(\.count))")
    }
}
