import Foundation

/// Work splitting for the non-GEMM kernels.
enum Parallel {
    /// Runs `body` over disjoint sub-ranges of `0..<count` on up to `2·ParallelConfig.threads` chunks (a little
    /// over-decomposition evens out chunks that finish at different times). Ranges hold at least `grain` items, so
    /// small problems run inline on the calling thread without dispatch overhead. `body` must not call BLAS.
    @inline(__always)
    static func forRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let maxChunks = ParallelConfig.threads == 1 ? 1 : ParallelConfig.threads * 2
        let chunks = max(1, min(maxChunks, count / max(grain, 1)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = count * c / chunks, end = count * (c + 1) / chunks
            if start < end { body(start..<end) }
        }
    }
}
