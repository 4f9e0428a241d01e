import Foundation

/// Splits a shape around `dim`: (product of the dims before, size of dim, product of the dims after).
@inline(__always)
func splitAround(_ shape: [Int], dim: Int) -> (outer: Int, n: Int, inner: Int) {
    (shape[..<dim].reduce(1, *), shape[dim], shape[(dim + 1)...].reduce(1, *))
}

@inline(__always)
func normalizedDim(_ dim: Int, rank: Int) -> Int {
    let d = dim < 0 ? dim + rank : dim
    opCheck(d >= 0 && d < rank, "dim \(dim) out of range for rank \(rank)")
    return d
}

extension Ops {
    /// `torch.topk(x, k, dim=-1, largest=..., sorted=True)` along the last dimension.
    ///
    /// Values come out sorted (descending for `largest`, ascending otherwise); equal values are ordered by lower
    /// index first, so the result is deterministic (PyTorch leaves tie order unspecified). NaN counts as larger than
    /// every number, as in PyTorch. Returns values of shape [..., k] and the matching indices, row-major, same shape.
    public static func topK(_ x: Tensor, k: Int, largest: Bool = true) -> (values: Tensor, indices: [Int]) {
        opCheck(x.rank >= 1, "topK: scalar input")
        let n = x.size(-1)
        opCheck(k >= 0 && k <= n, "topK: k = \(k) but the last dimension has \(n)")
        let src = x.contiguous()
        let rows = x.count / max(n, 1)
        var shape = x.shape
        shape[shape.count - 1] = k
        let values = Tensor(uninitializedShape: shape)
        var indices = [Int](repeating: 0, count: rows * k)
        if k == 0 || rows == 0 { return (values, indices) }
        let sp = src.data, vp = values.data
        indices.withUnsafeMutableBufferPointer { ip in
            let idx = ip.baseAddress!
            parallelPlanes(rows) { r in
                let s = sp + r * n
                let vOut = vp + r * k, iOut = idx + r * k
                // Insertion into a sorted list of the best k so far: O(n·k) worst case, O(n) typical; k is small
                // (CRM's 3 and ≤ 48 classes) so this beats a heap.
                var filled = 0
                for j in 0..<n {
                    let v = s[j]
                    if filled == k && !topKBefore(v, vOut[k - 1], largest: largest) { continue }
                    var pos = filled < k ? filled : k - 1
                    // Strictly-before keeps earlier (lower) indices ahead of equal later ones.
                    while pos > 0 && topKBefore(v, vOut[pos - 1], largest: largest) {
                        vOut[pos] = vOut[pos - 1]
                        iOut[pos] = iOut[pos - 1]
                        pos -= 1
                    }
                    vOut[pos] = v
                    iOut[pos] = j
                    if filled < k { filled += 1 }
                }
            }
        }
        withExtendedLifetime(src) {}
        return (values, indices)
    }
}

/// Whether `a` ranks strictly ahead of `b` (NaN is the largest value).
@inline(__always)
private func topKBefore(_ a: Float, _ b: Float, largest: Bool) -> Bool {
    if largest {
        if a.isNaN { return !b.isNaN }
        return a > b
    } else {
        if b.isNaN { return !a.isNaN }
        return a < b
    }
}

extension Ops {
    /// `torch.argmax(x, dim)`: index of the largest value along `dim` (first one on ties, NaN wins as in PyTorch).
    /// Returns the indices row-major over the shape with `dim` removed.
    public static func argmax(_ x: Tensor, dim: Int) -> [Int] {
        let d = normalizedDim(dim, rank: x.rank)
        let src = x.contiguous()
        let (outer, n, inner) = splitAround(x.shape, dim: d)
        opCheck(n > 0, "argmax: empty dimension")
        var result = [Int](repeating: 0, count: outer * inner)
        let sp = src.data
        result.withUnsafeMutableBufferPointer { rp in
            let r = rp.baseAddress!
            // Walk dim-major so the inner loop is contiguous (the ERR-Seg case is dim 0 of [K, H, W]).
            let innerChunk = 4096
            let innerBlocks = (inner + innerChunk - 1) / innerChunk
            parallelPlanes(outer * innerBlocks) { job in
                let o = job / innerBlocks, i0 = (job % innerBlocks) * innerChunk, i1 = min(inner, i0 + innerChunk)
                let base = sp + o * n * inner
                var best = [Float](repeating: 0, count: i1 - i0)
                best.withUnsafeMutableBufferPointer { bp in
                    let out = r + o * inner
                    for i in i0..<i1 { bp[i - i0] = base[i]; out[i] = 0 }
                    for j in 1..<n {
                        let row = base + j * inner
                        for i in i0..<i1 {
                            let v = row[i], b = bp[i - i0]
                            if v > b || (v.isNaN && !b.isNaN) { bp[i - i0] = v; out[i] = j }
                        }
                    }
                }
            }
        }
        withExtendedLifetime(src) {}
        return result
    }
}
