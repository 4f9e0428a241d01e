import Foundation

extension Ops {
    /// `torch.cat(tensors, dim)`: a new contiguous tensor. All shapes must agree except along `dim`; inputs may be
    /// strided views.
    public static func concat(_ tensors: [Tensor], dim: Int) -> Tensor {
        opCheck(!tensors.isEmpty, "concat: no tensors")
        let rank = tensors[0].rank
        let d = normalizedDim(dim, rank: rank)
        for t in tensors {
            opCheck(t.rank == rank, "concat: ranks differ")
            for a in 0..<rank where a != d {
                opCheck(t.shape[a] == tensors[0].shape[a], "concat: shapes \(t.shape) and \(tensors[0].shape)")
            }
        }
        var shape = tensors[0].shape
        shape[d] = tensors.reduce(0) { $0 + $1.shape[d] }
        let out = Tensor(uninitializedShape: shape)
        let (outer, total, inner) = splitAround(shape, dim: d)
        let parts = tensors.map { $0.contiguous() }
        var starts = [Int]()
        var s = 0
        for p in parts { starts.append(s); s += p.shape[d] }
        let op = out.data
        parallelPlanes(outer) { o in
            for (p, part) in parts.enumerated() {
                let len = part.shape[d] * inner
                if len == 0 { continue }
                (op + (o * total + starts[p]) * inner).update(from: part.data + o * len, count: len)
            }
        }
        withExtendedLifetime(parts) {}
        return out
    }

    /// `torch.split(x, sizes, dim)`: views of consecutive slices with the given lengths (which must sum to the
    /// dimension).
    public static func split(_ x: Tensor, sizes: [Int], dim: Int) -> [Tensor] {
        let d = normalizedDim(dim, rank: x.rank)
        opCheck(sizes.reduce(0, +) == x.shape[d] && sizes.allSatisfy { $0 >= 0 },
                     "split: sizes \(sizes) do not cover \(x.shape[d])")
        var start = 0
        return sizes.map { len in
            defer { start += len }
            return x.narrowed(dim: d, start: start, length: len)
        }
    }

    /// `torch.split(x, splitSize, dim)`: views of `splitSize` each, the last one shorter if needed.
    public static func split(_ x: Tensor, splitSize: Int, dim: Int) -> [Tensor] {
        opCheck(splitSize > 0, "split: size must be positive")
        let d = normalizedDim(dim, rank: x.rank)
        let n = x.shape[d]
        var sizes = [Int]()
        var start = 0
        while start < n { sizes.append(min(splitSize, n - start)); start += splitSize }
        if sizes.isEmpty { sizes = [0] }
        return split(x, sizes: sizes, dim: d)
    }

    /// `torch.chunk(x, chunks, dim)`: slices of ⌈n/chunks⌉ (the last shorter); may return fewer than `chunks`.
    public static func chunk(_ x: Tensor, chunks: Int, dim: Int) -> [Tensor] {
        opCheck(chunks > 0, "chunk: chunks must be positive")
        let d = normalizedDim(dim, rank: x.rank)
        let n = x.shape[d]
        return split(x, splitSize: max(1, (n + chunks - 1) / chunks), dim: d)
    }
}
