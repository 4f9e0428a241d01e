import Foundation
import Histogram

/// Summary of one pipeline stage: how many frames it handled and how long they took.
public struct StageTiming: Sendable, Codable, Equatable {
    public var stage: String
    public var frames: Int
    public var totalSeconds: Double
    public var p50Milliseconds: Double
    public var p95Milliseconds: Double
    public var maxMilliseconds: Double

    public init(stage: String, frames: Int, totalSeconds: Double, p50Milliseconds: Double, p95Milliseconds: Double,
                maxMilliseconds: Double) {
        self.stage = stage
        self.frames = frames
        self.totalSeconds = totalSeconds
        self.p50Milliseconds = p50Milliseconds
        self.p95Milliseconds = p95Milliseconds
        self.maxMilliseconds = maxMilliseconds
    }
}

/// Collects per-frame durations by stage name. Each stage records from its own thread, hence the lock.
///
/// Durations go into an HDR histogram (microsecond resolution, 3 significant digits), so memory stays constant
/// however long the input is: a day of video costs the same few kilobytes as a second.
public final class StageClock: @unchecked Sendable {
    private struct Entry {
        var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var totalSeconds: Double = 0
    }
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var skipped: [String: Int] = [:]
    private let lock = NSLock()
    /// The first samples of every stage are dropped: warm-up frames (caches, page faults, lazy allocations) are
    /// not what a benchmark should report.
    public let warmupSamples: Int

    public init(warmupSamples: Int = 0) { self.warmupSamples = warmupSamples }

    public func record(_ stage: String, seconds: Double) {
        let micros = UInt64(max(0, (seconds * 1e6).rounded()))
        lock.lock()
        defer { lock.unlock() }
        if skipped[stage, default: 0] < warmupSamples {
            skipped[stage, default: 0] += 1
            return
        }
        if entries[stage] == nil {
            order.append(stage)
            entries[stage] = Entry()
        }
        entries[stage]!.histogram.record(max(micros, 1))
        entries[stage]!.totalSeconds += seconds
    }

    /// Times `body` and records it under `stage`.
    @discardableResult
    public func measure<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        record(stage, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return result
    }

    public func timings() -> [StageTiming] {
        lock.lock()
        defer { lock.unlock() }
        return order.compactMap { name in
            guard let e = entries[name] else { return nil }
            let h = e.histogram
            return StageTiming(stage: name, frames: Int(h.totalCount), totalSeconds: e.totalSeconds,
                               p50Milliseconds: Double(h.valueAtPercentile(50)) / 1000,
                               p95Milliseconds: Double(h.valueAtPercentile(95)) / 1000,
                               maxMilliseconds: Double(h.max) / 1000)
        }
    }
}
