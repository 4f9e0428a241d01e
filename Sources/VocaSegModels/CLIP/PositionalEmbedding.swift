import Foundation
import VocaSegTensor

/// CLIP positional embeddings `[1 + grid², C]` (row 0 for the class / mean token) applied to a feature grid of
/// another size, as dense CLIP users do: rows 1… as a C×grid×grid map, resized bilinearly (align_corners false,
/// no antialias) to h×w.
enum CLIPPositionalEmbedding {
    /// The spatial rows of `embedding` resized to h×w, as tokens [h·w, C] (row-major positions).
    static func spatial(_ embedding: Tensor, grid: Int, height h: Int, width w: Int) -> Tensor {
        let c = embedding.shape[1]
        opCheck(embedding.rank == 2 && embedding.shape[0] == grid * grid + 1,
                "CLIPPositionalEmbedding: expected [\(grid * grid + 1), C], got \(embedding.shape)")
        let map = embedding.narrowed(dim: 0, start: 1, length: grid * grid).transposed(0, 1).contiguous()
            .reshaped([c, grid, grid])
        let resized = Ops.interpolateBilinear(map, size: (h, w), alignCorners: false)  // [C, h, w]
        return resized.reshaped([c, h * w]).transposed(0, 1).contiguous()
    }
}
