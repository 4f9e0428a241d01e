import Foundation
import VocaSegTensor

/// What the decoder gives: the last stage's class logits and mask logits, plus every stage's kernels and masks and
/// the initial masks (for tests against the reference).
struct LightweightDecoderOutput {
    /// `cls_2` [Q, K+1], void last.
    var classLogits: Tensor
    /// `Mq` = M'_last [Q, H/4, W/4].
    var masks: Tensor
    /// M0 = K0·F [Q, H/4, W/4].
    var initialMasks: Tensor
    /// Per stage: K' [Q, C] and M' [Q, H/4, W/4].
    var stages: [(kernels: Tensor, masks: Tensor)]
    /// Vu [vitWidth, H/4, W/4].
    var upscaledSpatial: Tensor
}

/// EOV-Seg's head, `light_weight_decoder` (spec §2.5–§2.6): VAS, the learned object kernels, the ViT feature
/// upscaling and `numStages` CrossAttenHeads.
struct LightweightDecoder {
    /// State-dict keys the head does not use: a training-only buffer of the criterion.
    static let ignoredKeys = ["light_weight_decoder.criterion.empty_weight"]

    let vas: VocabularyAwareSelection
    /// `object_kernels.weight` [Q, C].
    let objectKernels: Tensor
    let up0Weight: Tensor, up0Bias: Tensor
    let upNorm: Tensor, upNormBias: Tensor
    let up3Weight: Tensor, up3Bias: Tensor
    let stages: [LightweightDecoderHead]
    let hidden: Int

    /// `w` is the `light_weight_decoder` scope.
    init(_ w: WeightScope, config c: EOVSegConfig) {
        hidden = c.hiddenDim
        vas = VocabularyAwareSelection(w.scope("vas"), hiddenDim: c.hiddenDim, embedDim: c.embedDim)
        objectKernels = w.tensor("object_kernels.weight", [c.numQueries, c.hiddenDim])
        let v = c.vitWidth
        let u = w.scope("output_upscaling")
        up0Weight = u.tensor("0.weight", [v, v, 2, 2])
        up0Bias = u.tensor("0.bias", [v])
        upNorm = u.tensor("1.weight", [v])
        upNormBias = u.tensor("1.bias", [v])
        up3Weight = u.tensor("3.weight", [v, v, 2, 2])
        up3Bias = u.tensor("3.bias", [v])
        stages = (0..<c.numStages).map {
            LightweightDecoderHead(w.scope("mask_heads.\($0)"), hidden: c.hiddenDim, heads: c.queryHeads,
                                   taps: c.dynamicKernel, ffnDim: c.ffnDim, vitWidth: c.vitWidth, embedDim: c.embedDim)
        }
        w.ignore("criterion.empty_weight", reason: "criterion class weights (training only)")
    }

    /// `output_upscaling`: V [1, vitWidth, H/16, W/16] → ConvT 2×2 s2 → LayerNorm2d (eps 1e-6) → GELU → ConvT 2×2 s2
    /// → GELU: Vu [1, vitWidth, H/4, W/4].
    func upscale(_ v: Tensor) -> Tensor {
        let a = Ops.convTranspose2d(v, weight: up0Weight, bias: up0Bias, stride: 2)
        let n = Ops.layerNorm2d(a, weight: upNorm, bias: upNormBias, eps: 1e-6)
        Ops.activateInPlace(n, .gelu)
        let b = Ops.convTranspose2d(n, weight: up3Weight, bias: up3Bias, stride: 2)
        Ops.activateInPlace(b, .gelu)
        return b
    }

    /// From the VAS output F [1, C, H/4, W/4] and the ViT features V [1, vitWidth, H/16, W/16]: the stages, with
    /// the class branch in the last one only (earlier stages' classes are discarded by the original, spec §5.3).
    /// `decisions` (parity checks only) replaces the masks each threshold reads; nil computes them.
    func decode(features f: Tensor, spatial v: Tensor, textClassifier: Tensor, synonymCounts: [Int],
                decisions: EOVSegDecisions? = nil) -> LightweightDecoderOutput {
        opCheck(f.rank == 4 && f.shape[0] == 1 && f.shape[1] == hidden, "decoder: features \(f.shape)")
        let h = f.shape[2], w = f.shape[3]
        let flat = f.contiguous().reshaped([hidden, h * w])
        let m0 = Ops.matmul(objectKernels, flat).reshaped([objectKernels.shape[0], h, w])
        let vu = upscale(v)
        opCheck(vu.shape[2] == h && vu.shape[3] == w, "decoder: upscaled ViT features \(vu.shape) vs \(f.shape)")
        var kernels = objectKernels, masks = m0
        var outputs: [(kernels: Tensor, masks: Tensor)] = []
        var logits: Tensor? = nil
        if let decisions {
            opCheck(decisions.stageInputs.count == stages.count && decisions.stageInputs.allSatisfy { $0.shape == m0.shape }
                        && decisions.classMasks.shape == m0.shape,
                    "decoder: decisions for \(decisions.stageInputs.count) stages, \(stages.count) stages of \(m0.shape)")
        }
        for (i, stage) in stages.enumerated() {
            (kernels, masks) = stage.update(features: flat, kernels: kernels, masks: decisions?.stageInputs[i] ?? masks)
            outputs.append((kernels, masks))
            if i == stages.count - 1 {
                logits = stage.classify(kernels: kernels, masks: decisions?.classMasks ?? masks, features: flat,
                                        spatial: vu.reshaped([vu.shape[1], h * w]), textClassifier: textClassifier,
                                        synonymCounts: synonymCounts)
            }
        }
        return LightweightDecoderOutput(classLogits: logits!, masks: masks, initialMasks: m0, stages: outputs,
                                        upscaledSpatial: vu.reshaped([vu.shape[1], h, w]))
    }
}
