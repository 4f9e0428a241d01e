import Foundation
import VocaSegTensor

/// Seeded random EOV-Seg weights for pipeline and speed checks (`--weights random`; the output means nothing).
///
/// The laws are the shared ones (`RandomWeights`), with the transposed convolutions' fan-in taken from their input
/// channels. Left at that, panoptic inference gives no segment: BatchNorm running means near 1 zero every ResNet
/// feature, the aggregator's output is dominated by a spatially constant part (post-ReLU features have positive
/// means) so every query ends up with the same near-full mask and label, and void wins. A calibration that depends
/// on the weights only (no image, no vocabulary; unlike the reference's `calibrate_on_input`) rescales or shifts
/// a few drawn tensors, so that a frame gives several segments, things and stuff; the same tensors and shapes are
/// loaded, and the model code knows nothing of it:
///
/// - the reference's laws where the shared ones do not fit (`eovseg_ref/weights.py`): BatchNorm `running_mean`
///   U(−0.1, 0.1) (the draw minus 1), `vas.scale` U(0.5, 1.5) and `vas.offset` U(0, 0.5) (a positive gate),
///   `object_kernels` N(0, 1);
/// - data-independent centring, in place of the reference's per-image `loc_conv.bias` centring: each 3×3 tap set of
///   `lite_aggr.deconv.output_conv` is made point-antisymmetric (w(d) := (w(d) − w(−d))/2), so it does not respond
///   to a spatially constant input and F0 keeps the image's variation without the shared constant; the
///   CoordConv columns of `loc_conv` ×3 add smooth position;
/// - `mask_offset` / `mask_offset_weight` (the reference's knobs): `loc_conv.bias[0] += mask_offset` (a constant
///   F0 channel) and every `fc_mask.bias[0] += −12`, a shared negative mask bias, so the masks are small and
///   overlap little and survive the 0.8 overlap rule; then every `fc_mask` ×10 (`mask_scale`): mask logits of the
///   order of a trained head's, without changing any `> 0` decision;
/// - void: every `class_embed` output bias −= 3 × the unit void embedding, so the class embeddings lean away from
///   the void row (a random void row otherwise wins for every query);
/// - CNN CLIP `logit_scale` 0 (exp 1; the released value is ln 100): a random CLIP's mask-pooled embeddings are
///   nearly the same for every query and would give them all one class; flat out-of-vocabulary probabilities
///   leave the label to the decoder (the reference lowers it for M too);
/// - per size, as the reference's `DEFAULT_CALIBRATION`: the decoder `logit_scale` (S, M ln(1/0.07); L ln 100),
///   `mask_offset` (S 0.5, M 2.0, L 2.5: M's and L's F0 are larger), and for S and M the rows of each
///   `class_embed.layers.2` weight centred (a data-independent counterpart of the reference's
///   `center_class_embeddings`: the ReLU features' shared mean no longer gives every query the same embedding).
///
/// Measured with seed 0 and "person, car, road, sky, tree" (things person, car): S 12 segments (10 things, 2
/// stuff) on a photo, 5 (3, 2) on testsrc2; M 8 (5, 3) and 21 (19, 2); L 27 (26, 1) and 58 (58, 0). The masks are
/// small, scattered blobs, not objects.
enum EOVSegRandomWeights {
    struct Calibration: Equatable {
        var decoderLogitScale: Float
        var maskOffset: Float
        var centerClassEmbeddings: Bool
        var maskOffsetWeight: Float = -12
        var maskScale: Float = 10
        var voidAway: Float = 3
        var coordinateScale: Float = 3
        var clipLogitScale: Float = 0
    }

    /// Per variant (other configurations, e.g. the tests' tiny ones, take S's values for a ResNet, L's for a
    /// ConvNeXt).
    static func calibration(for config: EOVSegConfig) -> Calibration {
        let small = Float(log(1 / 0.07)), large = Float(log(100.0))
        switch (config.name, config.backbone) {
        case ("eovseg-m", _): return Calibration(decoderLogitScale: small, maskOffset: 2.0, centerClassEmbeddings: true)
        case (_, .resnet): return Calibration(decoderLogitScale: small, maskOffset: 0.5, centerClassEmbeddings: true)
        case (_, .convnext): return Calibration(decoderLogitScale: large, maskOffset: 2.5, centerClassEmbeddings: false)
        }
    }

