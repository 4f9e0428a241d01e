import Testing
import VocaSegTestSupport
import VocaSegTensor

/// `--precision bf16`: products with bfloat16 inputs and fp32 sums, against PyTorch's product of its own
/// bfloat16-rounded inputs (Scripts/reference/gemm_bf16_goldens.py). Each case also checks that the result is
/// measurably NOT the fp32 product, so a silent fallback to fp32 cannot pass. Skipped on CPUs without AVX512_BF16
/// (there the setting leaves every product fp32, which the fp32 tests cover).
@Suite(.enabled(if: BLAS.bf16Available, "this CPU has no AVX512_BF16")) struct BF16GemmTests {
    typealias G = DenseGoldens

    static var bf16: KernelSettings {
        var settings = KernelSettings()
        settings.gemmPrecision = .bf16
        return settings
    }

    /// |y − y_fp32| somewhere above what fp32 summation order could explain: the inputs really were rounded.
    static func expectNotFP32(_ actual: Tensor, _ caseName: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fp32 = try G.tensor(caseName, "y_fp32")
        let result = closeness(actual.toArray(), fp32.toArray(), atol: 1e-3, label: "\(caseName) vs fp32")
        #expect(!result.passed, "\(caseName): result equals the fp32 product within 1e-3, so bf16 did not run",
                sourceLocation: sourceLocation)
    }

    /// k = 517 (three k blocks, the last odd), m = 400 (two row blocks), n = 3100 (two column blocks, a 28-wide
    /// tail sliver); each with every transpose combination, from transposed copies of the operands.
    @Test(arguments: ["bf16_gemm_k517", "bf16_gemm_m400", "bf16_gemm_n3100"])
    func matmulMatchesPyTorch(caseName: String) throws {
        let a = try G.tensor(caseName, "a"), b = try G.tensor(caseName, "b")
        let at = a.transposed(0, 1).contiguous(), bt = b.transposed(0, 1).contiguous()
        for (left, right, transA, transB) in [(a, b, false, false), (at, b, true, false), (a, bt, false, true),
                                              (at, bt, true, true)] {
            let y = KernelSettings.with(Self.bf16) { Ops.matmul(left, right, transA: transA, transB: transB) }
            try G.check(y, caseName, atol: 1e-4, rtol: 1e-5)
            try Self.expectNotFP32(y, caseName)
        }
        // One worker (inside a forEachItem item the product is a single band).
        ParallelConfig.forEachItem(1) { _, _ in
            let y = KernelSettings.with(Self.bf16) { Ops.matmul(a, b) }
            #expect(throws: Never.self) { try G.check(y, caseName, atol: 1e-4, rtol: 1e-5) }
        }
    }

    /// Outside a bf16 scope the same product is fp32 again (the setting is scoped, not global).
    @Test func defaultStaysFP32() throws {
        let a = try G.tensor("bf16_gemm_k517", "a"), b = try G.tensor("bf16_gemm_k517", "b")
        _ = KernelSettings.with(Self.bf16) { Ops.matmul(a, b) }
        try G.check(Ops.matmul(a, b), "bf16_gemm_k517", "y_fp32", atol: 1e-4, rtol: 1e-5)
    }

    /// Packed linear weights (the ConvNeXt MLPs and the aggregator's projections): 301 rows (a partial row tile
    /// and a partial 12-row block), 70 outputs (a 6-wide tail sliver), with bias and GELU, and accumulating into a
    /// residual.
    @Test func packedLinearMatchesPyTorch() throws {
        let x = try G.tensor("bf16_linear_gelu", "x"), w = try G.tensor("bf16_linear_gelu", "w")
        let b = try G.tensor("bf16_linear_gelu", "b")
        let packed = PackedLinearWeight(weight: w, bias: b)
        let y = KernelSettings.with(Self.bf16) { Ops.linear(x, packed: packed, activation: .gelu) }
        try G.check(y, "bf16_linear_gelu", atol: 1e-4, rtol: 1e-5)
        try Self.expectNotFP32(y, "bf16_linear_gelu")
        // The same weight in fp32 afterwards: packing for bf16 left the fp32 panels alone.
        try G.check(Ops.linear(x, packed: packed, activation: .gelu), "bf16_linear_gelu", "y_fp32", atol: 1e-4)

        let out = try G.tensor("bf16_linear_accumulate", "r").copy()
        KernelSettings.with(Self.bf16) { Ops.linear(x, packed: packed, out: out, accumulate: true) }
        try G.check(out, "bf16_linear_accumulate", atol: 1e-4, rtol: 1e-5)
        try Self.expectNotFP32(out, "bf16_linear_accumulate")
    }

    /// The fused attention schedule (unmasked, value heads a multiple of 16) through the bf16 kernel: 2 batches ×
    /// 2 heads, 37 queries, 50 keys, d = 32, dv = 48; on the engine's threads and inside a one-worker item.
    @Test func fusedAttentionMatchesPyTorch() throws {
        let q = try G.tensor("bf16_attention", "q"), k = try G.tensor("bf16_attention", "k")
        let v = try G.tensor("bf16_attention", "v")
        let y = KernelSettings.with(Self.bf16) { Ops.attention(query: q, key: k, value: v, heads: 2) }
        try G.check(y, "bf16_attention", atol: 5e-5, rtol: 1e-5)
        try Self.expectNotFP32(y, "bf16_attention")
        ParallelConfig.forEachItem(1) { _, _ in
            let y1 = KernelSettings.with(Self.bf16) { Ops.attention(query: q, key: k, value: v, heads: 2) }
            #expect(throws: Never.self) { try G.check(y1, "bf16_attention", atol: 5e-5, rtol: 1e-5) }
        }
        try G.check(Ops.attention(query: q, key: k, value: v, heads: 2), "bf16_attention", "y_fp32", atol: 1e-5)
    }

    /// A ConvNeXt block through the wide-block MLP path (forced at width 16): prepacked bf16 weights (γ folded in),
    /// bias and GELU fused in the kernel, fc2 added into the residual stream.
    @Test func wideConvNeXtBlockMatchesPyTorch() throws {
        let n = "bf16_convnext_block"
        let w = ConvNeXtBlockWeights.prepared(
            dwWeight: try G.tensor(n, "dw_w"), dwBias: try G.tensor(n, "dw_b"), normWeight: try G.tensor(n, "ln_w"),
            normBias: try G.tensor(n, "ln_b"), fc1Weight: try G.tensor(n, "w1"), fc1Bias: try G.tensor(n, "b1"),
            fc2Weight: try G.tensor(n, "w2"), fc2Bias: try G.tensor(n, "b2"), gamma: try G.tensor(n, "gamma"),
            tiledMLPMaxDim: 8)
        #expect(w.fc1Packed == nil, "width 16 must take the wide path here")
        let pool = BufferPool(), x = try G.tensor(n, "x")
        let y = KernelSettings.with(Self.bf16) { Ops.convNeXtBlock(x, w, pool: pool) }
        // The GELU output is rounded to bf16 before fc2: where ours (fp32) and the reference (fp64) sit on either
        // side of a rounding boundary, that element of fc2's input differs by one bf16 step, which moves a few
        // outputs by up to ~1e-3. So: every element within 2e-3, and all but 1 % within 2e-4.
        try G.check(y, n, atol: 2e-3, rtol: 1e-5)
        let tight = closeness(y.toArray(), try G.tensor(n, "y").toArray(), atol: 2e-4, rtol: 1e-5, label: n)
        #expect(tight.mismatches * 100 <= y.count, "\(tight)")
        try Self.expectNotFP32(y, n)
        try G.check(Ops.convNeXtBlock(x, w, pool: pool), n, "y_fp32", atol: 1e-4)
    }
}
