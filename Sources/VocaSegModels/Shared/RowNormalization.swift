import Foundation
import VocaSegTensor

/// L2 normalisation of embedding rows, shared by every family: CLIP similarities are cosines, so text and pixel
/// embeddings are compared as unit vectors.
enum RowNormalization {
    /// Rows of [R, E] divided by max(‖row‖, 1e-12), as `F.normalize(dim=-1)` does.
    static func unitRows(_ x: Tensor) -> Tensor {
        let r = x.shape[0], e = x.shape[1]
        let src = x.contiguous()
        let out = Tensor(uninitializedShape: [r, e])
        ChannelsLast.parallelRanges(r, grain: 64) { rows in
            for i in rows {
                let s = src.data + i * e, o = out.data + i * e
                var sum: Float = 0
                for j in 0..<e { sum += s[j] * s[j] }
                let inv = 1 / max(sum.squareRoot(), 1e-12)
                for j in 0..<e { o[j] = s[j] * inv }
            }
        }
        return out
    }
}
