import Testing
import VocaSegTensor
import VocaSegTestSupport

/// Serialized: some tests force the global attention schedule.
@Suite(.serialized) struct AttentionTests {
    // name, heads, has mask, causal, scale
    @Test(arguments: [
        ("attn_basic", 4, false, false, Float?.none), ("attn_dv", 3, true, false, nil),
        ("attn_batchmask", 2, true, false, 0.3), ("attn_headmask", 3, true, false, nil),
        ("attn_causal", 2, false, true, nil), ("attn_causal_rect", 1, false, true, nil),
        ("attn_sfm_small", 4, false, false, nil), ("attn_tiles", 2, false, false, nil),
        ("attn_tiles_causal", 1, false, true, nil), ("attn_cfm_small", 4, false, false, nil),
    ])
    func matchesPyTorch(_ name: String, _ heads: Int, _ hasMask: Bool, _ causal: Bool, _ scale: Float?) throws {
        let q = try StructuralGoldens.tensor(name + "_q")
        let k = try StructuralGoldens.tensor(name + "_k")
        let v = try StructuralGoldens.tensor(name + "_v")
        let mask = hasMask ? try StructuralGoldens.tensor(name + "_mask") : nil
        let expected = try StructuralGoldens.array(name + "_out")
        let out = Ops.attention(query: q, key: k, value: v, heads: heads, mask: mask, causal: causal, scale: scale)
        #expect(out.shape == expected.shape)
        let c = closeness(out.toArray(), expected.floats, atol: 2e-5, rtol: 1e-4, label: name)
        #expect(c.passed, "\(c)")
    }

    /// Every schedule against the same PyTorch goldens (the default picks one per problem, so each schedule is also
    /// run on shapes where it would not be chosen). The fused kernel applies to the unmasked cases whose value heads
    /// are a multiple of 16 wide: attn_tiles (45 query rows, not a multiple of its 4-row blocks; d = 48),
    /// attn_sfm_small and attn_cfm_small (12 keys, so a partly padded key block).
    @Test(arguments: AttentionSchedule.allCases,
          ["attn_basic", "attn_causal", "attn_tiles", "attn_tiles_causal", "attn_sfm_small", "attn_cfm_small"])
    func everyScheduleMatchesPyTorch(_ schedule: AttentionSchedule, _ name: String) throws {
        let heads = ["attn_basic": 4, "attn_causal": 2, "attn_tiles": 2, "attn_tiles_causal": 1, "attn_sfm_small": 4,
                     "attn_cfm_small": 4][name]!
        let causal = name.contains("causal")
        let q = try StructuralGoldens.tensor(name + "_q")
        let k = try StructuralGoldens.tensor(name + "_k")
        let v = try StructuralGoldens.tensor(name + "_v")
        var forced = KernelSettings()
        forced.attentionSchedule = schedule
        let out = KernelSettings.with(forced) { Ops.attention(query: q, key: k, value: v, heads: heads, causal: causal) }
        let c = closeness(out.toArray(), try StructuralGoldens.array(name + "_out").floats, atol: 2e-5, rtol: 1e-4,
                          label: "\(name) \(schedule)")
        #expect(c.passed, "\(c)")
    }

    /// Strided q/k/v (a transposed view) give the same result as contiguous ones.
    @Test func stridedInputs() throws {
        let q = try StructuralGoldens.tensor("attn_basic_q")
        let k = try StructuralGoldens.tensor("attn_basic_k")
        let v = try StructuralGoldens.tensor("attn_basic_v")
        let view = { (t: Tensor) in t.transposed(1, 2).contiguous().transposed(1, 2) }
        let a = Ops.attention(query: view(q), key: view(k), value: view(v), heads: 4).toArray()
        let expected = try StructuralGoldens.array("attn_basic_out")
        let c = closeness(a, expected.floats, atol: 2e-5, rtol: 1e-4)
        #expect(c.passed, "\(c)")
    }

    /// Softmax is invariant to adding a constant to a row: huge scores must not overflow (stable softmax).
    @Test func largeScoresStayFinite() {
        let q = Tensor(shape: [1, 3, 2], data: [100, 0, 0, 100, 50, 50])
        let k = Tensor(shape: [1, 2, 2], data: [100, 0, 0, 100])
        let v = Tensor(shape: [1, 2, 1], data: [1, 2])
        let out = Ops.attention(query: q, key: k, value: v, heads: 1, scale: 1).toArray()
        #expect(closeness(out, [1, 2, 1.5], atol: 1e-6).passed, "\(out)")
    }
}
