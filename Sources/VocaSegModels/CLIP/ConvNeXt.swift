import Foundation
import VocaSegTensor

/// One timm ConvNeXt V1 block on channels-last data [H·W, C]:
/// x += γ ⊙ fc2(GELU(fc1(LN(dwconv7(x))))). The layer scale γ is folded into fc2 at load time, so the second GEMM
/// adds straight into the residual stream.
struct ConvNeXtBlock {
    let dwWeight: Tensor  // packed [49, C]
    let dwBias: Tensor
    let norm: LayerNormLayer
    let fc1: LinearLayer
    let fc2: LinearLayer  // γ-scaled
    let dim: Int

    init(_ w: WeightScope, dim: Int, eps: Float) {
        self.dim = dim
        let gamma = w.tensor("gamma", [dim])
        dwWeight = ChannelsLast.packDepthwiseWeight(w.scope("conv_dw").tensor("weight", [dim, 1, 7, 7]))
        dwBias = w.scope("conv_dw").tensor("bias", [dim])
        norm = LayerNormLayer(w.scope("norm"), dim: dim, eps: eps)
        // The row-tiled stages run their GEMMs single-threaded per tile, where the packed kernel is faster.
        let tiled = dim <= ConvNeXtBlock.tiledMLPMaxDim
        let fc1 = LinearLayer(w.scope("mlp.fc1"), in: dim, out: 4 * dim)
        self.fc1 = tiled ? fc1.packed() : fc1
        let raw = LinearLayer(w.scope("mlp.fc2"), in: 4 * dim, out: dim)
        // diag(γ)·W and γ ⊙ b: the block's output is scaled per output channel.
        let scaledW = Tensor(uninitializedShape: raw.weight.shape)
        let scaledB = Tensor(uninitializedShape: [dim])
        for o in 0..<dim {
            let g = gamma.data[o]
            for i in 0..<(4 * dim) { scaledW.data[o * 4 * dim + i] = g * raw.weight.data[o * 4 * dim + i] }
            scaledB.data[o] = g * raw.bias!.data[o]
        }
        let fc2 = LinearLayer(weight: scaledW, bias: scaledB)
        self.fc2 = tiled ? fc2.packed() : fc2
    }

    /// Updates `x` ([H·W, C], contiguous) in place.
    func forward(_ x: Tensor, height: Int, width: Int, pool: BufferPool) {
        let hw = height * width
        var clock = SectionProfile.start()
        let y = pool.tensor("convnext.dw", shape: [hw, dim])
        ChannelsLast.depthwiseConv(x, batch: 1, height: height, width: width, channels: dim, weight: dwWeight,
                                   bias: dwBias, kernel: 7, out: y)
        SectionProfile.lap("convnext\(dim).dwconv", &clock)
        norm(y, out: y)
        SectionProfile.lap("convnext\(dim).norm", &clock)
        if dim <= ConvNeXtBlock.tiledMLPMaxDim && hw >= 2 * ConvNeXtBlock.tiledMLPRows {
            // Rows are independent in the MLP: each worker takes row tiles through fc1, GELU and fc2 on its own
            // (single-threaded GEMMs), so the 4C-wide hidden tile stays in its core's cache instead of a
            // [H·W, 4C] buffer (52 MB at 160×160×512) going through memory twice.
            let rows = ConvNeXtBlock.tiledMLPRows
            ParallelConfig.forEachItem((hw + rows - 1) / rows) { worker, tile in
                let r0 = tile * rows, n = min(rows, hw - r0)
                let hidden = pool.tensor("convnext.hidden.\(worker)", shape: [n, 4 * dim])
                fc1(y.narrowed(dim: 0, start: r0, length: n), activation: .gelu, out: hidden)
                fc2(hidden, out: x.narrowed(dim: 0, start: r0, length: n), accumulate: true)
            }
            SectionProfile.lap("convnext\(dim).mlp (row tiles)", &clock)
            return
        }
        let hidden = pool.tensor("convnext.hidden", shape: [hw, 4 * dim])
        fc1(y, activation: .gelu, out: hidden)
        SectionProfile.lap("convnext\(dim).fc1+gelu", &clock)
        fc2(hidden, out: x, accumulate: true)
        SectionProfile.lap("convnext\(dim).fc2", &clock)
    }

