import Foundation

/// A blocking FIFO of at most `capacity` items joining two pipeline stages.
///
/// A full queue suspends its producer (back-pressure: no frame is ever dropped, memory stays bounded by the sum of
/// the queue depths); an empty one suspends its consumer. End-of-stream travels in-band: `close()` lets the consumer
/// drain what is queued and then receive `nil`. `cancel()` wakes everybody at once and discards the contents; it is
/// how an error or an interrupt in one stage stops the others.
///
/// A *leaky* queue never blocks its producer: a push into a full queue drops the oldest item and counts it
/// (`dropped`). Live pipelines use one in front of a slow stage so that it always takes the newest frame.
public final class BoundedQueue<Element>: @unchecked Sendable {
    public let capacity: Int
    public let isLeaky: Bool
    private var items: [Element?]
    private var head = 0
    private var size = 0
    private var closed = false
    private var cancelled = false
    private let condition = NSCondition()

    /// How often a producer found the queue full, and the largest fill seen: shows which stage is the bottleneck.
    public private(set) var producerWaits = 0
    public private(set) var consumerWaits = 0
    public private(set) var highWaterMark = 0
    /// Items a leaky queue dropped to make room for newer ones.
    public var dropped: Int {
        condition.lock()
        defer { condition.unlock() }
        return droppedCount
    }
    private var droppedCount = 0

    public init(capacity: Int, leaky: Bool = false) {
        precondition(capacity > 0, "BoundedQueue needs a positive capacity")
        self.capacity = capacity
        isLeaky = leaky
        items = Array(repeating: nil, count: capacity)
    }

    /// Blocks while full. Returns false when the queue was cancelled (the item is dropped: the run is over).
    @discardableResult
    public func push(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if isLeaky, size == capacity, !cancelled {
            // Make room by dropping the oldest: the consumer will see the newest frames only.
            items[head] = nil
            head = (head + 1) % capacity
            size -= 1
            droppedCount += 1
        }
        if size == capacity && !cancelled { producerWaits += 1 }
        while size == capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        precondition(!closed, "BoundedQueue: push after close")
        items[(head + size) % capacity] = item
        size += 1
        highWaterMark = max(highWaterMark, size)
        condition.broadcast()
        return true
    }

    /// Blocks while empty. Returns nil at end of stream (closed and drained) or when cancelled.
    public func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        if size == 0 && !closed && !cancelled { consumerWaits += 1 }
        while size == 0 && !closed && !cancelled { condition.wait() }
        if cancelled || size == 0 { return nil }
        let item = items[head]
        items[head] = nil
        head = (head + 1) % capacity
        size -= 1
        condition.broadcast()
        return item
    }

    /// No more items will be pushed; the consumer drains the rest and then gets nil.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stop everything now: blocked pushes return false, pops return nil, queued items are released.
    public func cancel() {
        condition.lock()
        cancelled = true
        for i in 0..<capacity { items[i] = nil }
        size = 0
        condition.broadcast()
        condition.unlock()
    }

    public var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }
}
