import Testing
import VocaSegTestSupport
import VocaSegTensor

@Suite struct ConvTests {
    typealias G = DenseGoldens

    /// (case, stride, padding, dilation, groups, activation) — must match ops_dense_goldens.py.
    static let convCases: [(String, Int, Int, Int, Int, Activation)] = [
        ("conv_1x1", 1, 0, 1, 1, .identity),
        ("conv_3x3_p1", 1, 1, 1, 1, .identity),
        ("conv_3x3_s2_p1", 2, 1, 1, 1, .identity),
        ("conv_3x3_d2_p2", 1, 2, 2, 1, .identity),
        ("conv_3x3_g2_p1", 1, 1, 1, 2, .identity),
        ("conv_1x1_g3", 1, 0, 1, 3, .identity),
        ("conv_4x4_s4", 4, 0, 1, 1, .identity),
        ("conv_2x2_s2", 2, 0, 1, 1, .identity),
        ("conv_2x2_s1_p1", 1, 1, 1, 1, .identity),
        ("conv_7x7_cin1_p3", 1, 3, 1, 1, .identity),
        ("conv_1x1_s2", 2, 0, 1, 1, .identity),
        ("conv_3x3_p1_relu6", 1, 1, 1, 1, .relu6),
        ("conv_3x3_p1_w41", 1, 1, 1, 1, .identity),
        ("conv_3x3_p1_w40_c5", 1, 1, 1, 1, .identity),
    ]

    @Test(arguments: convCases.map(\.0))
    func conv2d(name: String) throws {
        let (_, s, p, d, g, act) = try #require(Self.convCases.first { $0.0 == name })
        let x = try G.tensor(name, "x"), w = try G.tensor(name, "w"), b = try G.tensor(name, "b")
        try G.check(Ops.conv2d(x, weight: w, bias: b, stride: s, padding: p, dilation: d, groups: g, activation: act), name)
    }

    /// Forces the im2col + GEMM paths (no direct kernel): one output row per tile, then several images per GEMM.
    @Test func conv2dGemmPathsWithPool() throws {
        let pool = BufferPool()
        for budget in [40, 1 << 21] {
            var forced = KernelSettings()
            forced.directConvMaxOutputChannels = 0
            forced.im2colBudget = budget
            for name in ["conv_3x3_p1", "conv_3x3_s2_p1", "conv_3x3_g2_p1", "conv_3x3_d2_p2", "conv_7x7_cin1_p3",
                         "conv_3x3_p1_relu6", "conv_3x3_p1_w41"] {
                let (_, s, p, d, g, act) = try #require(Self.convCases.first { $0.0 == name })
                let x = try G.tensor(name, "x"), w = try G.tensor(name, "w"), b = try G.tensor(name, "b")
                for _ in 0..<2 {  // the second run reuses the pool's column buffer
                    let y = KernelSettings.with(forced) {
                        Ops.conv2d(x, weight: w, bias: b, stride: s, padding: p, dilation: d, groups: g,
                                   activation: act, pool: pool)
                    }
                    try G.check(y, name)
                }
            }
        }
    }

    @Test func conv2dReluNoBias() throws {
        let name = "conv_3x3_p1_relu_nobias"
        try G.check(Ops.conv2d(G.tensor(name, "x"), weight: G.tensor(name, "w"), padding: 1, activation: .relu), name)
    }

    @Test func conv2dUnbatchedInput() throws {
        let x = try G.tensor("conv_3x3_p1", "x"), w = try G.tensor("conv_3x3_p1", "w"), b = try G.tensor("conv_3x3_p1", "b")
        let y0 = Ops.conv2d(x[index: 0], weight: w, bias: b, padding: 1)
        let expected = try G.tensor("conv_3x3_p1", "y")[index: 0]
        #expect(y0.shape == expected.shape)
        let diff = zip(y0.toArray(), expected.toArray()).map { abs($0 - $1) }.max() ?? .infinity
        #expect(diff <= 1e-5, "max |diff| \(diff)")
    }

    /// (case, kernel, stride, padding, dilation)
    static let depthwiseCases: [(String, Int, Int, Int)] = [
        ("dw_7x7_p3", 1, 3, 1), ("dw_7x7_p3_w40", 1, 3, 1), ("dw_7x7_p3_w70", 1, 3, 1), ("dw_3x3_p1", 1, 1, 1),
        ("dw_3x3_s2_p1", 2, 1, 1), ("dw_5x5_d2_p4", 1, 4, 2), ("dw_3x3_p0", 1, 0, 1), ("dw_7x7_p3_c24", 1, 3, 1),
    ]

