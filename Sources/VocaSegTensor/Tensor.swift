import Foundation

/// Reference-counted float32 buffer, 64-byte aligned so that BLAS and SIMD loops get aligned rows.
///
/// Several `Tensor` views may share one storage (reshape, permute, slice are free); writes through one view are
/// visible through the others, as in PyTorch. Mutating ops in the engine write only into tensors they allocated
/// or that the caller passed explicitly as an output.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        opCheck(count >= 0, "TensorStorage: negative size")
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("TensorStorage: out of memory allocating \(bytes) bytes")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
    }

    deinit { free(pointer) }
}

/// An n-dimensional float32 array: a storage plus shape, strides (in elements) and offset.
///
/// Views (`reshaped`, `permuted`, `narrowed`, `transposed`) share storage; `contiguous()` copies only when needed.
/// Most kernels require contiguous row-major inputs and say so with an `opCheck` at entry; call `contiguous()` first.
public struct Tensor: @unchecked Sendable {
    public let storage: TensorStorage
    public private(set) var shape: [Int]
    public private(set) var strides: [Int]
    public private(set) var offset: Int

    // MARK: - Creation

    /// Uninitialised contiguous tensor (contents undefined): for outputs that a kernel fully overwrites.
    public init(uninitializedShape shape: [Int]) {
        let n = shape.reduce(1, *)
        storage = TensorStorage(count: n)
        self.shape = shape
        strides = Tensor.rowMajorStrides(shape)
        offset = 0
    }

    public init(zeros shape: [Int]) {
        self.init(uninitializedShape: shape)
        storage.pointer.initialize(repeating: 0, count: storage.count)
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(uninitializedShape: shape)
        storage.pointer.initialize(repeating: value, count: storage.count)
    }

    public init(shape: [Int], data: [Float]) {
        opCheck(shape.reduce(1, *) == data.count, "Tensor: \(data.count) values for shape \(shape)")
        self.init(uninitializedShape: shape)
        data.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: data.count) }
    }

    public init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    public static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    // MARK: - Properties

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }
    public var isContiguous: Bool { strides == Tensor.rowMajorStrides(shape) || count <= 1 }

    /// Pointer to the first element. Valid while `self` (or another holder of the storage) is alive.
    public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Size of dimension `d`; negative `d` counts from the end.
    public func size(_ d: Int) -> Int { shape[d < 0 ? d + rank : d] }

    // MARK: - Views

    /// Same elements, new shape. A view when contiguous, else a copy. One dimension may be -1.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            newShape[i] = known == 0 ? 0 : count / known
        }
        opCheck(newShape.reduce(1, *) == count, "reshape: \(shape) → \(newShape)")
        let base = isContiguous ? self : contiguous()
        return Tensor(storage: base.storage, shape: newShape, strides: Tensor.rowMajorStrides(newShape),
                      offset: base.offset)
    }

    /// Reorders dimensions (a view): `permuted([0, 2, 3, 1])` turns NCHW into NHWC.
    public func permuted(_ order: [Int]) -> Tensor {
        opCheck(order.sorted() == Array(0..<rank), "permute: bad order \(order) for rank \(rank)")
        return Tensor(storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] },
                      offset: offset)
    }

    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(a < 0 ? a + rank : a, b < 0 ? b + rank : b)
        return permuted(order)
    }

    /// Elements `start..<end` along `dim` (a view).
    public func narrowed(dim: Int, start: Int, length: Int) -> Tensor {
        let d = dim < 0 ? dim + rank : dim
        opCheck(start >= 0 && length >= 0 && start + length <= shape[d], "narrow: out of range")
        var newShape = shape
        newShape[d] = length
        return Tensor(storage: storage, shape: newShape, strides: strides, offset: offset + start * strides[d])
    }

    /// Index `i` of dimension 0, dropping that dimension (a view).
    public subscript(index i: Int) -> Tensor {
        opCheck(i >= 0 && i < shape[0], "index out of range")
        return Tensor(storage: storage, shape: Array(shape.dropFirst()), strides: Array(strides.dropFirst()),
                      offset: offset + i * strides[0])
    }

    // MARK: - Copies

    /// A contiguous tensor with the same values; `self` when already contiguous.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = Tensor(uninitializedShape: shape)
        copyStrided(into: out.data)
        return out
    }

    /// A contiguous copy that never shares storage with `self`.
    public func copy() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        if isContiguous {
            out.data.update(from: data, count: count)
        } else {
            copyStrided(into: out.data)
        }
        return out
    }

    public func toArray() -> [Float] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.data, count: count))
    }

    /// Gathers a strided view into packed row-major order. The innermost dimension is copied in a tight loop;
    /// the outer dimensions are walked with an index counter (no recursion, no allocation per element).
    private func copyStrided(into dst: UnsafeMutablePointer<Float>) {
        let n = count
        if n == 0 { return }
        if rank == 0 { dst[0] = data[0]; return }
        let inner = shape[rank - 1]
        let innerStride = strides[rank - 1]
        let outer = n / max(inner, 1)
        let src = data
        let shape = self.shape, strides = self.strides, rank = self.rank
        // Parallel over outer rows for large copies (permutes of feature maps are common between model stages).
        let chunks = n >= 1 << 16 ? min(outer, ParallelConfig.threads * 4) : 1
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let rowStart = outer * chunk / chunks, rowEnd = outer * (chunk + 1) / chunks
            var index = [Int](repeating: 0, count: max(rank - 1, 1))
            var rem = rowStart
            for d in stride(from: rank - 2, through: 0, by: -1) {
                index[d] = rem % shape[d]
                rem /= shape[d]
            }
            for row in rowStart..<rowEnd {
                var srcOffset = 0
                for d in 0..<(rank - 1) { srcOffset += index[d] * strides[d] }
                let s = src + srcOffset
                let o = dst + row * inner
                if innerStride == 1 {
                    o.update(from: s, count: inner)
                } else {
                    for i in 0..<inner { o[i] = s[i * innerStride] }
                }
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    if index[d] < shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }
}

