import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct DeformConvTests {
    // name, stride, padding, dilation, groups, offset groups, bias, mask
    @Test(arguments: [
        ("dcn_eov", 1, 1, 1, 1, 1, 1, 1, false, true),
        ("dcn_general", 2, 1, 1, 0, 2, 1, 2, true, true),
        ("dcn_nomask", 1, 1, 1, 1, 1, 1, 1, true, false),
    ])
    func matchesTorchvision(_ name: String, _ sh: Int, _ sw: Int, _ ph: Int, _ pw: Int, _ dh: Int, _ dw: Int,
                            _ groups: Int, _ hasBias: Bool, _ hasMask: Bool) throws {
        let x = try StructuralGoldens.tensor(name + "_x")
        let w = try StructuralGoldens.tensor(name + "_w")
        let off = try StructuralGoldens.tensor(name + "_off")
        let mask = hasMask ? try StructuralGoldens.tensor(name + "_mask") : nil
        let bias = hasBias ? try StructuralGoldens.tensor(name + "_b") : nil
        let expected = try StructuralGoldens.array(name + "_out")
        let y = Ops.deformConv2d(input: x, offset: off, weight: w, bias: bias, mask: mask, stride: (sh, sw),
                                 padding: (ph, pw), dilation: (dh, dw), groups: groups, offsetGroups: groups)
        #expect(y.shape == expected.shape)
        let c = closeness(y.toArray(), expected.floats, atol: 1e-4, rtol: 1e-5, label: name)
        #expect(c.passed, "\(c)")
    }
}
