import Foundation
import VocaSegCore

/// `vocaseg jobs`: the journal at a glance — counts per state, recent failures, throughput.
public struct JobsReport: Codable, Sendable {
    public struct Failure: Codable, Sendable {
        public var input: String
        public var state: String
        public var attempts: Int
        public var error: String
        public var at: Double?
    }

    public var journal: String
    public var counts: [String: Int]
    public var recentFailures: [Failure]
    public var doneJobs: Int
    public var framesDone: Int
    /// Frames per second of processing time over the done jobs.
    public var framesPerSecond: Double
    /// Done jobs per hour over the span between the first start and the last finish.
    public var jobsPerHour: Double

    public static func load(outputDirectory: String) throws -> JobsReport {
        let path = WatchService.journalPath(outputDirectory: outputDirectory)
        guard FileManager.default.fileExists(atPath: path) else {
            throw VocaSegError(.input, "no watch journal here (vocaseg watch writes it beside its outputs)", path: path)
        }
        let jobs = try JobJournal(path: path).allJobs()
        var counts: [String: Int] = [:]
        for s in JobRecord.State.allCases { counts[s.rawValue] = 0 }
        for j in jobs { counts[j.state.rawValue, default: 0] += 1 }
        let failures = jobs.filter { ($0.state == .failed || $0.state == .quarantined || $0.state == .retrying) && $0.error != nil }
            .sorted { ($0.finishedAt ?? 0) > ($1.finishedAt ?? 0) }.prefix(10)
            .map { Failure(input: $0.path, state: $0.state.rawValue, attempts: $0.attempts, error: $0.error ?? "",
                           at: $0.finishedAt) }
        let done = jobs.filter { $0.state == .done }
        let frames = done.reduce(0) { $0 + ($1.frames ?? 0) }
        let busy = done.reduce(0.0) { $0 + ($1.seconds ?? 0) }
        let first = done.compactMap(\.startedAt).min(), last = done.compactMap(\.finishedAt).max()
        var perHour = 0.0
        if let first, let last, last > first { perHour = Double(done.count) / ((last - first) / 3600) }
        return JobsReport(journal: path, counts: counts, recentFailures: Array(failures), doneJobs: done.count,
                          framesDone: frames, framesPerSecond: busy > 0 ? Double(frames) / busy : 0,
                          jobsPerHour: perHour)
    }

    public var text: String {
        var lines = ["journal: \(journal)"]
        lines.append(JobRecord.State.allCases.map { "\($0.rawValue) \(counts[$0.rawValue] ?? 0)" }.joined(separator: ", "))
        lines.append(String(format: "throughput: %d frames in %d done jobs, %.1f frames/s of processing, %.1f jobs/hour",
                            framesDone, doneJobs, framesPerSecond, jobsPerHour))
        if !recentFailures.isEmpty {
            lines.append("recent failures:")
            for f in recentFailures { lines.append("  \(f.input) [\(f.state), \(f.attempts) attempt(s)]: \(f.error)") }
        }
        return lines.joined(separator: "\n")
    }
}
