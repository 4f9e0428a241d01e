import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The Swift half of the full-size parity check (Scripts/parity/errseg.sh): loads a real-layout checkpoint through
/// the production loader, preprocesses one image the official way (short edge 800 / max 1333, squash), runs the
/// whole network once and dumps every stage under the names the PyTorch reference uses (`errseg.py run --dump`),
/// in the same layout (manifest.json + raw little-endian <name>.bin), so that Scripts/parity/compare_dumps.py reads
/// both. Opt-in: it needs a ~750 MB checkpoint and minutes of CPU, so it is skipped unless all of
///
///     VOCASEG_PARITY_CHECKPOINT  .pth in the official key layout (e.g. errseg.py write-checkpoint --size b)
///     VOCASEG_PARITY_IMAGE       binary PPM (P6): the decoded RGB pixels, written by the script with Pillow so
///                                that both sides start from byte-identical pixels (this target links no decoder)
///     VOCASEG_PARITY_VOCAB       JSON list of class names (../shared/data/vocab/ade150.json)
///     VOCASEG_PARITY_OUT         output directory
///
/// are set. Optional: VOCASEG_PARITY_SIZE (b | l, default b), VOCASEG_PARITY_K (default 32),
/// VOCASEG_PARITY_THREADS (default 2).
@Suite struct ERRSegParityDump {
    static let environment = ProcessInfo.processInfo.environment
    static let requiredVariables = ["VOCASEG_PARITY_CHECKPOINT", "VOCASEG_PARITY_IMAGE", "VOCASEG_PARITY_VOCAB",
                                    "VOCASEG_PARITY_OUT"]
    static var enabled: Bool { requiredVariables.allSatisfy { !(environment[$0] ?? "").isEmpty } }

    @Test(.enabled(if: ERRSegParityDump.enabled)) func dumpFullSizeStages() throws {
        let env = Self.environment
        let size = env["VOCASEG_PARITY_SIZE"] ?? "b"
        let k = Int(env["VOCASEG_PARITY_K"] ?? "") ?? 32
        let threads = Int(env["VOCASEG_PARITY_THREADS"] ?? "") ?? 2
        let config: ERRSegConfig = try #require(["b": ERRSegConfig.base, "l": ERRSegConfig.large][size],
                                                "VOCASEG_PARITY_SIZE must be b or l, not \(size)")
        ParallelConfig.setThreads(threads)

        let names = try Self.classNames(path: env["VOCASEG_PARITY_VOCAB"]!)
        // As the reference (errseg_ref/tokens.py): only the first synonym of "a, b, c" is prompted.
        let vocabulary = try Vocabulary(classes: names.map { Vocabulary.Class(synonyms: $0.components(separatedBy: ", ")) })
        let image = try Self.readPPM(path: env["VOCASEG_PARITY_IMAGE"]!)

        let tokenizer = try CLIPTokenizer(vocabularyPath: ERRSegGoldens.tokenizerPath)
        let loadStart = Date()
        let model = try ERRSegModel.load(checkpointPath: env["VOCASEG_PARITY_CHECKPOINT"]!, config: config,
                                         tokenizer: tokenizer,
                                         options: ERRSegOptions(classesKept: k, resizeMode: .official))
        let loadSeconds = Date().timeIntervalSince(loadStart)

        let tokens = vocabulary.classes.map { tokenizer.tokenize(model.prompt(for: $0), contextLength: config.contextLength) }
        let text = try model.textEmbeddings(tokens: tokens)
        let p = try model.preprocess(image)
        let s = config.imageSize
        try #require(p.width == s && p.height == s && p.channels == 3)
        let input = Tensor(shape: [3, s, s], data: p.data)

        var timings: [String: Double] = [:]
        let forwardStart = Date()
        let r = model.forward(input: input, textEmbeddings: text, keepIntermediates: true, timings: &timings)
        let forwardSeconds = Date().timeIntervalSince(forwardStart)
        let labels = SigmoidLabelMap.labelMap(logits: r.logitsSelected, selected: r.selected,
                                                   outHeight: p.originalHeight, outWidth: p.originalWidth)

