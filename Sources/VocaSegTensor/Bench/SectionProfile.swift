import Foundation

/// Wall time per named section of model code, summed over calls, for finding where a stage spends its time.
/// Off unless `VOCASEG_PROFILE=1`; when off, `start()` and `lap` cost one branch and no clock read.
///
///     var t = SectionProfile.start()
///     …; SectionProfile.lap("sfm.q", &t)
///     …; SectionProfile.lap("sfm.attention", &t)
///
/// Sections must not overlap across threads: model code calls it from the one thread that drives a frame.
public enum SectionProfile {
    public static let enabled = ProcessInfo.processInfo.environment["VOCASEG_PROFILE"] == "1"
    private static let lock = NSLock()
    nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]

    @inline(__always) public static func start() -> UInt64 {
        enabled ? DispatchTime.now().uptimeNanoseconds : 0
    }

    /// Charges the time since `clock` to `name` and restarts the clock.
    @inline(__always) public static func lap(_ name: @autoclosure () -> String, _ clock: inout UInt64) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let key = name()
        lock.lock()
        let old = totals[key] ?? (0, 0)
        totals[key] = (old.seconds + Double(now - clock) / 1e9, old.calls + 1)
        lock.unlock()
        clock = DispatchTime.now().uptimeNanoseconds
    }

    /// Sections sorted by name, and clears them.
    public static func drain() -> [(name: String, seconds: Double, calls: Int)] {
        lock.lock()
        defer { totals = [:]; lock.unlock() }
        return totals.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.name < $1.name }
    }
}
