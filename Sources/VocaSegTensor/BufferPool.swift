import Foundation

/// Named, reusable scratch storage so that steady-state inference allocates nothing big per frame.
///
/// A model owns one pool (or one per concurrent inference) and asks for its large intermediates by slot name:
///
///     let pool = BufferPool()
///     // every frame:
///     let hidden = pool.tensor("stage2.mlp.hidden", shape: [1600, 2048])   // same storage as last frame
///     Ops.linear(x, weight: w1, bias: b1, activation: .gelu, out: hidden)
///
/// Rules: a slot's storage is reused, not cleared (contents are whatever the last user left: use it for outputs
/// a kernel fully overwrites); the storage grows when a larger shape is requested and is kept at the larger size;
/// two tensors that must be alive at the same time need two different slot names. Ops that need temporary
/// buffers (im2col columns, padded planes) take an optional `pool:` and use slots prefixed with `ops.`.
/// The pool is thread-safe for lookups (a lock), but the tensors it hands out are plain shared storage.
public final class BufferPool: @unchecked Sendable {
    private var slots: [String: TensorStorage] = [:]
    private let lock = NSLock()

    public init() {}

    /// A contiguous tensor of `shape` backed by the slot's storage (contents undefined).
    public func tensor(_ slot: String, shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        let storage = self.storage(slot, count: count)
        return Tensor(storage: storage, shape: shape, strides: Tensor.rowMajorStrides(shape), offset: 0)
    }

    /// The slot's storage, grown to at least `count` floats.
    public func storage(_ slot: String, count: Int) -> TensorStorage {
        lock.lock()
        defer { lock.unlock() }
        if let s = slots[slot], s.count >= count { return s }
        let s = TensorStorage(count: count)
        slots[slot] = s
        return s
    }

    /// Total floats held by all slots (for memory reports).
    public var floatCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return slots.values.reduce(0) { $0 + $1.count }
    }

    /// Drops every slot (e.g. when the input resolution changes for good).
    public func removeAll() {
        lock.lock()
        slots.removeAll()
        lock.unlock()
    }
}

extension BufferPool {
    /// Storage for `count` floats from `pool` under `slot`, or a fresh allocation when there is no pool.
    static func scratch(_ pool: BufferPool?, _ slot: String, count: Int) -> TensorStorage {
        pool?.storage(slot, count: count) ?? TensorStorage(count: count)
    }
}
