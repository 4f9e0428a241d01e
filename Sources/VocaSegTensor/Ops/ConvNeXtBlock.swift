import Foundation

/// The weights of one ConvNeXt V1 block (timm `ConvNeXtBlock`, conv_mlp = False), prepared for the channels-last
/// kernel below: the depthwise weight packed [k·k, C], the layer scale γ folded into fc2
/// (γ ⊙ (h·W2ᵀ + b2) = h·(diag(γ)·W2)ᵀ + γ ⊙ b2), and for narrow blocks both MLP weights packed for
/// `Ops.linear(_:packed:)`. This is the one ConvNeXt block: the models' trunks run it and the golden test checks it.
public struct ConvNeXtBlockWeights: @unchecked Sendable {
    public let dwPacked: Tensor, dwBias: Tensor      // [k·k, C], [C]
    public let kernel: Int
    public let normWeight: Tensor, normBias: Tensor  // [C], [C]
    public let fc1Weight: Tensor, fc1Bias: Tensor    // [4C, C], [4C]
    public let fc2Weight: Tensor, fc2Bias: Tensor    // [C, 4C], [C], multiplied by γ
    /// Set for blocks that run their MLP in row tiles (C ≤ `ConvNeXtBlockWeights.tiledMLPMaxDim`).
    public let fc1Packed: PackedLinearWeight?, fc2Packed: PackedLinearWeight?
    /// The wide blocks' MLP weights for `--precision bf16`, packed on first use (narrow blocks have theirs inside
    /// `fc1Packed`/`fc2Packed`).
    let fc1BF16: BF16PackedWeight, fc2BF16: BF16PackedWeight
    public let eps: Float
    public var channels: Int { dwBias.count }

    /// Row-tiled MLP for blocks this narrow (their weights are packed once, 4C² floats each, 1 MB at C = 256).
    /// Wider blocks (C = 512: 4 MB per weight, only 1600 rows at 640 px) keep one GEMM per layer, split across
    /// workers by `BLAS.sgemm`.
    nonisolated(unsafe) public static var tiledMLPMaxDim = 256
    nonisolated(unsafe) public static var tiledMLPRows = 512

    /// Takes the checkpoint tensors as stored (timm names: conv_dw, norm, mlp.fc1, mlp.fc2, gamma).
    public static func prepared(dwWeight: Tensor, dwBias: Tensor, normWeight: Tensor, normBias: Tensor,
                                fc1Weight: Tensor, fc1Bias: Tensor, fc2Weight: Tensor, fc2Bias: Tensor, gamma: Tensor?,
                                eps: Float = 1e-6, tiledMLPMaxDim: Int = tiledMLPMaxDim) -> ConvNeXtBlockWeights {
        let c = dwBias.count
        opCheck(dwWeight.rank == 4 && dwWeight.shape[0] == c && dwWeight.shape[1] == 1
                    && dwWeight.shape[2] == dwWeight.shape[3], "ConvNeXt block: depthwise weight \(dwWeight.shape)")
        opCheck(fc1Weight.rank == 2 && fc1Weight.shape[1] == c && fc2Weight.shape == [c, fc1Weight.shape[0]],
                "ConvNeXt block: fc1 \(fc1Weight.shape), fc2 \(fc2Weight.shape) for \(c) channels")
        let w2 = fc2Weight.copy().contiguous(), b2 = fc2Bias.copy().contiguous()
        if let gamma {
            opCheck(gamma.count == c, "ConvNeXt block: γ has \(gamma.count) values")
            let g = gamma.toArray()
            let hidden = fc2Weight.shape[1]
            for o in 0..<c {
                for i in 0..<hidden { w2.data[o * hidden + i] *= g[o] }
                b2.data[o] *= g[o]
            }
        }
        let k = dwWeight.shape[2]
        let packed = dwWeight.contiguous().reshaped([c, k * k]).transposed(0, 1).contiguous()
        let tiled = c <= tiledMLPMaxDim
        let w1 = fc1Weight.contiguous(), b1 = fc1Bias.contiguous()
        return ConvNeXtBlockWeights(
            dwPacked: packed, dwBias: dwBias.contiguous(), kernel: k, normWeight: normWeight.contiguous(),
            normBias: normBias.contiguous(), fc1Weight: w1, fc1Bias: b1, fc2Weight: w2, fc2Bias: b2,
            fc1Packed: tiled ? PackedLinearWeight(weight: w1, bias: b1) : nil,
            fc2Packed: tiled ? PackedLinearWeight(weight: w2, bias: b2) : nil,
            fc1BF16: BF16PackedWeight(weight: w1), fc2BF16: BF16PackedWeight(weight: w2), eps: eps)
    }

    func fc1(_ x: Tensor, out: Tensor) {
        if let fc1Packed { Ops.linear(x, packed: fc1Packed, activation: .gelu, out: out) } else if
            !bf16Linear(x, fc1BF16, bias: fc1Bias, activation: .gelu, out: out, accumulate: false) {
            Ops.linear(x, weight: fc1Weight, bias: fc1Bias, activation: .gelu, out: out)
        }
    }

