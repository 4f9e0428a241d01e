import Foundation
import VocaSegCore
import VocaSegTensor

/// Runs a model's per-frame work with bf16 matrix products (`--precision bf16`) and everything else as the model
/// has it.
///
/// Only `segment` is scoped: `prepare(vocabulary:)` stays fp32, so the text embeddings (and the on-disk cache
/// they go to) are the same whichever precision the frames run at, and preprocessing has no products. Inside the
/// scope, `BLAS.sgemm` rounds the inputs of large products to bfloat16 and accumulates in fp32; normalisations,
/// softmax, sigmoid, resizes and the small products stay fp32.
public final class ReducedPrecisionModel: SegmentationModel, ComputeCostReporting, @unchecked Sendable {
    public let model: SegmentationModel

    /// Wraps `model` when the CPU can run bf16 products; otherwise returns `model` itself (fp32 is always
    /// correct, only slower), and `unavailableNotice` is what to tell the user. `kernelsAvailable` is the CPU check;
    /// tests pass false to see the fallback on a CPU that has the instructions.
    public static func wrap(_ model: SegmentationModel, kernelsAvailable: Bool = BLAS.bf16Available)
        -> (model: SegmentationModel, bf16: Bool) {
        kernelsAvailable ? (ReducedPrecisionModel(model), true) : (model, false)
    }

    /// The one-line notice for `--precision bf16` on a CPU without the kernels; nil where they run.
    public static func unavailableNotice(kernelsAvailable: Bool = BLAS.bf16Available) -> String? {
        kernelsAvailable ? nil
            : "--precision bf16: this CPU has no AVX512_BF16 (or the OS does not enable AVX-512 state), so every product runs in fp32"
    }

    init(_ model: SegmentationModel) { self.model = model }

    public var name: String { model.name }
    public var usesRandomWeights: Bool { model.usesRandomWeights }
    public var isPanoptic: Bool { model.isPanoptic }
    public var settingsSummary: [String: any Sendable] {
        var summary = model.settingsSummary
        summary["precision"] = GEMMPrecision.bf16.rawValue
        return summary
    }

    public func prepare(vocabulary: Vocabulary) throws { try model.prepare(vocabulary: vocabulary) }
    public func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame { try model.preprocess(frame) }

    public func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        var settings = KernelSettings.current
        settings.gemmPrecision = .bf16
        return try KernelSettings.with(settings) { try model.segment(input, state: &state) }
    }

    // The wrapped model's cost figures: the multiply-adds are the same at either precision.
    public func multiplyAccumulatesPerFrame() -> [String: Double] {
        (model as? ComputeCostReporting)?.multiplyAccumulatesPerFrame() ?? [:]
    }
    public func classCountsPerStage() -> [Int]? { (model as? ComputeCostReporting)?.classCountsPerStage() }
}
