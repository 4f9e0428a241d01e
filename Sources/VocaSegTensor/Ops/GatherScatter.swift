import Foundation

extension Ops {
    /// `torch.index_select(x, dim, indices)`: the slices `indices[i]` of `dim`, in that order (repeats allowed).
    public static func indexSelect(_ x: Tensor, dim: Int, indices: [Int]) -> Tensor {
        let d = normalizedDim(dim, rank: x.rank)
        let (outer, n, inner) = splitAround(x.shape, dim: d)
        opCheck(indices.allSatisfy { $0 >= 0 && $0 < n }, "indexSelect: index out of range 0..<\(n)")
        let src = x.contiguous()
        var shape = x.shape
        shape[d] = indices.count
        let out = Tensor(uninitializedShape: shape)
        let m = indices.count
        let sp = src.data, op = out.data
        indices.withUnsafeBufferPointer { ip in
            parallelPlanes(outer) { o in
                for (i, j) in ip.enumerated() {
                    (op + (o * m + i) * inner).update(from: sp + (o * n + j) * inner, count: inner)
                }
            }
        }
        withExtendedLifetime(src) {}
        return out
    }

    /// `torch.gather(x, dim, index)`: out[..., i, ...] = x[..., index[..., i, ...], ...] where `index` has the
    /// output's shape (`indexShape`, same rank as `x`, every other dim ≤ x's) and is given row-major.
    public static func gather(_ x: Tensor, dim: Int, index: [Int], indexShape: [Int]) -> Tensor {
        let d = normalizedDim(dim, rank: x.rank)
        opCheck(indexShape.count == x.rank && index.count == indexShape.reduce(1, *), "gather: index shape")
        for a in 0..<x.rank where a != d {
            opCheck(indexShape[a] <= x.shape[a], "gather: index dim \(a) larger than input")
        }
        let n = x.shape[d]
        opCheck(index.allSatisfy { $0 >= 0 && $0 < n }, "gather: index out of range 0..<\(n)")
        let out = Tensor(uninitializedShape: indexShape)
        let rank = x.rank
        let xs = x.strides, xp = x.data, op = out.data
        // Rows of the output (all dims but the last) in parallel; each element is located through x's strides.
        let last = indexShape[rank - 1]
        let rows = out.count / max(last, 1)
        index.withUnsafeBufferPointer { ip in
            parallelPlanes(rows) { r in
                var rem = r
                var srcBase = 0
                var coords = [Int](repeating: 0, count: rank)
                for a in stride(from: rank - 2, through: 0, by: -1) {
                    coords[a] = rem % indexShape[a]
                    rem /= indexShape[a]
                }
                for a in 0..<(rank - 1) where a != d { srcBase += coords[a] * xs[a] }
                let outRow = r * last
                for c in 0..<last {
                    let flat = outRow + c
                    var off = srcBase + ip[flat] * xs[d]
                    if rank - 1 != d { off += c * xs[rank - 1] }
                    op[flat] = xp[off]
                }
            }
        }
        withExtendedLifetime(x) {}
        return out
    }

    /// Writes the slices of `source` along `dim` back to positions `indices` of a new tensor whose `dim` has
    /// `size` entries, every other entry set to `fill`: ERR-Seg puts the K selected class logits back among T
    /// classes filled with −100. Equivalent to `torch.full(...).index_copy_(dim, indices, source)`; with repeated
    /// indices the last write wins.
    public static func scatterSlices(_ source: Tensor, dim: Int, indices: [Int], size: Int, fill: Float) -> Tensor {
        let d = normalizedDim(dim, rank: source.rank)
        opCheck(source.shape[d] == indices.count, "scatterSlices: \(indices.count) indices for \(source.shape[d]) slices")
        var shape = source.shape
        shape[d] = size
        let out = Tensor(shape: shape, repeating: fill)
        indexCopy(into: out, dim: d, indices: indices, source: source)
        return out
    }

    /// In-place `destination.index_copy_(dim, indices, source)` for a contiguous destination.
    public static func indexCopy(into destination: Tensor, dim: Int, indices: [Int], source: Tensor) {
        let d = normalizedDim(dim, rank: destination.rank)
        opCheck(destination.isContiguous, "indexCopy: destination must be contiguous")
        let (outer, n, inner) = splitAround(destination.shape, dim: d)
        var expected = destination.shape
        expected[d] = indices.count
        opCheck(source.shape == expected, "indexCopy: source \(source.shape), expected \(expected)")
        opCheck(indices.allSatisfy { $0 >= 0 && $0 < n }, "indexCopy: index out of range 0..<\(n)")
        let src = source.contiguous()
        let m = indices.count
        let sp = src.data, dp = destination.data
        indices.withUnsafeBufferPointer { ip in
            parallelPlanes(outer) { o in
                for (i, j) in ip.enumerated() {
                    (dp + (o * n + j) * inner).update(from: sp + (o * m + i) * inner, count: inner)
                }
            }
        }
        withExtendedLifetime(src) {}
    }
}
