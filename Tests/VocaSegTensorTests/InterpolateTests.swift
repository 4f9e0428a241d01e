import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct InterpolateTests {
    @Test(arguments: [
        ("interp_up_ac0", 11, 16, false), ("interp_up_ac1", 11, 16, true),
        ("interp_down_ac0", 5, 6, false), ("interp_down_ac1", 5, 6, true),
        ("interp_mixed_ac0", 20, 4, false), ("interp_to1_ac1", 1, 3, true), ("interp_same_ac0", 6, 5, false),
        ("interp_cfm_ac1", 20, 20, true), ("interp_post_ac0", 37, 53, false),
    ])
    func sizeForm(_ name: String, _ h: Int, _ w: Int, _ alignCorners: Bool) throws {
        let x = try StructuralGoldens.tensor(name + "_in")
        let expected = try StructuralGoldens.array(name + "_out")
        let y = Ops.interpolateBilinear(x, size: (h, w), alignCorners: alignCorners)
        #expect(y.shape == expected.shape)
        let c = closeness(y.toArray(), expected.floats, atol: 2e-6, rtol: 1e-6, label: name)
        #expect(c.passed, "\(c)")
    }

    @Test(arguments: [
        ("interp_scale_ac0", 1.7, 0.45, false), ("interp_scale_ac1", 1.7, 0.45, true),
        ("interp_scale3_ac0", 1.0 / 3.0, 2.5, false), ("interp_scale2_ac0", 2.0, 2.0, false),
    ])
    func scaleFactorForm(_ name: String, _ sh: Double, _ sw: Double, _ alignCorners: Bool) throws {
        let x = try StructuralGoldens.tensor(name + "_in")
        let expected = try StructuralGoldens.array(name + "_out")
        let y = Ops.interpolateBilinear(x, scaleFactor: (sh, sw), alignCorners: alignCorners)
        #expect(y.shape == expected.shape)
        let c = closeness(y.toArray(), expected.floats, atol: 2e-6, rtol: 1e-6, label: name)
        #expect(c.passed, "\(c)")
    }

    /// The scale form must differ from the size form when in·s is not an integer (9·1.7 = 15.3 → 15 rows).
    @Test func scaleFormIsNotSizeForm() throws {
        let x = try StructuralGoldens.tensor("interp_scale_ac0_in")
        let a = Ops.interpolateBilinear(x, scaleFactor: (1.7, 0.45)).toArray()
        let b = Ops.interpolateBilinear(x, size: (15, 4)).toArray()
        #expect(closeness(a, b, atol: 1e-4).passed == false)
    }

    @Test func stridedInput() throws {
        let x = try StructuralGoldens.tensor("interp_up_ac0_in")
        let t = x.transposed(2, 3).contiguous().transposed(2, 3)  // same values, non-contiguous view
        #expect(!t.isContiguous)
        let expected = try StructuralGoldens.array("interp_up_ac0_out")
        let c = closeness(Ops.interpolateBilinear(t, size: (11, 16)).toArray(), expected.floats, atol: 2e-6, rtol: 1e-6)
        #expect(c.passed, "\(c)")
    }
}