/// One thread count for the whole engine: GEMM bands (`BLAS.sgemm`), `forEachItem` workers and `concurrentPerform`
/// chunking. Set it once at start-up (`--threads`); kernels never spawn more parallel chunks than a small multiple
/// of it. OpenBLAS's own pool stays at one thread (see `BLAS`).
public enum ParallelConfig {
    nonisolated(unsafe) private static var configured: Int = {
        BLAS.useOneOpenBLASThread()
        return ProcessInfo.processInfo.activeProcessorCount
    }()

    /// The threads a kernel may use from the calling thread: the configured count, or 1 inside `forEachItem`
    /// (whose items already occupy every thread).
    public static var threads: Int { pthread_getspecific(insideItemKey) == nil ? configured : 1 }

    public static func setThreads(_ n: Int) {
        configured = max(1, n)
        BLAS.useOneOpenBLASThread()
    }

    private static let insideItemKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Runs `body(worker, item)` for every item in `0..<count`, items handed out one at a time to `threads`
    /// workers (so a core that other work slows down just takes fewer items). Inside, every kernel and GEMM runs on
    /// the item's own thread: one level of parallelism, over items that are each small enough to stay in cache
    /// (ERR-Seg's per-class decoder work). `worker` (0..<threads) picks per-worker scratch. Nested calls (from
    /// inside an item) run their items in order on the calling thread.
    public static func forEachItem(_ count: Int, _ body: (_ worker: Int, _ item: Int) -> Void) {
        let workers = min(threads, count)
        if workers <= 1 {
            for i in 0..<count { body(0, i) }
            return
        }
        let lock = NSLock()
        var next = 0
        // The items run on the caller's behalf, so under the caller's kernel settings.
        let settings = KernelSettings.current
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            pthread_setspecific(insideItemKey, UnsafeRawPointer(bitPattern: 1))
            defer { pthread_setspecific(insideItemKey, nil) }
            KernelSettings.with(settings) {
                while true {
                    lock.lock()
                    let item = next
                    next += 1
                    lock.unlock()
                    if item >= count { break }
                    body(worker, item)
                }
            }
        }
    }
}
