import Foundation
import VocaSegCore
import VocaSegTensor

/// CLIP's text tower as in open_clip `CLIP.encode_text` (`…clip_model.*`): token + positional embeddings, pre-norm
/// blocks, `ln_final`, pooling at the end-of-text token, `text_projection`. Sized by a `CLIPTextConfig`.
///
/// Exact shortcut when causal: the EOT output depends only on positions 0…EOT, so each prompt runs on its first
/// EOT+1 positions only (prompts of equal length share one batch). Without the causal mask every position sees the
/// whole context, so every prompt runs on all `contextLength` positions.
public final class CLIPTextTransformer: @unchecked Sendable {
    let tokenEmbedding: Tensor      // [vocab, D]
    let positionalEmbedding: Tensor // [ctx, D]
    let blocks: [CLIPTransformerBlock]
    let lnFinal: LayerNormLayer
    let textProjection: Tensor      // [D, E], used as x·W
    let width: Int
    let contextLength: Int
    let vocabSize: Int
    let causal: Bool

    /// `w` is the `...clip_model` scope.
    init(config c: CLIPTextConfig, weights w: WeightScope) {
        width = c.width
        contextLength = c.contextLength
        vocabSize = c.vocabSize
        causal = c.causal
        tokenEmbedding = w.tensor("token_embedding.weight", [c.vocabSize, c.width])
        positionalEmbedding = w.tensor("positional_embedding", [c.contextLength, c.width])
        blocks = (0..<c.layers).map {
            CLIPTransformerBlock(w.scope("transformer.resblocks.\($0)"), width: c.width, heads: c.heads, eps: c.lnEps,
                                 activation: c.activation, causal: c.causal)
        }
        lnFinal = LayerNormLayer(w.scope("ln_final"), dim: c.width, eps: c.lnEps)
        textProjection = w.tensor("text_projection", [c.width, c.embedDim])
        // The similarity temperature of CLIP training; the families compare cosines and never scale by it.
        w.ignore("logit_scale", reason: "CLIP's training temperature, unused at inference")
    }

    /// Token rows (each `contextLength` ids as `CLIPTokenizer.tokenize` gives them) → [T, E], not normalised.
    public func encode(tokens rows: [[Int32]]) throws -> Tensor {
        let e = textProjection.shape[1]
        let out = Tensor(uninitializedShape: [rows.count, e])
        var groups: [Int: [Int]] = [:]
        for (i, row) in rows.enumerated() {
            guard row.count == contextLength else {
                throw VocaSegError(.internal, "text encoder: token row \(i) has \(row.count) ids, expected \(contextLength)")
            }
            guard row.allSatisfy({ $0 >= 0 && Int($0) < vocabSize }) else {
                throw VocaSegError(.internal, "text encoder: token row \(i) has an id outside 0..<\(vocabSize)")
            }
            groups[causal ? CLIPTokenizer.eotIndex(row) + 1 : contextLength, default: []].append(i)
        }
        for (n, members) in groups.sorted(by: { $0.key < $1.key }) {
            let b = members.count
            let x = Tensor(uninitializedShape: [b, n, width])
            for (j, r) in members.enumerated() {
                for p in 0..<n {
                    let dst = x.data + (j * n + p) * width
                    let tok = tokenEmbedding.data + Int(rows[r][p]) * width
                    let pos = positionalEmbedding.data + p * width
                    for d in 0..<width { dst[d] = tok[d] + pos[d] }
                }
            }
            for block in blocks { block.forward(x) }
            let last: Tensor
            if causal {
                last = x.narrowed(dim: 1, start: n - 1, length: 1).reshaped([b, width])
            } else {
                last = Tensor(uninitializedShape: [b, width])
                for (j, r) in members.enumerated() {
                    let eot = CLIPTokenizer.eotIndex(rows[r])
                    (last.data + j * width).update(from: x.data + (j * n + eot) * width, count: width)
                }
            }
            let pooled = Ops.matmul(lnFinal(last), textProjection)
            for (j, r) in members.enumerated() {
                (out.data + r * e).update(from: pooled.data + j * e, count: e)
            }
        }
        return out
    }
}
