/// Source indices for nearest-neighbour resampling, PyTorch's `nearest` convention `src = floor(dst · in / out)`,
/// computed in exact integer arithmetic.
enum NearestIndexTable {
    static func indices(outputCount: Int, inputCount: Int) -> [Int] {
        (0..<outputCount).map { $0 * inputCount / outputCount }
    }
}
