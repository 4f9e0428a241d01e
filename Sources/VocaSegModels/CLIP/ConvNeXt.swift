import Foundation
import VocaSegTensor

/// One timm ConvNeXt V1 block, read from `w` and run by the engine's one fused block
/// (`Ops.convNeXtBlockChannelsLast`, the golden-tested kernel).
struct ConvNeXtBlock {
    let weights: ConvNeXtBlockWeights

    init(_ w: WeightScope, dim: Int, eps: Float) {
        let dw = w.scope("conv_dw"), fc1 = w.scope("mlp.fc1"), fc2 = w.scope("mlp.fc2"), norm = w.scope("norm")
        let gamma = w.tensor("gamma", [dim])
        weights = .prepared(
            dwWeight: dw.tensor("weight", [dim, 1, 7, 7]), dwBias: dw.tensor("bias", [dim]),
            normWeight: norm.tensor("weight", [dim]), normBias: norm.tensor("bias", [dim]),
            fc1Weight: fc1.tensor("weight", [4 * dim, dim]), fc1Bias: fc1.tensor("bias", [4 * dim]),
            fc2Weight: fc2.tensor("weight", [dim, 4 * dim]), fc2Bias: fc2.tensor("bias", [dim]), gamma: gamma, eps: eps)
    }

    /// Updates `x` ([H·W, C], contiguous) in place.
    func forward(_ x: Tensor, height: Int, width: Int, pool: BufferPool) {
        Ops.convNeXtBlockChannelsLast(x, height: height, width: width, weights, pool: pool)
    }
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

/// An open_clip ConvNeXt visual tower (`…clip_model.visual.*`): the timm trunk (stem, four stages) and the CLIP
/// head g = head(LN(v)) applied per pixel (linear or MLP), as the dense-CLIP families use it.
public final class CLIPConvNeXtVisual: @unchecked Sendable {
    let config: CLIPConvNeXtConfig
    let stemConv: ChannelsLastConv
    let stemNorm: LayerNormLayer
    let stages: [ConvNeXtStage]
    let headNorm: LayerNormLayer
    let proj: LinearLayer?          // linear head: C→E, no bias
    let mlpFC1: LinearLayer?        // MLP head: C→2E + bias, GELU
    let mlpFC2: LinearLayer?        //           2E→E, no bias

    /// `w` is the `...clip_model.visual` scope.
    init(config: CLIPConvNeXtConfig, weights w: WeightScope) {
        self.config = config
        let dims = config.dims, eps = config.lnEps
        let trunk = w.scope("trunk")
        stemConv = ChannelsLastConv(trunk.scope("stem.0"), in: 3, out: dims[0], kernel: 4, stride: 4, padding: 0)
        stemNorm = LayerNormLayer(trunk.scope("stem.1"), dim: dims[0], eps: eps)
        stages = (0..<4).map { s in
            ConvNeXtStage(trunk.scope("stages.\(s)"), inDim: dims[max(s - 1, 0)], outDim: dims[s],
                          depth: config.depths[s], downsample: s > 0, eps: eps)
        }
        headNorm = LayerNormLayer(trunk.scope("head.norm"), dim: dims[3], eps: eps)
        switch config.head {
        case .linear:
            proj = LinearLayer(w.scope("head.proj"), in: dims[3], out: config.embedDim, bias: false)
            mlpFC1 = nil
            mlpFC2 = nil
        case .mlp:
            proj = nil
            mlpFC1 = LinearLayer(w.scope("head.mlp.fc1"), in: dims[3], out: 2 * config.embedDim, bias: true)
            mlpFC2 = LinearLayer(w.scope("head.mlp.fc2"), in: 2 * config.embedDim, out: config.embedDim, bias: false)
        }
    }

    /// g(v) = head(LayerNorm(v)) per pixel; [N, C] → [N, E] (no L2 normalisation here).
    func denseProjection(_ x: Tensor) -> Tensor {
        let n = headNorm(x)
        if let proj { return proj(n) }
        return mlpFC2!(mlpFC1!(n, activation: .gelu))
    }

    /// The four stage outputs (os4 … os32) of the normalised image [3, H, W] (CHW). Each stage's seconds
    /// (downsample included) go to `timings` as `backbone.stageN`; `afterStage(i, map, lap)` runs right after stage
    /// i, before the next stage starts, and may time its own work with `lap(name)`.
    func trunk(_ input: Tensor, pool: BufferPool, timings: inout [String: Double],
               afterStage: (Int, FeatureMap, (String) -> Void) -> Void = { _, _, _ in }) -> [FeatureMap] {
        var clock = DispatchTime.now().uptimeNanoseconds
        var laps: [(String, Double)] = []
        func lap(_ name: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            laps.append((name, Double(now - clock) / 1e9))
            clock = now
        }
        let s = input.shape[1], sw = input.shape[2]
        let hwc = input.permuted([1, 2, 0]).contiguous()
        var (x, h, w) = stemConv(hwc, batch: 1, height: s, width: sw, pool: pool, slot: "trunk.stem")
        x = stemNorm(x)
        var outs: [FeatureMap] = []
        for (i, stage) in stages.enumerated() {
            if let norm = stage.downsampleNorm, let conv = stage.downsampleConv {
                let normed = norm(x)
                (x, h, w) = conv(normed, batch: 1, height: h, width: w, pool: nil)
            }
            stage.runBlocks(x, height: h, width: w, pool: pool)
            let map = FeatureMap(data: x, height: h, width: w)
            outs.append(map)
            lap("backbone.stage\(i)")
            afterStage(i, map, lap)
        }
        for (name, seconds) in laps { timings[name, default: 0] += seconds }
        return outs
    }
}
