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
        let saved = Ops.linearEpilogueTileRows
        defer { Ops.linearEpilogueTileRows = saved }
        for tile in [7, 64, 1000] {
            Ops.linearEpilogueTileRows = tile
            try G.check(Ops.linear(x, weight: w, bias: b, activation: .gelu), "linear_tiled_gelu", atol: 2e-6)
        }
    }

    @Test func linearAccumulatesIntoOut() throws {
        let x = try G.tensor("linear_accumulate", "x"), w = try G.tensor("linear_accumulate", "w")
        let b = try G.tensor("linear_accumulate", "b"), residual = try G.tensor("linear_accumulate", "r")
        let out = residual.copy()
        Ops.linear(x, weight: w, bias: b, out: out, accumulate: true)
        try G.check(out, "linear_accumulate")
    }
}