    /// The channels-last kernel on the stride-1 depthwise goldens, permuted to [B, H, W, C]; also with
    /// `accumulate` onto a residual (out = x + dwconv(x)).
    @Test(arguments: ["dw_7x7_p3", "dw_7x7_p3_w40", "dw_7x7_p3_w70", "dw_3x3_p1", "dw_3x3_p0", "dw_7x7_p3_c24"])
    func depthwiseChannelsLast(name: String) throws {
        let (_, _, p, _) = try #require(Self.depthwiseCases.first { $0.0 == name })
        let x = try G.tensor(name, "x"), w = try G.tensor(name, "w"), b = try G.tensor(name, "b")
        let y = try G.tensor(name, "y")
        let k = w.shape[2]
        let xl = x.permuted([0, 2, 3, 1]).contiguous()
        let out = Tensor(uninitializedShape: y.permuted([0, 2, 3, 1]).shape)
        Ops.depthwiseConv2dChannelsLast(xl, packedWeight: Ops.packDepthwiseChannelsLast(w), bias: b, kernelH: k,
                                        kernelW: k, padH: p, padW: p, out: out)
        try G.check(out.permuted([0, 3, 1, 2]).contiguous(), name)
        if x.shape == y.shape {
            let residual = xl.copy()
            Ops.depthwiseConv2dChannelsLast(xl, packedWeight: Ops.packDepthwiseChannelsLast(w), bias: b, kernelH: k,
                                            kernelW: k, padH: p, padW: p, out: residual, accumulate: true)
            let expected = Ops.add(y, x).permuted([0, 2, 3, 1]).contiguous().toArray()
            let r = closeness(residual.toArray(), expected, atol: 1e-5, rtol: 1e-5, label: "\(name) accumulate")
            #expect(r.passed, "\(r)")
        }
    }

    @Test(arguments: depthwiseCases.map(\.0))
    func depthwise(name: String) throws {
        let (_, s, p, d) = try #require(Self.depthwiseCases.first { $0.0 == name })
        let x = try G.tensor(name, "x"), w = try G.tensor(name, "w"), b = try G.tensor(name, "b")
        try G.check(Ops.depthwiseConv2d(x, weight: w, bias: b, stride: s, padding: p, dilation: d), name)
        // conv2d with groups == channels must take the same path and agree.
        try G.check(Ops.conv2d(x, weight: w, bias: b, stride: s, padding: p, dilation: d, groups: x.shape[1]), name)
    }

    /// (case, stride, padding, output padding, dilation, groups)
    static let transposeCases: [(String, Int, Int, Int, Int, Int)] = [
        ("convt_k2s2", 2, 0, 0, 1, 1), ("convt_k3s2_p1_op1", 2, 1, 1, 1, 1), ("convt_k4s2_p1_g2", 2, 1, 0, 1, 2),
        ("convt_k3s1_d2", 1, 0, 0, 2, 1), ("convt_k2s2_w11", 2, 0, 0, 1, 1),
        ("convt_k2s2_w53", 2, 0, 0, 1, 1), ("convt_k3s3", 3, 0, 0, 1, 1),
    ]

    @Test(arguments: transposeCases.map(\.0))
    func convTranspose(name: String) throws {
        let (_, s, p, op, d, g) = try #require(Self.transposeCases.first { $0.0 == name })
        let x = try G.tensor(name, "x"), w = try G.tensor(name, "w"), b = try G.tensor(name, "b")
        try G.check(Ops.convTranspose2d(x, weight: w, bias: b, stride: s, padding: p, outputPadding: op, dilation: d,
                                        groups: g), name)
    }
}

@Suite struct ConvNeXtBlockTests {
    typealias G = DenseGoldens

    @Test func fusedBlockMatchesTimmOrder() throws {
        let n = "convnext_block"
        let w = ConvNeXtBlockWeights.prepared(
            dwWeight: try G.tensor(n, "dw_w"), dwBias: try G.tensor(n, "dw_b"), normWeight: try G.tensor(n, "ln_w"),
            normBias: try G.tensor(n, "ln_b"), fc1Weight: try G.tensor(n, "w1"), fc1Bias: try G.tensor(n, "b1"),
            fc2Weight: try G.tensor(n, "w2"), fc2Bias: try G.tensor(n, "b2"), gamma: try G.tensor(n, "gamma"))
        let pool = BufferPool()
        let x = try G.tensor(n, "x")
        for _ in 0..<2 {  // the second call reuses the pool's buffers
            try G.check(Ops.convNeXtBlock(x, w, pool: pool), n)
        }
    }
}
