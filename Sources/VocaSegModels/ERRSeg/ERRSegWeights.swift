import Foundation
import VocaSegCheckpoint
import VocaSegCore
import VocaSegTensor

/// The two weight sources of ERR-Seg: the official detectron2 checkpoint and seeded random weights.
public enum ERRSegWeights {
    /// Every key of the model lives under this prefix in `model_final.pth`.
    public static let rootPrefix = "sem_seg_head"

    /// The official `model_final.pth` (or a safetensors conversion). Half/bfloat16 tensors widen to float32.
    public static func checkpoint(path: String) throws -> WeightLoader { try WeightLoader(path: path) }

    /// Seeded random weights for pipeline and speed checks (outputs are meaningless); see `RandomWeights`.
    public static func random(config: ERRSegConfig, seed: UInt64 = 0) -> WeightLoader {
        RandomWeights.loader(seed: seed, transposedConvolutions: ["up_decoder2.up_conv", "up_decoder3.up_conv"])
    }
}
