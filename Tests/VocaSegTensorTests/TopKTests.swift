import Testing
import VocaSegTensor
import VocaSegTestSupport

@Suite struct TopKTests {
    /// Tie-heavy rows: values as torch.topk, indices in value order then lower index first.
    @Test(arguments: [1, 3, 7, 20])
    func tiesGoToLowerIndex(_ k: Int) throws {
        let x = try StructuralGoldens.tensor("topk_in")
        let (values, indices) = Ops.topK(x, k: k)
        #expect(values.toArray() == (try StructuralGoldens.array("topk_k\(k)_values")).floats)
        #expect(indices == (try StructuralGoldens.ints("topk_k\(k)_indices")))
    }

    @Test func randomRowsLargestAndSmallest() throws {
        let x = try StructuralGoldens.tensor("topk_rand_in")
        let (v, i) = Ops.topK(x, k: 5)
        #expect(v.shape == [3, 5])
        #expect(v.toArray() == (try StructuralGoldens.array("topk_rand_values")).floats)
        #expect(i == (try StructuralGoldens.ints("topk_rand_indices")))
        let (sv, si) = Ops.topK(x, k: 4, largest: false)
        #expect(sv.toArray() == (try StructuralGoldens.array("topk_rand_small_values")).floats)
        #expect(si == (try StructuralGoldens.ints("topk_rand_small_indices")))
    }

    @Test(arguments: [0, 1, 2])
    func argmaxFirstIndexOnTies(_ dim: Int) throws {
        let x = try StructuralGoldens.tensor("argmax_in")
        #expect(Ops.argmax(x, dim: dim) == (try StructuralGoldens.ints("argmax_d\(dim)")))
    }

    @Test func nanIsLargest() {
        let x = Tensor(shape: [1, 4], data: [1, .nan, 3, 2])
        let (v, i) = Ops.topK(x, k: 2)
        #expect(i == [1, 2])
        #expect(v.toArray()[0].isNaN)
        #expect(Ops.argmax(x, dim: 1) == [1])
    }
}
