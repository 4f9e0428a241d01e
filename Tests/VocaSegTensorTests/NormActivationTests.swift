import Testing
import VocaSegTensor

@Suite struct NormTests {
    typealias G = DenseGoldens

    @Test func layerNormLastDim() throws {
        for name in ["layernorm_37", "layernorm_640_offset"] {
            let x = try G.tensor(name, "x")
            try G.check(Ops.layerNorm(x, weight: G.tensor(name, "w"), bias: G.tensor(name, "b"), eps: 1e-5), name)
        }
        try G.check(Ops.layerNorm(G.tensor("layernorm_noaffine", "x"), weight: nil, bias: nil, eps: 1e-6),
                    "layernorm_noaffine")
    }

    @Test func layerNormInPlaceIntoOut() throws {
        let x = try G.tensor("layernorm_37", "x").copy()
        Ops.layerNorm(x, weight: try G.tensor("layernorm_37", "w"), bias: try G.tensor("layernorm_37", "b"), eps: 1e-5,
                      out: x)
        try G.check(x, "layernorm_37")
    }

    @Test func layerNorm2dChannelsFirst() throws {
        for name in ["layernorm2d", "layernorm2d_tiles"] {
            let x = try G.tensor(name, "x")
            try G.check(Ops.layerNorm2d(x, weight: G.tensor(name, "w"), bias: G.tensor(name, "b"), eps: 1e-6), name)
        }
    }

    @Test func groupNorm() throws {
        try G.check(Ops.groupNorm(G.tensor("groupnorm_g4", "x"), groups: 4, weight: G.tensor("groupnorm_g4", "w"),
                                  bias: G.tensor("groupnorm_g4", "b"), eps: 1e-5), "groupnorm_g4")
        let n = "groupnorm_g2_relu"
        try G.check(Ops.groupNorm(G.tensor(n, "x"), groups: 2, weight: G.tensor(n, "w"), bias: G.tensor(n, "b"),
                                  eps: 1e-5, activation: .relu), n)
    }

    @Test func batchNormFoldedIntoConv() throws {
        let n = "bnfold"
        let folded = Ops.foldBatchNorm(convWeight: try G.tensor(n, "w"), convBias: try G.tensor(n, "b"),
                                       gamma: try G.tensor(n, "gamma"), beta: try G.tensor(n, "beta"),
                                       mean: try G.tensor(n, "mean"), variance: try G.tensor(n, "var"), eps: 1e-5)
        try G.check(Ops.conv2d(G.tensor(n, "x"), weight: folded.weight, bias: folded.bias, padding: 1, activation: .relu),
                    n)
    }
}

@Suite struct ActivationTests {
    typealias G = DenseGoldens

    @Test(arguments: [("gelu", Activation.gelu), ("quickgelu", .quickGelu), ("relu", .relu), ("relu6", .relu6),
                      ("sigmoid", .sigmoid), ("tanh", .tanh)])
    func pointwise(name: String, activation: Activation) throws {
        let x = try G.tensor("act", "x")
        // GELU/QuickGELU/sigmoid within 1e-6 absolute plus 1e-6 relative (|x| reaches 12).
        try G.check(Ops.activate(x, activation), "act", name, atol: 1e-6, rtol: 1e-6)
        let inPlace = x.copy()
        Ops.activateInPlace(inPlace, activation)
        try G.check(inPlace, "act", name, atol: 1e-6, rtol: 1e-6)
    }

    @Test func softmaxWithMasksAndLargeLogits() throws {
        try G.check(Ops.softmax(G.tensor("softmax_masked", "x")), "softmax_masked", atol: 1e-6)
        try G.check(Ops.softmax(G.tensor("softmax_large", "x")), "softmax_large", atol: 1e-6)
    }
}

@Suite struct ElementwiseTests {
    typealias G = DenseGoldens

    @Test func broadcastBinary() throws {
        let a = try G.tensor("add_broadcast", "a"), b = try G.tensor("add_broadcast", "b")
        try G.check(Ops.add(a, b), "add_broadcast", atol: 0, rtol: 0)
        try G.check(Ops.mul(a, b), "mul_broadcast", atol: 0, rtol: 0)
        let c = a.copy()
        Ops.addInPlace(c, b)
        try G.check(c, "add_broadcast", atol: 0, rtol: 0)
    }

    @Test func layerScaleResidual() throws {
        let x = try G.tensor("layerscale_residual", "x").copy()
        Ops.addScaledResidualInPlace(x, try G.tensor("layerscale_residual", "f"),
                                     gamma: try G.tensor("layerscale_residual", "gamma"))
        try G.check(x, "layerscale_residual", atol: 1e-6)
    }

    @Test func channelBiasWithActivation() throws {
        let x = try G.tensor("channel_bias_relu", "x").copy()
        Ops.addChannelBiasInPlace(x, bias: try G.tensor("channel_bias_relu", "b"), activation: .relu)
        try G.check(x, "channel_bias_relu", atol: 0, rtol: 0)
    }

    /// The star-MLP gate: the first half of [u | v] becomes ReLU6(u) ⊙ v, exactly as PyTorch (a clamp and one
    /// product per element); the second half is left as it was.
    @Test func relu6Gate() throws {
        let h = try G.tensor("relu6_gate", "h").copy()
        let v = h.narrowed(dim: 1, start: 13, length: 13).contiguous().toArray()
        Ops.relu6GateInPlace(h)
        try G.check(h.narrowed(dim: 1, start: 0, length: 13).contiguous(), "relu6_gate", atol: 0, rtol: 0)
        #expect(h.narrowed(dim: 1, start: 13, length: 13).contiguous().toArray() == v)
    }

    @Test func scaleAndClamp() {
        let x = Tensor(shape: [11], data: (0..<11).map { Float($0) * 4 - 20 })
        #expect(Ops.scale(x, 0.5).toArray() == (0..<11).map { Float($0) * 2 - 10 })
        #expect(Ops.clamp(x, min: -16, max: 16).toArray() == (0..<11).map { min(16, max(-16, Float($0) * 4 - 20)) })
    }

    @Test func bufferPoolReusesStorage() {
        let pool = BufferPool()
        let a = pool.tensor("x", shape: [4, 8])
        let b = pool.tensor("x", shape: [2, 8])
        #expect(a.storage === b.storage)
        let c = pool.tensor("x", shape: [10, 10])  // grows
        #expect(c.storage !== a.storage && c.storage.count >= 100)
        #expect(pool.tensor("y", shape: [3]).storage !== c.storage)
    }
}