    static func loader(config: EOVSegConfig, seed: UInt64) -> WeightLoader {
        let cal = calibration(for: config)
        func draw(_ key: String, _ shape: [Int]) -> Tensor {
            RandomWeights.tensor(key: key, shape: shape, seed: seed,
                                 transposedConvolutions: ["up_sample", "output_upscaling"])
        }
        let heads = "light_weight_decoder.mask_heads."
        return WeightLoader(source: "random(seed \(seed))", isRandom: true) { key, shape in
            if key == "cnn_backbone.clip_model.logit_scale" { return Tensor(shape: [], data: [cal.clipLogitScale]) }
            if key.hasPrefix(heads), key.hasSuffix(".logit_scale") {
                return Tensor(shape: [], data: [cal.decoderLogitScale])
            }
            if key == "light_weight_decoder.vas.scale" || key == "light_weight_decoder.vas.offset" {
                let u = draw(key, [1]).toArray()[0]  // U(0.9, 1.1)
                let v = key.hasSuffix("scale") ? 0.5 + (u - 0.9) * 5 : (u - 0.9) * 2.5
                return Tensor(shape: shape, data: [v])
            }
            let t = draw(key, shape)
            if key.hasSuffix(".running_mean") {
                scale(t, by: 1, plus: -1)
            } else if key == "light_weight_decoder.object_kernels.weight" {
                scale(t, by: Float(shape[1]).squareRoot())  // N(0, 1/C) → N(0, 1)
            } else if key == "lite_aggr.deconv.output_conv.weight" {
                antisymmetrizeTaps(t)
            } else if key == "lite_aggr.loc_conv.weight" {
                let cin = shape[1]  // [hidden, AGG + 2, 1, 1]: the last two inputs are CoordConv's x and y
                for o in 0..<shape[0] { for j in (cin - 2)..<cin { t.data[o * cin + j] *= cal.coordinateScale } }
            } else if key == "lite_aggr.loc_conv.bias" {
                t.data[0] += cal.maskOffset
            } else if key.hasPrefix(heads), key.hasSuffix(".fc_mask.bias") {
                t.data[0] += cal.maskOffsetWeight
                scale(t, by: cal.maskScale)
            } else if key.hasPrefix(heads), key.hasSuffix(".fc_mask.weight") {
                scale(t, by: cal.maskScale)
            } else if cal.centerClassEmbeddings, key.hasPrefix(heads), key.hasSuffix(".class_embed.layers.2.weight") {
                centerRows(t)
            } else if key.hasPrefix(heads), key.hasSuffix(".class_embed.layers.2.bias") {
                let v = draw("void_embedding.weight", [1, shape[0]]).toArray()
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for i in 0..<shape[0] { t.data[i] -= cal.voidAway * v[i] / norm }
            }
            return t
        }
    }

    static func scale(_ t: Tensor, by factor: Float, plus shift: Float = 0) {
        for i in 0..<t.count { t.data[i] = t.data[i] * factor + shift }
    }

    /// Each row of a [out, in] weight minus its mean over the inputs.
    static func centerRows(_ t: Tensor) {
        let cols = t.shape[1]
        for r in 0..<t.shape[0] {
            let p = t.data + r * cols
            var sum: Float = 0
            for j in 0..<cols { sum += p[j] }
            for j in 0..<cols { p[j] -= sum / Float(cols) }
        }
    }

    /// Every k×k tap set of a [out, in, k, k] weight made point-antisymmetric: w(d) := (w(d) − w(−d)) / 2, so the
    /// taps sum to zero (the centre tap is 0).
    static func antisymmetrizeTaps(_ t: Tensor) {
        let taps = t.shape[2] * t.shape[3]
        var copy = [Float](repeating: 0, count: taps)
        for r in 0..<(t.count / taps) {
            let p = t.data + r * taps
            for j in 0..<taps { copy[j] = p[j] }
            for j in 0..<taps { p[j] = 0.5 * (copy[j] - copy[taps - 1 - j]) }
        }
    }
}
