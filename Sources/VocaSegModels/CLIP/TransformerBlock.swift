import Foundation
import VocaSegTensor

/// One open_clip `ResidualAttentionBlock`: pre-norm multi-head attention (`attn.in_proj_*` rows [q; k; v],
/// `attn.out_proj`) and an MLP (`mlp.c_fc` → activation → `mlp.c_proj`), each added to the residual stream.
/// Text towers are causal; vision towers are not. The activation is exact GELU or QuickGELU, by model.
struct CLIPTransformerBlock {
    let ln1: LayerNormLayer
    let inProj: LinearLayer
    let outProj: LinearLayer
    let ln2: LayerNormLayer
    let fc: LinearLayer
    let proj: LinearLayer
    let heads: Int
    let width: Int
    let activation: Activation
    let causal: Bool

    /// `mlpWidth` is the hidden width of the MLP, 4·width unless a model says otherwise.
    init(_ w: WeightScope, width: Int, heads: Int, mlpWidth: Int? = nil, eps: Float, activation: Activation,
         causal: Bool) {
        self.width = width
        self.heads = heads
        self.activation = activation
        self.causal = causal
        ln1 = LayerNormLayer(w.scope("ln_1"), dim: width, eps: eps)
        let attn = w.scope("attn")
        inProj = LinearLayer(weight: attn.tensor("in_proj_weight", [3 * width, width]),
                             bias: attn.tensor("in_proj_bias", [3 * width]))
        outProj = LinearLayer(attn.scope("out_proj"), in: width, out: width)
        ln2 = LayerNormLayer(w.scope("ln_2"), dim: width, eps: eps)
        let hidden = mlpWidth ?? 4 * width
        fc = LinearLayer(w.scope("mlp.c_fc"), in: width, out: hidden)
        proj = LinearLayer(w.scope("mlp.c_proj"), in: hidden, out: width)
    }

    /// x [B, n, D], updated in place.
    func forward(_ x: Tensor) {
        let qkv = inProj(ln1(x))
        let q = qkv.narrowed(dim: 2, start: 0, length: width)
        let k = qkv.narrowed(dim: 2, start: width, length: width)
        let v = qkv.narrowed(dim: 2, start: 2 * width, length: width)
        let a = Ops.attention(query: q, key: k, value: v, heads: heads, causal: causal)
        outProj(a, out: x, accumulate: true)
        let h = fc(ln2(x), activation: activation)
        proj(h, out: x, accumulate: true)
    }
}