    /// Row-tiled MLP for blocks this narrow (their weights are packed once for `Ops.linear(_:packed:)`, 4C² floats
    /// each, 1 MB at C = 256). Wider blocks (C = 512: 4 MB per weight, only 1600 rows) keep one GEMM per layer, split across workers by `BLAS.sgemm`.
    nonisolated(unsafe) static var tiledMLPMaxDim = 256
    nonisolated(unsafe) static var tiledMLPRows = 512
}

/// A trunk stage: optional downsample (LayerNorm2d + conv k2 s2) then blocks.
struct ConvNeXtStage {
    let downsampleNorm: LayerNormLayer?
    let downsampleConv: ChannelsLastConv?
    let blocks: [ConvNeXtBlock]

    init(_ w: WeightScope, inDim: Int, outDim: Int, depth: Int, downsample: Bool, eps: Float) {
        if downsample {
            downsampleNorm = LayerNormLayer(w.scope("downsample.0"), dim: inDim, eps: eps)
            downsampleConv = ChannelsLastConv(w.scope("downsample.1"), in: inDim, out: outDim, kernel: 2, stride: 2,
                                              padding: 0)
        } else {
            downsampleNorm = nil
            downsampleConv = nil
        }
        blocks = (0..<depth).map { ConvNeXtBlock(w.scope("blocks.\($0)"), dim: outDim, eps: eps) }
    }

    func runBlocks(_ x: Tensor, height: Int, width: Int, pool: BufferPool) {
        for b in blocks { b.forward(x, height: height, width: width, pool: pool) }
    }
}

/// A channels-last feature map of one image: `data` is [H·W, C].
public struct FeatureMap: @unchecked Sendable {
    public var data: Tensor
    public var height: Int
    public var width: Int
    public var channels: Int { data.shape[data.rank - 1] }

    /// The map as [1, C, H, W] (a copy), the layout PyTorch and the goldens use.
    public func nchw() -> Tensor { ChannelsLast.toNCHW(data, batch: 1, height: height, width: width, channels: channels) }
}

/// What the visual tower gives the decoder: trunk stage outputs (guidance) and the two HSM dense embedding maps.
public struct VisualFeatures: @unchecked Sendable {
    public var os4: FeatureMap, os8: FeatureMap, os16: FeatureMap, os32: FeatureMap
    /// Output of `modify_downsample` (before the resize), kept for stage-by-stage checks.
    public var hsmModifiedDownsample: FeatureMap
    /// g(stage-3 blocks on the stride-1 branch): [h16·w16, E].
    public var os16Dense: FeatureMap
    /// g(os32): [h32·w32, E].
    public var clipVisDense: FeatureMap
}

/// The CLIP ConvNeXt visual tower of ERR-Seg (`sem_seg_head.clip_model.visual.*`): timm trunk, the HSM stride-1
/// branch (`modify_downsample` + the shared stage-3 blocks) and the per-pixel CLIP projection g = head(LN(v)).
public final class CLIPConvNeXtVisual: @unchecked Sendable {
    let config: ERRSegConfig
    let stemConv: ChannelsLastConv
    let stemNorm: LayerNormLayer
    let stages: [ConvNeXtStage]
    let headNorm: LayerNormLayer
    let proj: LinearLayer?          // B: Linear C→E, no bias
    let mlpFC1: LinearLayer?        // L: Linear C→2E + bias, GELU
    let mlpFC2: LinearLayer?        //    Linear 2E→E, no bias
    let modifyNorm: LayerNormLayer
    let modifyConv: ChannelsLastConv

