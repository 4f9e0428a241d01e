import Foundation
import PostgresNIO
import VocaSegCore

/// `vocaseg jobs --queue …`: the shared queue at a glance — counts per state, each worker with its current jobs,
/// last heartbeat and throughput, and the recent failures.
public struct QueueReport: Codable, Sendable {
    public struct Worker: Codable, Sendable {
        public var id: String
        public var host: String
        public var pid: Int
        /// Seconds since its last heartbeat (server clock).
        public var secondsSinceHeartbeat: Double
        /// Heartbeat within three lease renewals and not stopped.
        public var alive: Bool
        public var currentJobs: [String]
        public var jobsDone: Int
        public var framesDone: Int
        /// Frames per second of processing over its finished jobs.
        public var framesPerSecond: Double
    }

    public struct Failure: Codable, Sendable {
        public var input: String
        public var state: String
        public var attempts: Int
        public var error: String
    }

    public var queue: String
    public var schemaVersion: Int
    public var counts: [String: Int]
    public var workers: [Worker]
    public var recentFailures: [Failure]

    static let states = ["queued", "running", "publishing", "done", "retrying", "failed", "quarantined"]

    /// `aliveWithin`: seconds of heartbeat silence after which a worker is shown as gone.
    public static func load(_ queue: PostgresJobQueue, aliveWithin: Double = 30) throws -> QueueReport {
        var counts = try queue.stateCounts()
        for s in states where counts[s] == nil { counts[s] = 0 }
        let workers: [Worker] = try queue.run("report") { client, logger in
            let rows = try await client.query("""
                SELECT w.id, w.host, w.pid, extract(epoch FROM now() - w.last_heartbeat)::float8, w.stopped_at IS NULL,
                       coalesce((SELECT array_agg(j.path ORDER BY j.id) FROM vocaseg_job j
                                 WHERE j.id = ANY(w.current_jobs) AND j.state IN ('running', 'publishing')), '{}'),
                       w.jobs_done, w.frames_done, w.busy_seconds
                FROM vocaseg_worker w ORDER BY w.started_at, w.id
                """, logger: logger)
            var result: [Worker] = []
            for try await (id, host, pid, silence, running, current, done, frames, busy)
                in rows.decode((String, String, Int, Double, Bool, [String], Int, Int, Double).self) {
                result.append(Worker(id: id, host: host, pid: pid, secondsSinceHeartbeat: silence,
                                     alive: running && silence < aliveWithin, currentJobs: current, jobsDone: done,
                                     framesDone: frames, framesPerSecond: busy > 0 ? Double(frames) / busy : 0))
            }
            return result
        }
        let failures: [Failure] = try queue.run("report") { client, logger in
            let rows = try await client.query("""
                SELECT path, state, attempts, error FROM vocaseg_job
                WHERE state IN ('failed', 'quarantined', 'retrying') AND error IS NOT NULL
                ORDER BY finished_at DESC NULLS LAST LIMIT 10
                """, logger: logger)
            var result: [Failure] = []
            for try await (path, state, attempts, error) in rows.decode((String, String, Int, String).self) {
                result.append(Failure(input: path, state: state, attempts: attempts, error: error))
            }
            return result
        }
        return QueueReport(queue: queue.address.description, schemaVersion: try queue.schemaVersion(), counts: counts,
                           workers: workers, recentFailures: failures)
    }

    public var text: String {
        var lines = ["queue: \(queue) (schema v\(schemaVersion))"]
        lines.append(Self.states.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", "))
        lines.append("workers:")
        if workers.isEmpty { lines.append("  (none yet)") }
        for w in workers {
            let state = w.alive ? "alive" : "gone"
            let current = w.currentJobs.isEmpty ? "idle" : w.currentJobs.joined(separator: ", ")
            lines.append(String(format: "  %@ [%@, heartbeat %.0f s ago] %@; %d jobs, %d frames, %.1f frames/s",
                                w.id, state, w.secondsSinceHeartbeat, current, w.jobsDone, w.framesDone,
                                w.framesPerSecond))
        }
        if !recentFailures.isEmpty {
            lines.append("recent failures:")
            for f in recentFailures { lines.append("  \(f.input) [\(f.state), \(f.attempts) attempt(s)]: \(f.error)") }
        }
        return lines.joined(separator: "\n")
    }
}
