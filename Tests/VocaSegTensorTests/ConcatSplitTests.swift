import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct ConcatSplitTests {
    @Test func concatAlongEachDim() throws {
        let a = try StructuralGoldens.tensor("cat_a")
        let b = try StructuralGoldens.tensor("cat_b")
        let c = try StructuralGoldens.tensor("cat_c")
        let d1 = Ops.concat([a, b, c], dim: 1)
        #expect(d1.shape == [2, 9, 4])
        #expect(d1.toArray() == (try StructuralGoldens.array("cat_d1")).floats)
        let t = Ops.concat([a.transposed(1, 2), b.transposed(1, 2)], dim: -1)
        #expect(t.shape == [2, 4, 8])
        #expect(t.toArray() == (try StructuralGoldens.array("cat_t_d2")).floats)
        let twice = Tensor(shape: a.shape, data: a.toArray().map { $0 * 2 })
        #expect(Ops.concat([a, twice], dim: 0).toArray() == (try StructuralGoldens.array("cat_d0")).floats)
    }

    /// split/chunk undo concat; chunk follows torch's ⌈n/chunks⌉ rule (9 into 4 → 3, 3, 3).
    @Test func splitAndChunkInvertConcat() throws {
        let cat = try StructuralGoldens.tensor("cat_d1")
        let parts = Ops.split(cat, sizes: [3, 5, 1], dim: 1)
        #expect(parts.map(\.shape) == [[2, 3, 4], [2, 5, 4], [2, 1, 4]])
        #expect(parts[1].toArray() == (try StructuralGoldens.array("cat_b")).floats)
        #expect(parts[2].toArray() == (try StructuralGoldens.array("cat_c")).floats)
        #expect(Ops.chunk(cat, chunks: 4, dim: 1).map { $0.shape[1] } == [3, 3, 3])
        #expect(Ops.chunk(cat, chunks: 2, dim: 1).map { $0.shape[1] } == [5, 4])
        #expect(Ops.split(cat, splitSize: 4, dim: 1).map { $0.shape[1] } == [4, 4, 1])
        #expect(Ops.concat(Ops.chunk(cat, chunks: 4, dim: 1), dim: 1).toArray() == cat.toArray())
    }
}
