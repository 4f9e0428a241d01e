import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct PoolingTests {
    private func check(_ y: Tensor, _ name: String) throws {
        let expected = try StructuralGoldens.array(name)
        #expect(y.shape == expected.shape, "\(name): shape \(y.shape) vs \(expected.shape)")
        let c = closeness(y.toArray(), expected.floats, atol: 1e-6, rtol: 1e-6, label: name)
        #expect(c.passed, "\(c)")
    }

    @Test func averagePooling() throws {
        let x = try StructuralGoldens.tensor("pool_in")
        try check(Ops.avgPool2d(x, kernel: (2, 2)), "pool_avg2")
        try check(Ops.avgPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1)), "pool_avg3s2p1")
        try check(Ops.avgPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false),
                  "pool_avg3s2p1_nopad")
        try check(Ops.avgPool2d(x, kernel: (2, 3), stride: (1, 2)), "pool_avg_k2x3_s1x2")
    }

    @Test func maxPooling() throws {
        let x = try StructuralGoldens.tensor("pool_in")
        try check(Ops.maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1)), "pool_max3s2p1")
        try check(Ops.maxPool2d(x, kernel: (2, 2)), "pool_max2")
    }

    @Test func adaptiveAveragePooling() throws {
        let x = try StructuralGoldens.tensor("pool_in")
        try check(Ops.adaptiveAvgPool2d(x, outputSize: (4, 5)), "pool_adaptive_4x5")
        try check(Ops.adaptiveAvgPool2d(x, outputSize: (7, 3)), "pool_adaptive_7x3")
    }
}