        let t = names.count, kept = r.selected.count, h = r.height, w = r.width
        let v = r.visual
        let dump = try TensorDumpWriter(directory: env["VOCASEG_PARITY_OUT"]!)
        func nchw(_ x: Tensor) -> Tensor {
            ChannelsLast.toNCHW(x, batch: kept, height: h, width: w, channels: x.shape[x.rank - 1])
        }
        try dump.ints("tokens", tokens.flatMap { $0 }, shape: [t, config.contextLength])
        try dump.floats("input", input, shape: [1, 3, s, s])
        for (name, map) in [("os4", v.os4), ("os8", v.os8), ("os16", v.os16), ("os32", v.os32)] {
            try dump.floats("trunk_features.\(name)", map.nchw())
        }
        try dump.floats("hsm_modified_downsample", v.hsmModifiedDownsample.nchw())
        try dump.floats("dense_embed.os16_dense", v.os16Dense.nchw())
        try dump.floats("dense_embed.clip_vis_dense", v.clipVisDense.nchw())
        try dump.floats("text_embed", text, shape: [t, config.embedDim])
        try dump.floats("cost.corr16", r.cost16, shape: [1, 1, t, h, w])
        try dump.floats("cost.corr32", r.cost32, shape: [1, 1, t, v.clipVisDense.height, v.clipVisDense.width])
        let scores = try #require(r.crmScores, "the forward pass reused a selection instead of running the CRM")
        try dump.floats("crm_scores", Tensor(shape: [t], data: scores))
        try dump.ints("selected_classes", r.selected.map { Int32($0) }, shape: [kept])
        try dump.floats("cost_embed", nchw(r.costEmbedding))
        try dump.floats("guidance.gimg", ChannelsLast.toNCHW(r.gimg, batch: 1, height: h, width: w,
                                                              channels: r.gimg.shape[r.gimg.rank - 1]))
        for (i, g) in r.gdec.enumerated() {
            try dump.floats("guidance.gdec\(i + 1)", g, shape: g.rank == 4 ? g.shape : [1] + g.shape)
        }
        try dump.floats("guidance.gtxt", r.gtxt, shape: [1, kept, r.gtxt.shape[r.gtxt.rank - 1]])
        for i in r.sfmOut.indices {
            try dump.floats("sfm_out.\(i)", nchw(r.sfmOut[i]))
            try dump.floats("escf_out.\(i)", nchw(r.escfOut[i]))
        }
        for (i, g) in r.gudOut.enumerated() { try dump.floats("gud_out.\(i)", g) }
        let lh = r.logitsSelected.shape[r.logitsSelected.rank - 2], lw = r.logitsSelected.shape[r.logitsSelected.rank - 1]
        try dump.floats("logits_selected", r.logitsSelected, shape: [1, kept, lh, lw])
        // The reference scatters the K maps over all T classes with −100 elsewhere, then takes the sigmoid.
        var full = [Float](repeating: -100, count: t * lh * lw)
        let selectedLogits = r.logitsSelected.toArray()
        for (row, cls) in r.selected.enumerated() {
            full.replaceSubrange(cls * lh * lw..<(cls + 1) * lh * lw,
                                 with: selectedLogits[row * lh * lw..<(row + 1) * lh * lw])
        }
        let logits = Tensor(shape: [1, t, lh, lw], data: full)
        try dump.floats("logits", logits)
        try dump.floats("probs", Ops.sigmoid(logits))
        try dump.ints("label_map", labels.labels.map { Int32($0) }, shape: [labels.height, labels.width])
        try dump.finish(extra: [
            "producer": "swift ERRSegParityDump", "size": size, "t": t, "k": k, "threads": threads,
            "image": env["VOCASEG_PARITY_IMAGE"]!, "original_hw": [p.originalHeight, p.originalWidth],
            "load_seconds": loadSeconds, "forward_seconds": forwardSeconds, "timings": timings,
        ])
        #expect(kept == min(k, t))
        #expect(labels.width == image.width && labels.height == image.height)
        print("ERRSegParityDump: \(dump.count) tensors in \(env["VOCASEG_PARITY_OUT"]!); load \(String(format: "%.1f", loadSeconds)) s, forward \(String(format: "%.1f", forwardSeconds)) s; selected \(r.selected)")
    }

    static func classNames(path: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let names = try? JSONDecoder().decode([String].self, from: data), !names.isEmpty else {
            throw VocaSegError(.input, "\(path): expected a non-empty JSON list of class-name strings")
        }
        return names
    }

    /// Binary PPM (P6, maxval 255): header tokens separated by whitespace, `#` comments, one whitespace byte, pixels.
    static func readPPM(path: String) throws -> RGBImage {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var i = 0
        func token() -> String {
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "#") {
                    while i < bytes.count, bytes[i] != 10 { i += 1 }
                } else if [9, 10, 13, 32].contains(bytes[i]) {
                    i += 1
                } else { break }
            }
            let start = i
            while i < bytes.count, ![9, 10, 13, 32].contains(bytes[i]) { i += 1 }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
        let magic = token()
        guard magic == "P6", let w = Int(token()), let h = Int(token()), token() == "255", w > 0, h > 0,
              bytes.count - (i + 1) == w * h * 3 else {
            throw VocaSegError(.input, "\(path): not a binary PPM (P6, maxval 255) with matching pixel data")
        }
        return RGBImage(width: w, height: h, pixels: Array(bytes[(i + 1)...]))
    }
}

/// Writes named tensors as the reference's errseg_ref/dump.py does: <name>.bin (raw little-endian float32 / int32,
/// row-major) plus manifest.json mapping name → {shape, dtype, file}. (No sha256: Foundation on Linux has no
/// digest API and the comparison does not need it.)
final class TensorDumpWriter {
    let directory: URL
    private var entries: [String: [String: Any]] = [:]
    var count: Int { entries.count }

    init(directory: String) throws {
        self.directory = URL(fileURLWithPath: directory)
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    func floats(_ name: String, _ tensor: Tensor, shape: [Int]? = nil) throws {
        let values = tensor.toArray()
        let shape = shape ?? tensor.shape
        try #require(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        try write(name, values.withUnsafeBytes { Data($0) }, shape: shape, dtype: "float32")
    }

    func ints(_ name: String, _ values: [Int32], shape: [Int]) throws {
        try #require(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        try write(name, values.withUnsafeBytes { Data($0) }, shape: shape, dtype: "int32")
    }

    private func write(_ name: String, _ data: Data, shape: [Int], dtype: String) throws {
        let file = "\(name).bin"
        // The in-memory layout is little-endian on every platform Swift runs this package on (x86-64, arm64).
        try data.write(to: directory.appendingPathComponent(file))
        entries[name] = ["shape": shape, "dtype": dtype, "file": file]
    }

    func finish(extra: [String: Any]) throws {
        var doc = extra
        doc["tensors"] = entries
        let json = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: directory.appendingPathComponent("manifest.json"))
    }
}
