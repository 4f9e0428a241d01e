import Foundation
import VocaSegTensor

/// What ERR-Seg's visual tower gives the decoder: trunk stage outputs (guidance) and the two HSM dense embedding
/// maps.
public struct VisualFeatures: @unchecked Sendable {
    public var os4: FeatureMap, os8: FeatureMap, os16: FeatureMap, os32: FeatureMap
    /// Output of `modify_downsample` (before the resize), kept for stage-by-stage checks.
    public var hsmModifiedDownsample: FeatureMap
    /// g(stage-3 blocks on the stride-1 branch): [h16·w16, E].
    public var os16Dense: FeatureMap
    /// g(os32): [h32·w32, E].
    public var clipVisDense: FeatureMap
}

/// ERR-Seg's visual tower: the shared CLIP ConvNeXt plus its Hierarchical Semantic Module stride-1 branch
/// (`modify_downsample` + the trunk's own stage-3 blocks on the os16 map), which is ERR-Seg's and no other family's.
final class ERRSegVisual: @unchecked Sendable {
    let clip: CLIPConvNeXtVisual
    let modifyNorm: LayerNormLayer
    let modifyConv: ChannelsLastConv

    /// `w` is the `...clip_model.visual` scope.
    init(config: ERRSegConfig, weights w: WeightScope) {
        clip = CLIPConvNeXtVisual(config: config.visualTower, weights: w)
        let dims = config.trunkDims, eps = config.trunkLNEps
        modifyNorm = LayerNormLayer(w.scope("modify_downsample.0"), dim: dims[2], eps: eps)
        modifyConv = ChannelsLastConv(w.scope("modify_downsample.2"), in: dims[2], out: dims[3], kernel: 2, stride: 1,
                                      padding: 1)
    }

    /// `input` is the normalised image [3, S, S] (CHW).
    func forward(_ input: Tensor, pool: BufferPool) -> VisualFeatures {
        var unused: [String: Double] = [:]
        return forward(input, pool: pool, timings: &unused)
    }

    /// Adds each trunk stage's seconds (`backbone.stageN`) and the HSM branch's (`backbone.hsm`, dense projections
    /// included) to `timings`. The branch runs right after stage 2, as in the original.
    func forward(_ input: Tensor, pool: BufferPool, timings: inout [String: Double]) -> VisualFeatures {
        var hsm: (FeatureMap, FeatureMap)?
        let outs = clip.trunk(input, pool: pool, timings: &timings) { stage, map, lap in
            guard stage == 2 else { return }
            hsm = hsmBranch(map.data, height: map.height, width: map.width, pool: pool)
            lap("backbone.hsm")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let os32 = outs[3]
        let clipVisDense = FeatureMap(data: clip.denseProjection(os32.data), height: os32.height, width: os32.width)
        timings["backbone.hsm", default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return VisualFeatures(os4: outs[0], os8: outs[1], os16: outs[2], os32: os32, hsmModifiedDownsample: hsm!.0,
                              os16Dense: hsm!.1, clipVisDense: clipVisDense)
    }

    /// HSM os16 branch: LN2d → zero-pad 1 → conv k2 s1 (→ (h+1)×(w+1)) → bilinear back to h×w → stage-3 blocks
    /// (shared weights) → g.
    func hsmBranch(_ os16: Tensor, height h: Int, width w: Int, pool: BufferPool) -> (FeatureMap, FeatureMap) {
        let normed = modifyNorm(os16)
        let (y, yh, yw) = modifyConv(normed, batch: 1, height: h, width: w, pool: nil)
        let c3 = clip.config.dims[3]
        let resized = ChannelsLast.resizeBilinear(y, batch: 1, height: yh, width: yw, channels: c3, outHeight: h,
                                                  outWidth: w, alignCorners: false).reshaped([h * w, c3])
        clip.stages[3].runBlocks(resized, height: h, width: w, pool: pool)
        return (FeatureMap(data: y, height: yh, width: yw),
                FeatureMap(data: clip.denseProjection(resized), height: h, width: w))
    }
}
