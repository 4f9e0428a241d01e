import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct GatherScatterTests {
    @Test func indexSelectWithRepeats() throws {
        let x = try StructuralGoldens.tensor("gs_in")
        let idx = try StructuralGoldens.ints("gs_idx")
        let y = Ops.indexSelect(x, dim: 1, indices: idx)
        let expected = try StructuralGoldens.array("gs_index_select_d1")
        #expect(y.shape == expected.shape)
        #expect(y.toArray() == expected.floats)
    }

    @Test(arguments: [("gs_gather_index", "gs_gather_d2", 2), ("gs_gather1_index", "gs_gather_d1", 1)])
    func gatherLikeTorch(_ indexName: String, _ outName: String, _ dim: Int) throws {
        let x = try StructuralGoldens.tensor("gs_in")
        let index = try StructuralGoldens.array(indexName)
        let y = Ops.gather(x, dim: dim, index: try index.ints().map { Int($0) }, indexShape: index.shape)
        let expected = try StructuralGoldens.array(outName)
        #expect(y.shape == expected.shape)
        #expect(y.toArray() == expected.floats)
    }

    /// ERR-Seg's reconstruction: K selected maps back among T classes, −100 elsewhere.
    @Test func scatterSlicesWithFill() throws {
        let src = try StructuralGoldens.tensor("gs_scatter_src")
        let sel = try StructuralGoldens.ints("gs_scatter_sel")
        let y = Ops.scatterSlices(src, dim: 1, indices: sel, size: 9, fill: -100)
        let expected = try StructuralGoldens.array("gs_scatter_out")
        #expect(y.shape == expected.shape)
        #expect(y.toArray() == expected.floats)
    }
}
