import Foundation
import VocaSegTensor

/// TDEE, Two-way Dynamic Embedding Experts (`mask_heads.s.tdee`, spec §2.6): K-Net's kernel updator with the
/// "update" way fed by the CNN-side pooled embedding e_s and the "input" way by the ViT-side one e_v; per-channel
/// sigmoid routers computed from their product mix the two.
struct LightweightDecoderTDEE {
    let dynamicLayer: LinearLayer, inputLayer: LinearLayer
    let updateRouter: LinearLayer, inputRouter: LinearLayer
    let normIn: LayerNormLayer, inputNormIn: LayerNormLayer
    let normOut: LayerNormLayer, inputNormOut: LayerNormLayer
    let fcLayer: LinearLayer, fcNorm: LayerNormLayer
    let channels: Int

    init(_ w: WeightScope, channels c: Int) {
        channels = c
        dynamicLayer = LinearLayer(w.scope("dynamic_layer"), in: c, out: 2 * c)
        inputLayer = LinearLayer(w.scope("input_layer"), in: c, out: 2 * c)
        updateRouter = LinearLayer(w.scope("update_router"), in: c, out: c)
        inputRouter = LinearLayer(w.scope("input_router"), in: c, out: c)
        normIn = LayerNormLayer(w.scope("norm_in"), dim: c, eps: 1e-5)
        inputNormIn = LayerNormLayer(w.scope("input_norm_in"), dim: c, eps: 1e-5)
        normOut = LayerNormLayer(w.scope("norm_out"), dim: c, eps: 1e-5)
        inputNormOut = LayerNormLayer(w.scope("input_norm_out"), dim: c, eps: 1e-5)
        fcLayer = LinearLayer(w.scope("fc_layer"), in: c, out: c)
        fcNorm = LayerNormLayer(w.scope("fc_norm"), dim: c, eps: 1e-5)
    }

    /// update = e_s [N, C], input = e_v [N, C] → e_t [N, C].
    func callAsFunction(update es: Tensor, input ev: Tensor) -> Tensor {
        let c = channels
        let p = dynamicLayer(es), i = inputLayer(ev)  // [N, 2C]
        let pIn = p.narrowed(dim: 1, start: 0, length: c), pOut = p.narrowed(dim: 1, start: c, length: c).contiguous()
        let iIn = i.narrowed(dim: 1, start: 0, length: c), iOut = i.narrowed(dim: 1, start: c, length: c).contiguous()
        let r = Ops.mul(pIn.contiguous(), iIn.contiguous())
        let gateS = Ops.sigmoid(normIn(updateRouter(r)))
        let gateM = Ops.sigmoid(inputNormIn(inputRouter(r)))
        // activate_out is False: the output projections are only normalised.
        let e = Ops.add(Ops.mul(gateS, normOut(pOut)), Ops.mul(gateM, inputNormOut(iOut)))
        return Ops.gelu(fcNorm(fcLayer(e)))
    }
}
