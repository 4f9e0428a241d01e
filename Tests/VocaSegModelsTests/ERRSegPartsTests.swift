import Foundation
import Testing
import VocaSegCheckpoint
import VocaSegCore
import VocaSegTensor
import VocaSegTestSupport
@testable import VocaSegModels

/// Pieces of the ERR-Seg port against PyTorch/Pillow values (Goldens/errseg_tiny from make_errseg_goldens.py,
/// Goldens/errseg_swift from errseg_swift_goldens.py), plus the weight loader's error reporting and CRM reuse.
@Suite struct ERRSegPartsTests {
    static func swiftGolden(_ name: String) throws -> [Float] {
        try ERRSegGoldens.floats(ERRSegGoldens.swiftDirectory.appendingPathComponent(name))
    }

    /// The procedural image of errseg_swift_goldens.py.
    static func syntheticImage(width: Int, height: Int) -> RGBImage {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                p[i] = UInt8(x * 255 / (width - 1))
                p[i + 1] = UInt8(y * 255 / (height - 1))
                p[i + 2] = ((x / 37) + (y / 23)) % 2 == 0 ? 40 : 220
            }
        }
        return RGBImage(width: width, height: height, pixels: p)
    }

    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).reduce(0) { max($0, ERRSegGoldens.elementDifference($1.0, $1.1)) }
    }

    @Test func preprocessingOfALargeFrameMatchesPillowAndTorch() throws {
        let config = try ERRSegGoldens.config()
        let frame = Self.syntheticImage(width: 1500, height: 700)
        let official = ERRSegPreprocessing.run(frame, config: config, official: true)
        let direct = ERRSegPreprocessing.run(frame, config: config, official: false)
        #expect(official.originalWidth == 1500 && official.originalHeight == 700)
        #expect(official.thumbnail?.count == 256)
        let d1 = Self.maxDiff(official.data, try Self.swiftGolden("synthetic_official.bin"))
        let d2 = Self.maxDiff(direct.data, try Self.swiftGolden("synthetic_direct.bin"))
        #expect(d1 <= 1e-5, "official preprocessing: max |Δ| = \(d1)")
        #expect(d2 <= 1e-5, "direct preprocessing: max |Δ| = \(d2)")
        #expect(Self.maxDiff(official.data, direct.data) > 1e-3, "the two modes should differ on this image")
    }

    @Test func crmBreaksTiesAsTheReference() throws {
        let corr = try ERRSegGoldens.tensor("crm_ties.corr16").reshaped([6, 6])
        let scores = ClassReduction.scores(cost: corr, top: 3, rankWeights: [1, 0.1, 0.01])
        #expect(scores == (try ERRSegGoldens.tensor("crm_ties.scores").toArray()))
        #expect(ClassReduction.select(scores: scores, k: 2) == (try ERRSegGoldens.intValues("crm_ties.selected_k2")))
        #expect(ClassReduction.select(scores: scores, k: 4) == (try ERRSegGoldens.intValues("crm_ties.selected_k4")))
        #expect(ClassReduction.select(scores: scores, k: 9) == [0, 1, 2, 3, 4, 5])
    }

    @Test func mlpVisualHeadMatchesTheReference() throws {
        var config = try ERRSegGoldens.config()
        config.visualHead = .mlp
        let loader = try ERRSegWeights.checkpoint(
            path: ERRSegGoldens.swiftDirectory.appendingPathComponent("visual_mlp.pth").path)
        let visual = ERRSegVisual(config: config, weights: loader.scope("sem_seg_head.clip_model.visual"))
        try loader.finish()
        let input = Tensor(shape: [3, 64, 64], data: try Self.swiftGolden("visual_mlp.input.bin"))
        let v = visual.forward(input, pool: BufferPool())
        let d16 = Self.maxDiff(v.os16Dense.nchw().toArray(), try Self.swiftGolden("visual_mlp.os16_dense.bin"))
        let d32 = Self.maxDiff(v.clipVisDense.nchw().toArray(), try Self.swiftGolden("visual_mlp.clip_vis_dense.bin"))
        #expect(d16 <= 1e-4 && d32 <= 1e-4, "MLP head: max |Δ| \(d16) / \(d32)")
    }

    @Test func weightProblemsAreReportedTogether() throws {
        let config = try ERRSegGoldens.config()
        let checkpoint = try CheckpointFile.open(
            path: ERRSegGoldens.tinyDirectory.appendingPathComponent("errseg_tiny.pth").path)
        let dropped = "sem_seg_head.decoder.head.bias"
        let reshaped = "sem_seg_head.decoder.low_img_fusion.bias"
        let inner = WeightLoader(checkpoint: checkpoint)
        let loader = WeightLoader(source: checkpoint.path, availableKeys: checkpoint.names + ["sem_seg_head.extra"]) { key, shape in
            if key == dropped { return nil }
            if key == reshaped { return Tensor(zeros: [shape[0] + 1]) }
            return inner.tensor(key, shape: shape)
        }
        do {
            _ = try ERRSegModel(config: config, weights: loader, tokenizer: nil)
            Issue.record("a model with missing weights was built")
        } catch let error as VocaSegError {
            #expect(error.kind == .model)
            #expect(error.path == checkpoint.path)
            // A key that was asked for counts as missing only, never also as unexpected.
            #expect(error.message.contains("1 missing (\(dropped) [1])"), "\(error.message)")
            #expect(error.message.contains("1 shape mismatches (\(reshaped): model"), "\(error.message)")
            #expect(error.message.contains("1 unexpected (sem_seg_head.extra)"), "\(error.message)")
            #expect(error.message.contains("3 problem(s)"), "\(error.message)")
        }
    }

    @Test func randomWeightsAreSeededAndNonDegenerate() throws {
        let config = try ERRSegGoldens.config()
        let a = try ERRSegModel.random(config: config, seed: 7, tokenizer: nil)
        let b = try ERRSegModel.random(config: config, seed: 7, tokenizer: nil)
        let c = try ERRSegModel.random(config: config, seed: 8, tokenizer: nil)
        #expect(a.usesRandomWeights)
        let input = try ERRSegGoldens.tensor("input").reshaped([3, 128, 128])
        let text = try ERRSegGoldens.tensor("text_embed").reshaped([8, 32])
        var timings: [String: Double] = [:]
        let ra = a.forward(input: input, textEmbeddings: text, timings: &timings).logitsSelected.toArray()
        let rb = b.forward(input: input, textEmbeddings: text, timings: &timings).logitsSelected.toArray()
        let rc = c.forward(input: input, textEmbeddings: text, timings: &timings).logitsSelected.toArray()
        // Same seed, same weights: the outputs agree up to summation order (OpenBLAS's results can differ in the
        // last bits with its thread count, which other tests running in parallel change).
        let same = closeness(ra, rb, atol: 1e-5, rtol: 1e-5, label: "seed 7 twice")
        #expect(same.passed, "\(same)")
        #expect(zip(ra, rc).map { abs($0 - $1) }.max()! > 1e-2, "seeds 7 and 8 give the same logits")
        let mean = ra.reduce(0, +) / Float(ra.count)
        let spread = ra.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(ra.count)
        #expect(ra.allSatisfy(\.isFinite) && spread > 1e-4, "random-weight logits are degenerate (variance \(spread))")
    }

    @Test func crmSelectionIsReusedForRefreshFrames() throws {
        let config = try ERRSegGoldens.config()
        let model = try ERRSegModel.load(
            checkpointPath: ERRSegGoldens.tinyDirectory.appendingPathComponent("errseg_tiny.pth").path,
            config: config, tokenizer: nil, options: ERRSegOptions(crmRefresh: 3, sceneCutThreshold: 10))
        model.setTextEmbeddings(try ERRSegGoldens.tensor("text_embed").reshaped([8, 32]))
        let frame = try ERRSegTinyTests.goldenImage()
        let input = try model.preprocess(frame)
        var state: FrameState?
        let golden = try ERRSegGoldens.intValues("selected_classes")
        _ = try model.segment(input, state: &state)
        // A stale selection planted in the state is reused for the next refresh − 1 frames, then replaced.
        var planted = try #require(state as? ERRSegFrameState)
        planted.selectedClasses = [2, 5, 6, 7]
        state = planted
        let r1 = try model.segment(input, state: &state)
        #expect(r1.selectedClasses == [2, 5, 6, 7])
        let r2 = try model.segment(input, state: &state)
        #expect(r2.selectedClasses == [2, 5, 6, 7])
        let r3 = try model.segment(input, state: &state)
        #expect(r3.selectedClasses == golden)
        // A scene cut (very different thumbnail) forces a new selection at once.
        planted = try #require(state as? ERRSegFrameState)
        planted.selectedClasses = [2, 5, 6, 7]
        state = planted
        var cut = input
        cut.thumbnail = cut.thumbnail?.map { 255 &- $0 }
        let r4 = try model.segment(cut, state: &state)
        #expect(r4.selectedClasses == golden)
        // New text embeddings (a new vocabulary of the same size) invalidate the selection too.
        planted = try #require(state as? ERRSegFrameState)
        planted.selectedClasses = [2, 5, 6, 7]
        state = planted
        model.setTextEmbeddings(try ERRSegGoldens.tensor("text_embed").reshaped([8, 32]))
        let r5 = try model.segment(input, state: &state)
        #expect(r5.selectedClasses == golden)
    }

    @Test func tiledPostprocessingEqualsFullInterpolationAndArgmax() throws {
        // Random logits for K = 5 classes picked from a vocabulary of 12, resized to an odd size.
        var rng = SplitMix64(seed: 11)
        let k = 5, h = 20, w = 24, oh = 97, ow = 131
        let logits = Tensor(shape: [k, h, w], data: (0..<(k * h * w)).map { _ in rng.nextUnitFloat() * 8 - 4 })
        let selected = [1, 3, 4, 8, 11]
        let map = SigmoidLabelMap.labelMap(logits: logits, selected: selected, outHeight: oh, outWidth: ow)
        // Reference path with the engine's (PyTorch-checked) ops: sigmoid → full bilinear → argmax.
        let probs = Ops.interpolateBilinear(Ops.sigmoid(logits).reshaped([1, k, h, w]), size: (oh, ow), alignCorners: false)
        let arg = Ops.argmax(probs.reshaped([k, oh, ow]), dim: 0)
        #expect(map.labels == arg.map { UInt16(selected[$0]) })
    }
}

/// The golden helpers must not let a NaN through (`max(d, NaN)` returns d, which hid broken kernels before).
@Suite struct GoldenComparisonTests {
    @Test func aNaNOrInfinityOnOneSideFails() {
        let golden = Tensor(shape: [3], data: [1, 2, 3])
        #expect(ERRSegGoldens.difference(Tensor(shape: [3], data: [1, .nan, 3]), golden).maxAbs == .infinity)
        #expect(ERRSegGoldens.difference(Tensor(shape: [3], data: [1, 2, .infinity]), golden).maxAbs == .infinity)
        #expect(ERRSegGoldens.difference(golden, Tensor(shape: [3], data: [.nan, 2, 3])).maxAbs == .infinity)
        #expect(ERRSegPartsTests.maxDiff([0, .nan], [0, 1]) == .infinity)
    }

    @Test func nanWhereTheReferenceHasNaNPasses() {
        let golden = Tensor(shape: [2], data: [.nan, 2])
        let d = ERRSegGoldens.difference(Tensor(shape: [2], data: [.nan, 2.5]), golden)
        #expect(d.maxAbs == 0.5 && d.scale == 2)
    }
}
