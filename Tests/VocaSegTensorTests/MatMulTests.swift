import Testing
import VocaSegTensor

@Suite struct MatMulTests {
    typealias G = DenseGoldens

    @Test func plain2D() throws {
        try G.check(Ops.matmul(G.tensor("matmul_2d", "a"), G.tensor("matmul_2d", "b")), "matmul_2d")
    }

    @Test func batched() throws {
        try G.check(Ops.matmul(G.tensor("matmul_batched", "a"), G.tensor("matmul_batched", "b")), "matmul_batched")
    }

    @Test func transposeFlagAndTransposedViewAgree() throws {
        let a = try G.tensor("matmul_transb", "a"), b = try G.tensor("matmul_transb", "b")
        try G.check(Ops.matmul(a, b, transB: true), "matmul_transb")
        // The same product from a transposed view (handed to BLAS as a transpose, no copy).
        try G.check(Ops.matmul(a, b.transposed(0, 1)), "matmul_transb")
        // And from a permuted left operand: (aᵀ)ᵀ.
        try G.check(Ops.matmul(a.transposed(0, 1).contiguous(), b, transA: true, transB: true), "matmul_transb")
    }

    @Test func batchedTransAWithSharedRight() throws {
        let a = try G.tensor("matmul_transa_shared", "a"), b = try G.tensor("matmul_transa_shared", "b")
        try G.check(Ops.matmul(a, b, transA: true), "matmul_transa_shared")
    }

    @Test func linearVariants() throws {
        let x = try G.tensor("linear", "x"), w = try G.tensor("linear", "w"), b = try G.tensor("linear", "b")
        try G.check(Ops.linear(x, weight: w, bias: b), "linear")
        try G.check(Ops.linear(x, weight: w, bias: b, activation: .gelu), "linear_gelu", atol: 2e-6)
        try G.check(Ops.linear(x, weight: w, bias: b, activation: .quickGelu), "linear_quickgelu", atol: 2e-6)
        try G.check(Ops.linear(x, weight: w), "linear_nobias")
    }

    @Test func linearEpilogueTiles() throws {
        let x = try G.tensor("linear_tiled_gelu", "x"), w = try G.tensor("linear_tiled_gelu", "w")
        let b = try G.tensor("linear_tiled_gelu", "b")
        for tile in [7, 64, 1000] {
            var forced = KernelSettings()
            forced.linearEpilogueTileRows = tile
            let y = KernelSettings.with(forced) { Ops.linear(x, weight: w, bias: b, activation: .gelu) }
            try G.check(y, "linear_tiled_gelu", atol: 2e-6)
        }
    }

    @Test func linearAccumulatesIntoOut() throws {
        let x = try G.tensor("linear_accumulate", "x"), w = try G.tensor("linear_accumulate", "w")
        let b = try G.tensor("linear_accumulate", "b"), residual = try G.tensor("linear_accumulate", "r")
        let out = residual.copy()
        Ops.linear(x, weight: w, bias: b, out: out, accumulate: true)
        try G.check(out, "linear_accumulate")
    }

    // MARK: packed weights (6×16 kernel)

    /// Every existing linear golden through the packed path: one full 6-row block with a 7-wide panel, and 300
    /// rows with 33 outputs (two panels and a 1-wide tail), with bias, GELU and without bias.
    @Test func packedLinearMatchesTheLinearGoldens() throws {
        let x = try G.tensor("linear", "x"), w = try G.tensor("linear", "w"), b = try G.tensor("linear", "b")
        try G.check(Ops.linear(x, packed: PackedLinearWeight(weight: w, bias: b)), "linear")
        try G.check(Ops.linear(x, packed: PackedLinearWeight(weight: w, bias: b), activation: .gelu), "linear_gelu",
                    atol: 2e-6)
        try G.check(Ops.linear(x, packed: PackedLinearWeight(weight: w, bias: nil)), "linear_nobias")
        let xt = try G.tensor("linear_tiled_gelu", "x"), wt = try G.tensor("linear_tiled_gelu", "w")
        let bt = try G.tensor("linear_tiled_gelu", "b")
        try G.check(Ops.linear(xt, packed: PackedLinearWeight(weight: wt, bias: bt), activation: .gelu),
                    "linear_tiled_gelu", atol: 2e-6)
    }

    /// 301 rows (a 1-row tail block), 45 outputs (a 13-wide tail panel), K = 37, ReLU6; on one thread and with
    /// the engine's threads, and from a strided view of a wider input.
    @Test func packedLinearTailsAndStridedInput() throws {
        let name = "linear_packed_relu6"
        let x = try G.tensor(name, "x"), w = try G.tensor(name, "w"), b = try G.tensor(name, "b")
        let packed = PackedLinearWeight(weight: w, bias: b)
        try G.check(Ops.linear(x, packed: packed, activation: .relu6), name)
        ParallelConfig.forEachItem(1) { _, _ in
            #expect(throws: Never.self) { try G.check(Ops.linear(x, packed: packed, activation: .relu6), name) }
        }
        let rows = x.shape[0], k = x.shape[1]
        let wide = Tensor(zeros: [rows, k + 11])
        for r in 0..<rows { (wide.data + r * (k + 11) + 5).update(from: x.data + r * k, count: k) }
        try G.check(Ops.linear(wide.narrowed(dim: 1, start: 5, length: k), packed: packed,
                               activation: .relu6), name)
    }

    /// The aggregator's 128 → 128 projection accumulating onto a residual (out += x·Wᵀ + b), 50 rows.
    @Test func packedLinearAccumulates() throws {
        let name = "linear_packed_k128_accumulate"
        let x = try G.tensor(name, "x"), w = try G.tensor(name, "w"), b = try G.tensor(name, "b")
        let out = try G.tensor(name, "r").copy()
        Ops.linear(x, packed: PackedLinearWeight(weight: w, bias: b), out: out, accumulate: true)
        try G.check(out, name, atol: 1e-5)
    }
}
