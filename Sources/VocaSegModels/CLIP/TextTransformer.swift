import Foundation
import VocaSegCore
import VocaSegTensor

/// One open_clip `ResidualAttentionBlock` (pre-norm, causal MHA, exact-GELU MLP).
struct TextBlock {
    let ln1: LayerNormLayer
    let inProj: LinearLayer   // rows [q; k; v]
    let outProj: LinearLayer
    let ln2: LayerNormLayer
    let fc: LinearLayer
    let proj: LinearLayer
    let heads: Int
    let width: Int

    init(_ w: WeightScope, width: Int, heads: Int, eps: Float) {
        self.width = width
        self.heads = heads
        ln1 = LayerNormLayer(w.scope("ln_1"), dim: width, eps: eps)
        let attn = w.scope("attn")
        inProj = LinearLayer(weight: attn.tensor("in_proj_weight", [3 * width, width]),
                             bias: attn.tensor("in_proj_bias", [3 * width]))
        outProj = LinearLayer(attn.scope("out_proj"), in: width, out: width)
        ln2 = LayerNormLayer(w.scope("ln_2"), dim: width, eps: eps)
        fc = LinearLayer(w.scope("mlp.c_fc"), in: width, out: 4 * width)
        proj = LinearLayer(w.scope("mlp.c_proj"), in: 4 * width, out: width)
    }

    /// x [B, n, D], updated in place.
    func forward(_ x: Tensor) {
        let qkv = inProj(ln1(x))
        let q = qkv.narrowed(dim: 2, start: 0, length: width)
        let k = qkv.narrowed(dim: 2, start: width, length: width)
        let v = qkv.narrowed(dim: 2, start: 2 * width, length: width)
        let a = Ops.attention(query: q, key: k, value: v, heads: heads, causal: true)
        outProj(a, out: x, accumulate: true)
        let h = fc(ln2(x), activation: .gelu)
        proj(h, out: x, accumulate: true)
    }
}

/// CLIP's text tower as in open_clip `CLIP.encode_text` (`sem_seg_head.clip_model.*`): token + positional
/// embeddings, pre-norm causal blocks, `ln_final`, pooling at the end-of-text token, `text_projection`.
///
/// Exact shortcut: with a causal mask the EOT output depends only on positions 0…EOT, so each prompt runs on its
/// first EOT+1 positions only (prompts of equal length share one batch).
public final class CLIPTextTransformer: @unchecked Sendable {
    let tokenEmbedding: Tensor      // [vocab, D]
    let positionalEmbedding: Tensor // [ctx, D]
    let blocks: [TextBlock]
    let lnFinal: LayerNormLayer
    let textProjection: Tensor      // [D, E], used as x·W
    let width: Int
    let contextLength: Int
    let vocabSize: Int

    /// `w` is the `...clip_model` scope.
    init(config c: ERRSegConfig, weights w: WeightScope) {
        width = c.textWidth
        contextLength = c.contextLength
        vocabSize = c.vocabSize
        tokenEmbedding = w.tensor("token_embedding.weight", [c.vocabSize, c.textWidth])
        positionalEmbedding = w.tensor("positional_embedding", [c.contextLength, c.textWidth])
        blocks = (0..<c.textLayers).map {
            TextBlock(w.scope("transformer.resblocks.\($0)"), width: c.textWidth, heads: c.textHeads, eps: c.textLNEps)
        }
        lnFinal = LayerNormLayer(w.scope("ln_final"), dim: c.textWidth, eps: c.textLNEps)
        textProjection = w.tensor("text_projection", [c.textWidth, c.embedDim])
        w.ignore("logit_scale")
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
            groups[CLIPTokenizer.eotIndex(row) + 1, default: []].append(i)
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
            let last = x.narrowed(dim: 1, start: n - 1, length: 1).reshaped([b, width])
            let pooled = Ops.matmul(lnFinal(last), textProjection)
            for (j, r) in members.enumerated() {
                (out.data + r * e).update(from: pooled.data + j * e, count: e)
            }
        }
        return out
    }
}
