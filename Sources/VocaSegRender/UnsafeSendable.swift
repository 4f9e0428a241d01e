/// Carries a raw buffer into `DispatchQueue.concurrentPerform` workers. Safe only because every worker touches a
/// disjoint range of rows and the owner outlives the call; the compiler cannot see that, so we say it.
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Splits `count` rows into contiguous chunks, a few per core so that an uneven chunk does not leave a core idle.
enum RowChunks {
    static func count(rows: Int, activeProcessors: Int) -> Int {
        max(1, min(rows, activeProcessors * 4))
    }

    static func range(chunk: Int, of chunks: Int, rows: Int) -> Range<Int> {
        (chunk * rows / chunks)..<((chunk + 1) * rows / chunks)
    }
}
