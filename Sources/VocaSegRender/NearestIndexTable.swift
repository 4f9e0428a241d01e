/// Source indices for nearest-neighbour resampling, PyTorch's `nearest` convention `src = floor(dst · in / out)`,
/// computed in exact integer arithmetic.
enum NearestIndexTable {
    static func indices(outputCount: Int, inputCount: Int) -> [Int] {
        (0..<outputCount).map { $0 * inputCount / outputCount }
    }

    /// The same, with one clamped entry on each side (`[0]` repeats the first, `[n+1]` the last) so that the
    /// outline test can look at x−1 and x+1 without branching at the frame edges.
    static func paddedIndices(outputCount: Int, inputCount: Int) -> [Int] {
        let inner = indices(outputCount: outputCount, inputCount: inputCount)
        guard let first = inner.first, let last = inner.last else { return [] }
        return [first] + inner + [last]
    }
}