    /// fc2 added into the residual stream `out`.
    func fc2(_ x: Tensor, out: Tensor) {
        if let fc2Packed { Ops.linear(x, packed: fc2Packed, out: out, accumulate: true) } else if
            !bf16Linear(x, fc2BF16, bias: fc2Bias, activation: .identity, out: out, accumulate: true) {
            Ops.linear(x, weight: fc2Weight, bias: fc2Bias, out: out, accumulate: true)
        }
    }

    /// Under `--precision bf16` (and where the CPU has the kernels), the wide MLP layer through the prepacked bf16
    /// GEMM with bias, GELU and the residual add fused; false when it did not run (then fp32 does).
    private func bf16Linear(_ x: Tensor, _ weight: BF16PackedWeight, bias: Tensor, activation: Activation, out: Tensor,
                            accumulate: Bool) -> Bool {
        // Strided views (not what the trunk passes) take the fp32 path, which handles them.
        guard KernelSettings.current.gemmPrecision == .bf16, x.isContiguous, out.isContiguous,
              let packed = weight.lanes() else { return false }
        let inF = x.shape[x.rank - 1], outF = bias.count
        opCheck(out.count == x.count / inF * outF,
                "ConvNeXt MLP (bf16): input \(x.shape) and output \(out.shape) for \(inF) → \(outF)")
        Ops.linearBF16(a: UnsafePointer(x.data), lda: inF, rows: x.count / inF, inFeatures: inF, outFeatures: outF, packed: packed,
                       bias: UnsafePointer(bias.data), c: out.data, activation: activation, accumulate: accumulate)
        withExtendedLifetime((x, bias, out, weight)) {}
        return true
    }
}

extension Ops {
    /// One ConvNeXt block on channels-last data [H·W, C] (contiguous), updated in place:
    /// x += γ ⊙ fc2(GELU(fc1(LN(dwconv(x))))). fc2 adds straight into the residual stream. Scratch comes from
    /// `pool`, so repeated calls allocate nothing.
    public static func convNeXtBlockChannelsLast(_ x: Tensor, height: Int, width: Int, _ w: ConvNeXtBlockWeights,
                                                 pool: BufferPool) {
        let hw = height * width, dim = w.channels
        opCheck(x.isContiguous && x.count == hw * dim, "convNeXtBlockChannelsLast: input \(x.shape) for \(height)×\(width)×\(dim)")
        var clock = SectionProfile.start()
        let y = pool.tensor("convnext.dw", shape: [hw, dim])
        depthwiseConv2dChannelsLast(x.reshaped([1, height, width, dim]), packedWeight: w.dwPacked, bias: w.dwBias,
                                    kernelH: w.kernel, kernelW: w.kernel, out: y.reshaped([1, height, width, dim]),
                                    accumulate: false)
        SectionProfile.lap("convnext\(dim).dwconv", &clock)
        layerNorm(y, weight: w.normWeight, bias: w.normBias, eps: w.eps, out: y)
        SectionProfile.lap("convnext\(dim).norm", &clock)
        if w.fc1Packed != nil && hw >= 2 * ConvNeXtBlockWeights.tiledMLPRows {
            // Rows are independent in the MLP: each worker takes row tiles through fc1, GELU and fc2 on its own
            // (single-threaded GEMMs), so the 4C-wide hidden tile stays in its core's cache instead of a
            // [H·W, 4C] buffer (52 MB at 160×160×512) going through memory twice.
            let rows = ConvNeXtBlockWeights.tiledMLPRows
            ParallelConfig.forEachItem((hw + rows - 1) / rows) { worker, tile in
                let r0 = tile * rows, n = min(rows, hw - r0)
                let hidden = pool.tensor("convnext.hidden.\(worker)", shape: [n, 4 * dim])
                w.fc1(y.narrowed(dim: 0, start: r0, length: n), out: hidden)
                w.fc2(hidden, out: x.narrowed(dim: 0, start: r0, length: n))
            }
            SectionProfile.lap("convnext\(dim).mlp (row tiles)", &clock)
            return
        }
        let hidden = pool.tensor("convnext.hidden", shape: [hw, 4 * dim])
        w.fc1(y, out: hidden)
        SectionProfile.lap("convnext\(dim).fc1+gelu", &clock)
        w.fc2(hidden, out: x)
        SectionProfile.lap("convnext\(dim).fc2", &clock)
    }

    /// The same block on [1, C, H, W] (or [C, H, W]), returning a new tensor: a layout adapter around
    /// `convNeXtBlockChannelsLast` for callers holding NCHW maps (the golden test, the op benchmark).
    public static func convNeXtBlock(_ x: Tensor, _ w: ConvNeXtBlockWeights, pool: BufferPool? = nil) -> Tensor {
        let c = w.channels
        opCheck((x.rank == 4 && x.shape[0] == 1 || x.rank == 3) && x.shape[x.rank - 3] == c,
                "convNeXtBlock: input \(x.shape) for \(c) channels (batch 1)")
        let h = x.shape[x.rank - 2], wd = x.shape[x.rank - 1]
        let tokens = x.reshaped([c, h * wd]).transposed(0, 1).contiguous()
        convNeXtBlockChannelsLast(tokens, height: h, width: wd, w, pool: pool ?? BufferPool())
        return tokens.transposed(0, 1).contiguous().reshaped(x.shape)
    }
}
