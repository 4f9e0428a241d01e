import Foundation

/// A ConvNeXt V1 block (timm `ConvNeXtBlock`, conv_mlp = False) as one fused op on NCHW feature maps:
///
///     y = x + γ ⊙ fc2(GELU(fc1(LayerNorm_C(dwconv7x7(x)))))
///
/// The MLP runs channels-last without permute copies: the depthwise output (NCHW) is layer-normed per pixel and
/// written straight into the [H·W, C] GEMM input; fc1 runs with its bias + GELU epilogue; fc2 has γ folded into
/// its weight and bias at load time (`prepared`); the residual add reads fc2's [H·W, C] output transposed back
/// into NCHW. All intermediates come from `pool`, so repeated calls allocate only the output.
public struct ConvNeXtBlockWeights: @unchecked Sendable {
    public let dwWeight: Tensor, dwBias: Tensor     // [C, 1, 7, 7], [C]
    public let normWeight: Tensor, normBias: Tensor // [C], [C]
    public let fc1Weight: Tensor, fc1Bias: Tensor   // [4C, C], [4C]
    public let fc2Weight: Tensor, fc2Bias: Tensor   // [C, 4C] and [C], already multiplied by γ
    public let eps: Float
    public var channels: Int { dwBias.count }

    /// Takes the checkpoint tensors as stored (timm names: conv_dw, norm, mlp.fc1, mlp.fc2, gamma) and folds γ into
    /// fc2: γ ⊙ (h·W2ᵀ + b2) = h·(diag(γ)·W2)ᵀ + γ ⊙ b2.
    public static func prepared(dwWeight: Tensor, dwBias: Tensor, normWeight: Tensor, normBias: Tensor,
                                fc1Weight: Tensor, fc1Bias: Tensor, fc2Weight: Tensor, fc2Bias: Tensor, gamma: Tensor?,
                                eps: Float = 1e-6) -> ConvNeXtBlockWeights {
        let c = dwBias.count
        opCheck(dwWeight.shape == [c, 1, 7, 7] || (dwWeight.rank == 4 && dwWeight.shape[0] == c),
                     "ConvNeXt block: depthwise weight \(dwWeight.shape)")
        opCheck(fc1Weight.rank == 2 && fc1Weight.shape[1] == c && fc2Weight.shape == [c, fc1Weight.shape[0]],
                     "ConvNeXt block: fc1 \(fc1Weight.shape), fc2 \(fc2Weight.shape) for \(c) channels")
        var w2 = fc2Weight.copy(), b2 = fc2Bias.copy()
        if let gamma {
            opCheck(gamma.count == c, "ConvNeXt block: γ has \(gamma.count) values")
            let g = gamma.toArray()
            let hidden = fc2Weight.shape[1]
            for o in 0..<c {
                for i in 0..<hidden { w2.data[o * hidden + i] *= g[o] }
                b2.data[o] *= g[o]
            }
        }
        w2 = w2.contiguous(); b2 = b2.contiguous()
        return ConvNeXtBlockWeights(dwWeight: dwWeight.contiguous(), dwBias: dwBias.contiguous(),
                                    normWeight: normWeight.contiguous(), normBias: normBias.contiguous(),
                                    fc1Weight: fc1Weight.contiguous(), fc1Bias: fc1Bias.contiguous(),
                                    fc2Weight: w2, fc2Bias: b2, eps: eps)
    }
}

