import Foundation
import VocaSegTensor

/// The decoder's guidance projections (spec §2.6): image guidance for the SFM (`img_guidance_projection_agg`,
/// `low_img_fusion`), decoder guidance for the GUD (`img_guidance_projection_dec`) and text guidance for the CFM
/// (`text_guidance_projection`). Trunk maps are clamped to ±16 (copies) before any convolution.
struct GuidanceProjections {
    struct Conv { let weight: Tensor; let bias: Tensor }
    let agg: [Conv]      // os32, os16 → inter, 3×3, ReLU6
    let fusion: Conv     // inter → C, 1×1
    let dec: [Conv]      // os16, os8, os4 → proj dims, 3×3, ReLU6
    let text: LinearLayer
    let clamp: Float

    /// `w` is the decoder scope.
    init(_ w: WeightScope, config c: ERRSegConfig) {
        func conv(_ s: WeightScope, _ cin: Int, _ cout: Int, _ k: Int) -> Conv {
            Conv(weight: s.tensor("weight", [cout, cin, k, k]), bias: s.tensor("bias", [cout]))
        }
        let ig = c.imageGuidanceDims
        agg = (0..<2).map { conv(w.scope("img_guidance_projection_agg.\($0).0"), ig[$0], c.guidanceFPNInterDim, 3) }
        fusion = conv(w.scope("low_img_fusion"), c.guidanceFPNInterDim, c.guidanceFPNFusionDim, 1)
        dec = (0..<3).map {
            conv(w.scope("img_guidance_projection_dec.\($0).0"), c.decoderGuidanceDims[$0], c.decoderGuidanceProjDims[$0], 3)
        }
        text = LinearLayer(w.scope("text_guidance_projection.0"), in: c.embedDim, out: c.textGuidanceProjDim)
        clamp = c.guidanceClamp
    }

    /// A clamped NCHW copy of a channels-last trunk map.
    func clamped(_ f: FeatureMap) -> Tensor {
        let t = f.nchw()
        Ops.clampInPlace(t, min: -clamp, max: clamp)
        return t
    }

    /// Gimg as channels-last [h·w, C] and the three decoder guidance maps [1, Cg, H, W] (NCHW).
    func image(_ v: VisualFeatures) -> (gimg: Tensor, gdec: [Tensor]) {
        var clock = SectionProfile.start()
        let os16 = clamped(v.os16)
        let dec0 = Ops.conv2d(os16, weight: dec[0].weight, bias: dec[0].bias, padding: 1, activation: .relu6)
        SectionProfile.lap("guidance.dec0", &clock)
        let dec1 = Ops.conv2d(clamped(v.os8), weight: dec[1].weight, bias: dec[1].bias, padding: 1, activation: .relu6)
        SectionProfile.lap("guidance.dec1", &clock)
        let dec2 = Ops.conv2d(clamped(v.os4), weight: dec[2].weight, bias: dec[2].bias, padding: 1, activation: .relu6)
        SectionProfile.lap("guidance.dec2", &clock)
        let a = Ops.conv2d(clamped(v.os32), weight: agg[0].weight, bias: agg[0].bias, padding: 1, activation: .relu6)
        SectionProfile.lap("guidance.agg0", &clock)
        let b = Ops.conv2d(os16, weight: agg[1].weight, bias: agg[1].bias, padding: 1, activation: .relu6)
        SectionProfile.lap("guidance.agg1", &clock)
        let sum = Ops.interpolateBilinear(a, size: (v.os16.height, v.os16.width), alignCorners: false)
        Ops.addInPlace(sum, b)
        Ops.scaleInPlace(sum, 0.5)
        let g = Ops.conv2d(sum, weight: fusion.weight, bias: fusion.bias)
        return (ChannelsLast.fromNCHW(g).reshaped([v.os16.height * v.os16.width, g.shape[1]]), [dec0, dec1, dec2])
    }

    /// Selected unit text embeddings [K, E] → Gtxt [K, C]: re-normalise, Linear, exact GELU.
    func textGuidance(_ selected: Tensor) -> Tensor {
        text(RowNormalization.unitRows(selected), activation: .gelu)
    }
}
