import Foundation
import VocaSegTensor

/// Seeded random EOV-Seg weights for pipeline and speed checks (`--weights random`; the output means nothing).
/// The laws are the shared ones (`RandomWeights`), with the transposed convolutions' fan-in taken from their input
/// channels, and CLIP's logit scale set to the released towers' ln 100 so that the out-of-vocabulary logits have
/// the range the ensemble expects.
enum EOVSegRandomWeights {
    static func loader(config: EOVSegConfig, seed: UInt64) -> WeightLoader {
        WeightLoader(source: "random(seed \(seed))", isRandom: true) { key, shape in
            if key == "cnn_backbone.clip_model.logit_scale" {
                return Tensor(shape: [], data: [Float(log(100.0))])
            }
            return RandomWeights.tensor(key: key, shape: shape, seed: seed,
                                        transposedConvolutions: ["up_sample", "output_upscaling"])
        }
    }
}