extension Ops {
    /// Runs one ConvNeXt block on [1, C, H, W] (or [C, H, W]); returns a new tensor of the same shape.
    public static func convNeXtBlock(_ x: Tensor, _ w: ConvNeXtBlockWeights, pool: BufferPool? = nil) -> Tensor {
        let c = w.channels
        opCheck((x.rank == 4 && x.shape[0] == 1 || x.rank == 3) && x.shape[x.rank - 3] == c,
                     "convNeXtBlock: input \(x.shape) for \(c) channels (batch 1)")
        let h = x.shape[x.rank - 2], wd = x.shape[x.rank - 1], hw = h * wd
        let hidden = w.fc1Weight.shape[0]
        let src = x.contiguous()
        let pool = pool ?? BufferPool()
        let kh = w.dwWeight.shape[2]
        let dw = depthwiseConv2d(src, weight: w.dwWeight, bias: w.dwBias, geometry: Conv2dGeometry(padding: kh / 2),
                                 out: pool.tensor("convnext.dw", shape: src.shape))
        let tokens = pool.tensor("convnext.tokens", shape: [hw, c])
        layerNormChannelsFirstToLast(dw.data, channels: c, pixels: hw, weight: w.normWeight, bias: w.normBias,
                                     eps: w.eps, out: tokens.data)
        let hiddenT = pool.tensor("convnext.hidden", shape: [hw, hidden])
        linear(tokens, weight: w.fc1Weight, bias: w.fc1Bias, activation: .gelu, out: hiddenT)
        let mlpOut = pool.tensor("convnext.mlp", shape: [hw, c])
        linear(hiddenT, weight: w.fc2Weight, bias: w.fc2Bias, out: mlpOut)
        let out = Tensor(uninitializedShape: x.shape)
        addTransposed(src.data, mlpOut.data, channels: c, pixels: hw, out: out.data)
        withExtendedLifetime((src, dw, tokens, hiddenT, mlpOut)) {}
        return out
    }

    /// LayerNorm over C for every pixel of a [C, P] (channels-first) block, written as [P, C] rows (channels-last):
    /// the permute and the norm in one pass. Pixels go in tiles of 64 so that the strided writes stay in L1/L2.
    static func layerNormChannelsFirstToLast(_ s: UnsafePointer<Float>, channels c: Int, pixels p: Int, weight: Tensor,
                                             bias: Tensor, eps: Float, out d: UnsafeMutablePointer<Float>) {
        let tile = 64
        let tiles = (p + tile - 1) / tile
        let wp = weight.data, bp = bias.data
        Parallel.forRanges(tiles) { r in
            let mean = UnsafeMutablePointer<Float>.allocate(capacity: tile)
            let inv = UnsafeMutablePointer<Float>.allocate(capacity: tile)
            defer { mean.deallocate(); inv.deallocate() }
            for t in r {
                let p0 = t * tile, len = min(tile, p - p0)
                mean.initialize(repeating: 0, count: len)
                inv.initialize(repeating: 0, count: len)
                for ch in 0..<c { addRow(s + ch * p + p0, into: mean, len) }
                let invC = 1 / Float(c)
                for j in 0..<len { mean[j] *= invC }
                for ch in 0..<c { addSquaredDeviation(s + ch * p + p0, mean: mean, into: inv, len) }
                for j in 0..<len { inv[j] = 1 / (inv[j] * invC + eps).squareRoot() }
                // Write 8 channels × len pixels at a time: each pixel's 8 outputs are one 32-byte run.
                var ch = 0
                while ch < c {
                    let n = min(8, c - ch)
                    for j in 0..<len {
                        let m = mean[j], iv = inv[j]
                        let dst = d + (p0 + j) * c + ch
                        for k in 0..<n { dst[k] = (s[(ch + k) * p + p0 + j] - m) * iv * wp[ch + k] + bp[ch + k] }
                    }
                    ch += 8
                }
            }
        }
    }

    /// out[ch, q] = x[ch, q] + y[q, ch] for x, out [C, P] and y [P, C], in 32×32 blocks.
    static func addTransposed(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, channels c: Int, pixels p: Int,
                              out: UnsafeMutablePointer<Float>) {
        let b = 32
        let cBlocks = (c + b - 1) / b
        Parallel.forRanges(cBlocks) { r in
            for cb in r {
                let c0 = cb * b, c1 = min(c, c0 + b)
                var q0 = 0
                while q0 < p {
                    let q1 = min(p, q0 + b)
                    for ch in c0..<c1 {
                        let xr = x + ch * p, orow = out + ch * p
                        for q in q0..<q1 { orow[q] = xr[q] + y[q * c + ch] }
                    }
                    q0 = q1
                }
            }
        }
    }
}
