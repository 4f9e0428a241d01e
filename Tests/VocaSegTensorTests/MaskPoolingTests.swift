import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct MaskPoolingTests {
    @Test(arguments: [("mp_masks", "mp_out"), ("mp_masks_big", "mp_out_big")])
    func binaryMaskAverage(_ maskName: String, _ outName: String) throws {
        let f = try StructuralGoldens.tensor("mp_feats")
        let m = try StructuralGoldens.tensor(maskName)
        let expected = try StructuralGoldens.array(outName)
        let y = Ops.maskPool(features: f, masks: m)
        #expect(y.shape == expected.shape)
        let c = closeness(y.toArray(), expected.floats, atol: 1e-5, rtol: 1e-5, label: outName)
        #expect(c.passed, "\(c)")
    }

    @Test func emptyMaskGivesZeros() throws {
        let y = Ops.maskPool(features: try StructuralGoldens.tensor("mp_feats"),
                             masks: try StructuralGoldens.tensor("mp_masks"))
        #expect(Array(y.toArray()[12..<18]) == [Float](repeating: 0, count: 6))
    }

    @Test func softMaskSum() throws {
        let y = Ops.maskPool(features: try StructuralGoldens.tensor("mp_feats"),
                             masks: try StructuralGoldens.tensor("mp_soft_masks"), binarize: false, normalize: false)
        let expected = try StructuralGoldens.array("mp_soft_sum")
        let c = closeness(y.toArray(), expected.floats, atol: 1e-4, rtol: 1e-5)
        #expect(c.passed, "\(c)")
    }
}
