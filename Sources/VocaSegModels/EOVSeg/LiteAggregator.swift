import Foundation
import VocaSegTensor

/// EOV-Seg's neck, `lite_aggr` (spec §2.4): a DCN feature pyramid from res5 down to stride 4, the four levels
/// summed at stride 4 after 1×1 convs and bilinear upsampling, a 3×3 output conv, CoordConv and a 1×1 conv to the
/// decoder width. Gives F0 [1, hidden, H/4, W/4].
struct LiteAggregator {
    /// `lateral_conv0 … 3`, applied to res5, res4, res3, res2 in that order.
    let laterals: [LiteAggregatorConv]
    /// `deform_conv1 … 3`: res5 level → res4 size → res3 size → res2 size.
    let deformLayers: [LiteAggregatorDeformLayer]
    /// `conv_a5, conv_a4, conv_a3, conv_a2` (1×1, no bias).
    let combine: [LiteAggregatorConv]
    /// `deconv.bias` [AGG], added to the sum.
    let combineBias: Tensor
    let outputConv: LiteAggregatorConv
    let locConv: LiteAggregatorConv

    /// `w` is the `lite_aggr` scope; `featureChannels` are C2…C5, `aggDim` is AGG_DIM, `hiddenDim` the output width.
    init(_ w: WeightScope, featureChannels c: [Int], aggDim: Int, hiddenDim: Int) {
        precondition(c.count == 4, "LiteAggregator: need the channels of res2…res5")
        let d = w.scope("deconv")
        let half = c.map { $0 / 2 }  // [C2/2, C3/2, C4/2, C5/2]
        // lateral_conv{i} reads res(5−i): C → C/2.
        laterals = (0..<4).map { i in
            LiteAggregatorConv(d.scope("lateral_conv\(i)"), in: c[3 - i], out: half[3 - i], kernel: 1)
        }
        // deform_conv{i} maps the level of res(6−i) (C/2 channels) to that of res(5−i).
        deformLayers = (1...3).map { i in
            LiteAggregatorDeformLayer(d.scope("deform_conv\(i)"), in: half[4 - i], out: half[3 - i])
        }
        combine = [5, 4, 3, 2].map { level in
            LiteAggregatorConv(d.scope("conv_a\(level)"), in: half[level - 2], out: aggDim, kernel: 1, bias: false)
        }
        combineBias = d.tensor("bias", [1, aggDim, 1, 1]).reshaped([aggDim])
        outputConv = LiteAggregatorConv(d.scope("output_conv"), in: aggDim, out: aggDim, kernel: 3)
        locConv = LiteAggregatorConv(w.scope("loc_conv"), in: aggDim + 2, out: hiddenDim, kernel: 1)
    }

    /// `features` = [res2, res3, res4, res5], each [1, C, H/s, W/s] of the padded input → F0 [1, hidden, H/4, W/4].
    func callAsFunction(features: [Tensor]) -> Tensor {
        opCheck(features.count == 4 && features.allSatisfy { $0.rank == 4 && $0.shape[0] == 1 },
                     "LiteAggregator: expected res2…res5 as [1, C, H, W]")
        // Top-down: x5 = lateral(res5); x_l = lateral(res_l) + deform(x_{l+1}).
        var levels = [laterals[0](features[3])]  // x5, x4, x3, x2
        for i in 1...3 {
            let up = deformLayers[i - 1](levels[i - 1])
            let lateral = laterals[i](features[3 - i])
            opCheck(up.shape == lateral.shape, "LiteAggregator: level sizes \(up.shape) vs \(lateral.shape)")
            Ops.addInPlace(lateral, up)
            levels.append(lateral)
        }
        // Sum at stride 4: up8(a5(x5)) + up4(a4(x4)) + up2(a3(x3)) + a2(x2) + bias, in the original's order.
        var sum: Tensor? = nil
        for (i, factor) in [8.0, 4.0, 2.0, 1.0].enumerated() {
            var t = combine[i](levels[i])
            if factor != 1 { t = Ops.interpolateBilinear(t, scaleFactor: (factor, factor), alignCorners: false) }
            if let s = sum { Ops.addInPlace(s, t) } else { sum = t }
        }
        let s = sum!
        Ops.addChannelBiasInPlace(s, bias: combineBias)
        let out = outputConv(s)
        let withCoords = Ops.concat([out, Self.coordinates(height: out.shape[2], width: out.shape[3])], dim: 1)
        return locConv(withCoords)
    }

    /// CoordConv channels [1, 2, H, W]: x = linspace(−1, 1, W) along columns first, then y = linspace(−1, 1, H)
    /// along rows, on the padded size the features have.
    static func coordinates(height h: Int, width w: Int) -> Tensor {
        let xs = linspace(w), ys = linspace(h)
        let t = Tensor(uninitializedShape: [1, 2, h, w])
        let p = t.data
        for y in 0..<h {
            for x in 0..<w {
                p[y * w + x] = xs[x]
                p[h * w + y * w + x] = ys[y]
            }
        }
        return t
    }

    /// `torch.linspace(-1, 1, n)` in float32 as ATen's CPU kernel computes it: step = 2/(n − 1) in float, the first
    /// half start + i·step and the rest end − (n−1−i)·step, each a fused multiply-add (so the middle of an odd n is
    /// −2.98e-8 for n = 7, not 0, as torch prints).
    static func linspace(_ n: Int) -> [Float] {
        if n == 1 { return [-1] }
        let step: Float = 2 / Float(n - 1)
        let half = n / 2
        return (0..<n).map { i in
            i < half ? Float(-1).addingProduct(step, Float(i)) : Float(1).addingProduct(-step, Float(n - 1 - i))
        }
    }
}
