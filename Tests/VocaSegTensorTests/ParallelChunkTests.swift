import Testing
import VocaSegTestSupport
import VocaSegTensor

/// The golden cases are small, so most kernels run them inline on one chunk. Here the golden inputs are repeated
/// along the leading dimension until the kernels split the work into several parallel chunks, and every copy must
/// still match the golden output.
@Suite struct ParallelChunkTests {
    typealias G = DenseGoldens

    /// `t` repeated `times` along a new leading dimension, flattened into dimension 0.
    func tiled(_ t: Tensor, _ times: Int) -> Tensor {
        let one = t.toArray()
        var data: [Float] = []
        data.reserveCapacity(one.count * times)
        for _ in 0..<times { data += one }
        var shape = t.shape
        shape[0] *= times
        return Tensor(shape: shape, data: data)
    }

    func expectTiled(_ actual: Tensor, _ caseName: String, _ name: String = "y", times: Int, atol: Float,
                     rtol: Float = 1e-5) throws {
        let expected = tiled(try G.tensor(caseName, name), times)
        #expect(actual.shape == expected.shape)
        let r = closeness(actual.toArray(), expected.toArray(), atol: atol, rtol: rtol, label: "\(caseName) ×\(times)")
        #expect(r.passed, "\(r)")
    }

    @Test func pointwiseSoftmaxNormsLinearInChunks() throws {
        let x = tiled(try G.tensor("act", "x"), 64)
        try expectTiled(Ops.gelu(x), "act", "gelu", times: 64, atol: 1e-6, rtol: 1e-6)
        try expectTiled(Ops.sigmoid(x), "act", "sigmoid", times: 64, atol: 1e-6, rtol: 1e-6)

        try expectTiled(Ops.softmax(tiled(try G.tensor("softmax_masked", "x"), 100)), "softmax_masked", times: 100,
                        atol: 1e-6)

        let n = "layernorm_640_offset"
        try expectTiled(Ops.layerNorm(tiled(try G.tensor(n, "x"), 10), weight: try G.tensor(n, "w"),
                                      bias: try G.tensor(n, "b"), eps: 1e-5), n, times: 10, atol: 1e-5)

        let l = "linear_tiled_gelu"
        try expectTiled(Ops.linear(tiled(try G.tensor(l, "x"), 10), weight: try G.tensor(l, "w"), bias: try G.tensor(l, "b"),
                                   activation: .gelu), l, times: 10, atol: 2e-6)

        let a = tiled(try G.tensor("add_broadcast", "a"), 200)
        try expectTiled(Ops.add(a, try G.tensor("add_broadcast", "b")), "add_broadcast", times: 200, atol: 0, rtol: 0)
    }
}
