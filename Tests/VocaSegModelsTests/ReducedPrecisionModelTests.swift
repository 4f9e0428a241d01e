import Testing
import VocaSegCore
import VocaSegModels
import VocaSegTensor

/// `--precision bf16`'s wrapper: only the per-frame call runs under bf16, the vocabulary's text encoding does not,
/// and a CPU without the kernels gets the model back unwrapped with a notice.
@Suite struct ReducedPrecisionModelTests {
    /// Records the GEMM precision in force when each entry point runs.
    final class RecordingModel: SegmentationModel, @unchecked Sendable {
        var name: String { "recording" }
        var usesRandomWeights: Bool { true }
        var preparedAt: GEMMPrecision?, preprocessedAt: GEMMPrecision?, segmentedAt: GEMMPrecision?
        var settingsSummary: [String: any Sendable] { ["k": 3] }

        func prepare(vocabulary: Vocabulary) throws { preparedAt = KernelSettings.current.gemmPrecision }
        func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
            preprocessedAt = KernelSettings.current.gemmPrecision
            return PreprocessedFrame(channels: 3, width: frame.width, height: frame.height,
                                     data: [Float](repeating: 0, count: 3 * frame.width * frame.height),
                                     originalWidth: frame.width, originalHeight: frame.height)
        }
        func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
            segmentedAt = KernelSettings.current.gemmPrecision
            return SegmentationResult(labels: LabelMap(width: input.width, height: input.height,
                                                       labels: [UInt16](repeating: 0, count: input.width * input.height)))
        }
    }

    @Test func onlyTheFrameRunsInBF16() throws {
        let inner = RecordingModel()
        let (model, bf16) = ReducedPrecisionModel.wrap(inner, kernelsAvailable: true)
        #expect(bf16 && model !== inner)
        try model.prepare(vocabulary: try Vocabulary(classes: [.init(synonyms: ["a"])]))
        var state: FrameState?
        let input = try model.preprocess(RGBImage(width: 2, height: 2))
        _ = try model.segment(input, state: &state)
        #expect(inner.preparedAt == .fp32 && inner.preprocessedAt == .fp32 && inner.segmentedAt == .bf16)
        #expect(KernelSettings.current.gemmPrecision == .fp32, "the scope ends with the call")
        #expect(model.settingsSummary["precision"] as? String == "bf16" && model.settingsSummary["k"] as? Int == 3)
        #expect(ReducedPrecisionModel.unavailableNotice(kernelsAvailable: true) == nil)
    }

    @Test func withoutTheKernelsTheModelComesBackUnwrappedWithANotice() throws {
        let inner = RecordingModel()
        let (model, bf16) = ReducedPrecisionModel.wrap(inner, kernelsAvailable: false)
        #expect(!bf16 && model === inner)
        let notice = try #require(ReducedPrecisionModel.unavailableNotice(kernelsAvailable: false))
        #expect(notice.contains("AVX512_BF16") && notice.contains("fp32") && !notice.contains("\n"))
    }
}