    /// `w` is the `...clip_model.visual` scope.
    init(config: ERRSegConfig, weights w: WeightScope) {
        self.config = config
        let dims = config.trunkDims, eps = config.trunkLNEps
        let trunk = w.scope("trunk")
        stemConv = ChannelsLastConv(trunk.scope("stem.0"), in: 3, out: dims[0], kernel: 4, stride: 4, padding: 0)
        stemNorm = LayerNormLayer(trunk.scope("stem.1"), dim: dims[0], eps: eps)
        stages = (0..<4).map { s in
            ConvNeXtStage(trunk.scope("stages.\(s)"), inDim: dims[max(s - 1, 0)], outDim: dims[s],
                          depth: config.trunkDepths[s], downsample: s > 0, eps: eps)
        }
        headNorm = LayerNormLayer(trunk.scope("head.norm"), dim: dims[3], eps: eps)
        switch config.visualHead {
        case .linear:
            proj = LinearLayer(w.scope("head.proj"), in: dims[3], out: config.embedDim, bias: false)
            mlpFC1 = nil
            mlpFC2 = nil
        case .mlp:
            proj = nil
            mlpFC1 = LinearLayer(w.scope("head.mlp.fc1"), in: dims[3], out: 2 * config.embedDim, bias: true)
            mlpFC2 = LinearLayer(w.scope("head.mlp.fc2"), in: 2 * config.embedDim, out: config.embedDim, bias: false)
        }
        modifyNorm = LayerNormLayer(w.scope("modify_downsample.0"), dim: dims[2], eps: eps)
        modifyConv = ChannelsLastConv(w.scope("modify_downsample.2"), in: dims[2], out: dims[3], kernel: 2, stride: 1,
                                      padding: 1)
    }

    /// g(v) = head(LayerNorm(v)) per pixel; [N, C] → [N, E] (no L2 normalisation here).
    func denseProjection(_ x: Tensor) -> Tensor {
        let n = headNorm(x)
        if let proj { return proj(n) }
        return mlpFC2!(mlpFC1!(n, activation: .gelu))
    }

    /// `input` is the normalised image [3, S, S] (CHW).
    func forward(_ input: Tensor, pool: BufferPool) -> VisualFeatures {
        var unused: [String: Double] = [:]
        return forward(input, pool: pool, timings: &unused)
    }

    /// Adds each trunk stage's seconds (`backbone.stageN`, downsample included) and the HSM branch's
    /// (`backbone.hsm`, dense projections included) to `timings`.
    func forward(_ input: Tensor, pool: BufferPool, timings: inout [String: Double]) -> VisualFeatures {
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ name: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            timings[name, default: 0] += Double(now - clock) / 1e9
            clock = now
        }
        let s = input.shape[1], sw = input.shape[2]
        let hwc = input.permuted([1, 2, 0]).contiguous()
        var (x, h, w) = stemConv(hwc, batch: 1, height: s, width: sw, pool: pool, slot: "trunk.stem")
        x = stemNorm(x)
        var outs: [FeatureMap] = []
        var hsm: (FeatureMap, FeatureMap)?
        for (i, stage) in stages.enumerated() {
            if let norm = stage.downsampleNorm, let conv = stage.downsampleConv {
                let normed = norm(x)
                (x, h, w) = conv(normed, batch: 1, height: h, width: w, pool: nil)
            }
            stage.runBlocks(x, height: h, width: w, pool: pool)
            outs.append(FeatureMap(data: x, height: h, width: w))
            lap("backbone.stage\(i)")
            if i == 2 {
                hsm = hsmBranch(x, height: h, width: w, pool: pool)
                lap("backbone.hsm")
            }
        }
        let os32 = outs[3]
        let clipVisDense = FeatureMap(data: denseProjection(os32.data), height: os32.height, width: os32.width)
        lap("backbone.hsm")
        return VisualFeatures(os4: outs[0], os8: outs[1], os16: outs[2], os32: os32, hsmModifiedDownsample: hsm!.0,
                              os16Dense: hsm!.1, clipVisDense: clipVisDense)
    }

    /// HSM os16 branch: LN2d → zero-pad 1 → conv k2 s1 (→ (h+1)×(w+1)) → bilinear back to h×w → stage-3 blocks
    /// (shared weights) → g.
    func hsmBranch(_ os16: Tensor, height h: Int, width w: Int, pool: BufferPool) -> (FeatureMap, FeatureMap) {
        let normed = modifyNorm(os16)
        let (y, yh, yw) = modifyConv(normed, batch: 1, height: h, width: w, pool: nil)
        let c3 = config.trunkDims[3]
        let resized = ChannelsLast.resizeBilinear(y, batch: 1, height: yh, width: yw, channels: c3, outHeight: h,
                                                  outWidth: w, alignCorners: false).reshaped([h * w, c3])
        stages[3].runBlocks(resized, height: h, width: w, pool: pool)
        return (FeatureMap(data: y, height: yh, width: yw),
                FeatureMap(data: denseProjection(resized), height: h, width: w))
    }
}
