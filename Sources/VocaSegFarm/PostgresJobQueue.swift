import Foundation
import Logging
import PostgresNIO
import VocaSegApp
import VocaSegCore

/// A job as a worker holds it: the row's identity, what to run and the lease that lets it publish.
public struct ClaimedJob: Sendable {
    public var id: Int64
    /// Relative to the inbox root.
    public var path: String
    public var attempts: Int
    public var token: UUID
    /// The folder under `OUT/.vocaseg-staging/` that this attempt writes into.
    public var staging: String
    public var configID: Int64
    /// The roots as the watcher that queued the job sees them (a worker uses its own when it is given them).
    public var inbox: String
    public var outbox: String
    public var pipelinePath: String
    public var pipelineText: String
    public var task: String?
}

/// One expired lease that `reapExpired` took over.
struct ReapedJob: Sendable {
    var id: Int64
    var path: String
    var state: String
    var staging: String?
    var outputs: [String]
    var token: UUID?
    var inbox: String
    var outbox: String
    var frames: Int
    var seconds: Double
}

/// The shared job queue on PostgreSQL. Every method is one statement or one transaction; every change to a
/// running job is fenced by its lease token, so that a worker whose lease was taken over (it froze, lost its
/// connection or was presumed dead) changes nothing.
///
/// Times are the server's `now()`, never a worker's clock: machines whose clocks disagree still agree on when a
/// lease expires.
public final class PostgresJobQueue: @unchecked Sendable {
    public let address: QueueAddress
    let client: PostgresClient
    let logger: Logger
    private let runTask: Task<Void, Never>

    /// Connects (lazily: the pool opens connections on first use) and brings the schema up to date.
    public init(address: QueueAddress, applicationName: String, logger: Logger, migrateUpTo: Int? = nil) throws {
        self.address = address
        self.logger = logger
        let client = PostgresClient(configuration: try address.clientConfiguration(applicationName: applicationName),
                                    backgroundLogger: Logger(label: "vocaseg.postgres", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.client = client
        runTask = Task { await client.run() }
        let target = migrateUpTo ?? QueueSchema.latestVersion
        do {
            _ = try blocking { try await QueueSchema.migrate(client, upTo: target, logger: logger) }
        } catch {
            runTask.cancel()
            throw VocaSegError(.io, "cannot open the queue at \(address): \(Self.describe(error))")
        }
    }

    deinit { runTask.cancel() }

    public func close() { runTask.cancel() }

    /// postgres-nio's errors print their query and internals; the server's own message is what a user needs.
    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            return "\(e.code)"
        }
        return String(describing: error)
    }

    func run<T>(_ what: String, _ body: @escaping @Sendable (PostgresClient, Logger) async throws -> T) throws -> T {
        let client = self.client, logger = self.logger
        do {
            return try blocking { try await body(client, logger) }
        } catch {
            throw VocaSegError(.io, "queue \(what) failed: \(Self.describe(error))")
        }
    }

    public func schemaVersion() throws -> Int {
        try run("schema check") { c, l in try await QueueSchema.version(c, logger: l) }
    }

    // MARK: - Configuration and enqueueing (the watcher)

    public struct Config: Sendable {
        public var inbox: String
        public var outbox: String
        public var pipelinePath: String
        public var pipelineText: String
        public var task: String?
        public var maxAttempts: Int
        public var backoffSeconds: Double
    }

    /// Records the configuration a watcher runs with, reusing an identical earlier row.
    public func register(_ c: Config) throws -> Int64 {
        try run("configuration") { client, logger in
            let existing = try await client.query("""
                SELECT id FROM vocaseg_config WHERE inbox = \(c.inbox) AND outbox = \(c.outbox)
                  AND pipeline_path = \(c.pipelinePath) AND pipeline_text = \(c.pipelineText)
                  AND task IS NOT DISTINCT FROM \(c.task) AND max_attempts = \(c.maxAttempts)
                  AND backoff_seconds = \(c.backoffSeconds)
                ORDER BY id DESC LIMIT 1
                """, logger: logger)
            for try await id in existing.decode(Int64.self) { return id }
            let rows = try await client.query("""
                INSERT INTO vocaseg_config (inbox, outbox, pipeline_path, pipeline_text, task, max_attempts, backoff_seconds)
                VALUES (\(c.inbox), \(c.outbox), \(c.pipelinePath), \(c.pipelineText), \(c.task), \(c.maxAttempts),
                        \(c.backoffSeconds))
                RETURNING id
                """, logger: logger)
            for try await id in rows.decode(Int64.self) { return id }
            throw VocaSegError(.internal, "no configuration id returned")
        }
    }

    /// The roots and pipeline a configuration names (a worker's defaults when it is not given its own roots).
    public func latestConfig() throws -> (id: Int64, config: Config)? {
        try run("configuration") { client, logger in
            let rows = try await client.query("""
                SELECT id, inbox, outbox, pipeline_path, pipeline_text, task, max_attempts, backoff_seconds
                FROM vocaseg_config ORDER BY id DESC LIMIT 1
                """, logger: logger)
            for try await (id, inbox, outbox, path, text, task, attempts, backoff)
                in rows.decode((Int64, String, String, String, String, String?, Int, Double).self) {
                return (id, Config(inbox: inbox, outbox: outbox, pipelinePath: path, pipelineText: text, task: task,
                                   maxAttempts: attempts, backoffSeconds: backoff))
            }
            return nil
        }
    }

    public func knows(_ file: InboxFile) throws -> Bool {
        try run("lookup") { client, logger in
            let rows = try await client.query("""
                SELECT 1 FROM vocaseg_job WHERE path = \(file.relativePath) AND size = \(file.size)
                  AND mtime_ns = \(file.mtimeNanoseconds)
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    /// Queues a settled file (a no-op when this version already has a row, whoever queued it). With a digest, a
    /// version whose contents equal an earlier one of the same path that is done or in progress is recorded as
    /// done at once, as on one machine. Returns the new row's id and state, nil when known.
    public func enqueue(_ file: InboxFile, configID: Int64, digest: String?) throws -> (id: Int64, state: String)? {
        try run("enqueue") { client, logger in
            try await client.withTransaction(logger: logger) { connection in
                var sameAs: (Int64, [String]?)?
                if let digest {
                    let rows = try await connection.query("""
                        SELECT id, outputs FROM vocaseg_job WHERE path = \(file.relativePath) AND content_digest = \(digest)
                          AND state NOT IN ('failed', 'quarantined') ORDER BY id DESC LIMIT 1
                        """, logger: logger)
                    for try await (id, outputs) in rows.decode((Int64, [String]?).self) { sameAs = (id, outputs) }
                }
                let state = sameAs == nil ? "queued" : "done"
                let rows = try await connection.query("""
                    INSERT INTO vocaseg_job (config_id, path, size, mtime_ns, state, content_digest, outputs, finished_at)
                    VALUES (\(configID), \(file.relativePath), \(file.size), \(file.mtimeNanoseconds), \(state),
                            \(digest), \(sameAs?.1), CASE WHEN \(state) = 'done' THEN now() END)
                    ON CONFLICT (path, size, mtime_ns) DO NOTHING
                    RETURNING id
                    """, logger: logger)
                for try await id in rows.decode(Int64.self) { return (id, state) }
                return nil
            }
        }
    }

    // MARK: - Claims, leases and commits (the workers)

    /// Takes the oldest due job, skipping rows other workers hold locked, and gives it a fresh lease. The attempt
    /// counts from here, whatever ends it.
    public func claim(worker: String, lease: Double) throws -> ClaimedJob? {
        let token = UUID()
        return try run("claim") { client, logger in
            let rows = try await client.query("""
                UPDATE vocaseg_job j
                SET state = 'running', attempts = j.attempts + 1, started_at = now(), finished_at = NULL, error = NULL,
                    worker = \(worker), lease_token = \(token),
                    lease_expires_at = now() + make_interval(secs => \(lease)),
                    staging = 'job-' || j.id || '-' || \(token.uuidString.lowercased())
                FROM vocaseg_config c
                WHERE c.id = j.config_id AND j.id = (
                    SELECT id FROM vocaseg_job WHERE state IN ('queued', 'retrying') AND next_attempt_at <= now()
                    ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING j.id, j.path, j.attempts, j.staging, c.id, c.inbox, c.outbox, c.pipeline_path,
                          c.pipeline_text, c.task
                """, logger: logger)
            for try await (id, path, attempts, staging, configID, inbox, outbox, pipelinePath, pipelineText, task)
                in rows.decode((Int64, String, Int, String, Int64, String, String, String, String, String?).self) {
                return ClaimedJob(id: id, path: path, attempts: attempts, token: token, staging: staging,
                                  configID: configID, inbox: inbox, outbox: outbox, pipelinePath: pipelinePath,
                                  pipelineText: pipelineText, task: task)
            }
            return nil
        }
    }

    /// Extends the leases this worker holds and records its heartbeat. Returns the tokens that were renewed: a
    /// token missing from the answer has been taken over, and its job must stop without publishing.
    public func heartbeat(worker: String, tokens: [UUID], jobs: [Int64], lease: Double) throws -> Set<UUID> {
        try run("heartbeat") { client, logger in
            try await client.query("""
                INSERT INTO vocaseg_worker (id, host, pid, current_jobs) VALUES (\(worker), \(Self.hostName),
                    \(Int(getpid())), \(jobs))
                ON CONFLICT (id) DO UPDATE SET last_heartbeat = now(), current_jobs = EXCLUDED.current_jobs,
                    stopped_at = NULL
                """, logger: logger)
            guard !tokens.isEmpty else { return [] }
            let rows = try await client.query("""
                UPDATE vocaseg_job SET lease_expires_at = now() + make_interval(secs => \(lease))
                WHERE lease_token = ANY(\(tokens)) AND state IN ('running', 'publishing') AND lease_expires_at > now()
                RETURNING lease_token
                """, logger: logger)
            var renewed = Set<UUID>()
            for try await t in rows.decode(UUID.self) { renewed.insert(t) }
            return renewed
        }
    }

    public func workerStopped(_ worker: String) {
        _ = try? run("worker stop") { client, logger in
            try await client.query("""
                UPDATE vocaseg_worker SET stopped_at = now(), current_jobs = '{}' WHERE id = \(worker)
                """, logger: logger)
        }
    }

    /// Whether any done job lists `output` (relative to the outbox) among its outputs: ours to replace.
    public func isOurOutput(_ output: String) throws -> Bool {
        try run("output lookup") { client, logger in
            let rows = try await client.query(
                "SELECT 1 FROM vocaseg_job WHERE state = 'done' AND \(output) = ANY(outputs) LIMIT 1", logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    /// The fenced commit point. Only while this lease is still the job's and unexpired: the job turns
    /// `publishing` with its outputs recorded, and the publication is logged. From here on the outputs are this
    /// attempt's: if the worker dies while renaming, whoever reaps the lease rolls the renames forward instead of
    /// running the job again. Returns false when the lease was lost (nothing changed).
    public func beginPublishing(_ job: ClaimedJob, worker: String, outputs: [String], frames: Int, seconds: Double,
                                lease: Double) throws -> Bool {
        try run("commit") { client, logger in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    UPDATE vocaseg_job SET state = 'publishing', outputs = \(outputs), frames = \(frames),
                        seconds = \(seconds), lease_expires_at = now() + make_interval(secs => \(lease))
                    WHERE id = \(job.id) AND lease_token = \(job.token) AND state = 'running'
                      AND lease_expires_at > now()
                    RETURNING id
                    """, logger: logger)
                var held = false
                for try await _ in rows { held = true }
                guard held else { return false }
                try await connection.query("""
                    INSERT INTO vocaseg_publication (job_id, lease_token, worker, outputs)
                    VALUES (\(job.id), \(job.token), \(worker), \(outputs))
                    """, logger: logger)
                return true
            }
        }
    }

    /// After the renames: done, and the worker's totals. Fenced too (a roll-forward may have finished it first).
    public func finishPublishing(id: Int64, token: UUID, worker: String, frames: Int, seconds: Double) throws {
        try run("commit") { client, logger in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    UPDATE vocaseg_job SET state = 'done', finished_at = now(), lease_token = NULL,
                        lease_expires_at = NULL, error = NULL
                    WHERE id = \(id) AND lease_token = \(token) AND state = 'publishing'
                    RETURNING id
                    """, logger: logger)
                var finished = false
                for try await _ in rows { finished = true }
                if finished {
                    try await connection.query("""
                        UPDATE vocaseg_worker SET jobs_done = jobs_done + 1, frames_done = frames_done + \(frames),
                            busy_seconds = busy_seconds + \(seconds) WHERE id = \(worker)
                        """, logger: logger)
                }
            }
        }
    }

    /// A failed attempt, fenced by the lease: `failed` for good when `permanent`, `quarantined` out of attempts,
    /// else `retrying` after the configuration's backoff. Returns the new state, nil when the lease was lost.
    public func fail(_ job: ClaimedJob, error message: String, permanent: Bool) throws -> String? {
        try fail(id: job.id, token: job.token, error: message, permanent: permanent)
    }

    /// `fail` for a job by id and lease, running or publishing (a roll-forward refused by the path checks).
    func fail(id: Int64, token: UUID, error message: String, permanent: Bool) throws -> String? {
        try run("failure") { client, logger in
            let rows = try await client.query("""
                UPDATE vocaseg_job j SET
                    state = CASE WHEN \(permanent) THEN 'failed' WHEN j.attempts >= c.max_attempts THEN 'quarantined'
                                 ELSE 'retrying' END,
                    error = \(message), finished_at = now(), lease_token = NULL, lease_expires_at = NULL,
                    next_attempt_at = now() + make_interval(secs => c.backoff_seconds * power(2, greatest(j.attempts - 1, 0)))
                FROM vocaseg_config c
                WHERE c.id = j.config_id AND j.id = \(id) AND j.lease_token = \(token)
                  AND j.state IN ('running', 'publishing')
                RETURNING j.state
                """, logger: logger)
            for try await s in rows.decode(String.self) { return s }
            return nil
        }
    }

    /// Gives a job back without counting the attempt (the worker was asked to stop, or the model cannot load).
    public func requeue(_ job: ClaimedJob) throws {
        _ = try run("requeue") { client, logger in
            try await client.query("""
                UPDATE vocaseg_job SET state = 'queued', attempts = greatest(attempts - 1, 0), started_at = NULL,
                    next_attempt_at = now(), lease_token = NULL, lease_expires_at = NULL
                WHERE id = \(job.id) AND lease_token = \(job.token) AND state = 'running'
                """, logger: logger)
        }
    }

    /// Takes over every expired lease. A `running` job whose worker stopped renewing (killed, frozen, cut off) is
    /// a failed attempt: retried after the backoff, or quarantined at the limit. A `publishing` job's outputs were
    /// committed: it gets a new lease (returned, for the caller to roll the renames forward and finish it).
    func reapExpired(worker: String, lease: Double) throws -> [ReapedJob] {
        let token = UUID()
        return try run("lease expiry") { client, logger in
            var reaped: [ReapedJob] = []
            let failed = try await client.query("""
                WITH expired AS (
                    SELECT id, worker AS lost_worker FROM vocaseg_job
                    WHERE state = 'running' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED)
                UPDATE vocaseg_job j SET
                    state = CASE WHEN j.attempts >= c.max_attempts THEN 'quarantined' ELSE 'retrying' END,
                    error = 'lease expired during attempt ' || j.attempts || ': worker ' || coalesce(expired.lost_worker, '?')
                            || ' stopped renewing it (killed, frozen or cut off from the queue)',
                    finished_at = now(), lease_token = NULL, lease_expires_at = NULL,
                    next_attempt_at = now() + make_interval(secs => c.backoff_seconds * power(2, greatest(j.attempts - 1, 0)))
                FROM expired, vocaseg_config c
                WHERE j.id = expired.id AND c.id = j.config_id
                RETURNING j.id, j.path, j.state, j.staging, c.inbox, c.outbox
                """, logger: logger)
            for try await (id, path, state, staging, inbox, outbox)
                in failed.decode((Int64, String, String, String?, String, String).self) {
                reaped.append(ReapedJob(id: id, path: path, state: state, staging: staging, outputs: [], token: nil,
                                        inbox: inbox, outbox: outbox, frames: 0, seconds: 0))
            }
            let publishing = try await client.query("""
                UPDATE vocaseg_job j SET lease_token = \(token), worker = \(worker),
                    lease_expires_at = now() + make_interval(secs => \(lease))
                FROM vocaseg_config c
                WHERE c.id = j.config_id AND j.id IN (
                    SELECT id FROM vocaseg_job WHERE state = 'publishing' AND lease_expires_at < now()
                    FOR UPDATE SKIP LOCKED)
                RETURNING j.id, j.path, j.state, j.staging, j.outputs, c.inbox, c.outbox, j.frames, j.seconds
                """, logger: logger)
            for try await (id, path, state, staging, outputs, inbox, outbox, frames, seconds)
                in publishing.decode((Int64, String, String, String?, [String]?, String, String, Int?, Double?).self) {
                reaped.append(ReapedJob(id: id, path: path, state: state, staging: staging, outputs: outputs ?? [],
                                        token: token, inbox: inbox, outbox: outbox, frames: frames ?? 0,
                                        seconds: seconds ?? 0))
            }
            return reaped
        }
    }

    /// Staging folders that a live attempt or an unfinished commit still owns.
    func liveStagingFolders() throws -> Set<String> {
        try run("staging lookup") { client, logger in
            let rows = try await client.query(
                "SELECT staging FROM vocaseg_job WHERE state IN ('running', 'publishing') AND staging IS NOT NULL",
                logger: logger)
            var names = Set<String>()
            for try await s in rows.decode(String.self) { names.insert(s) }
            return names
        }
    }

    /// Queued, running or retrying jobs (what `--once` waits for).
    public func pendingCount() throws -> Int {
        try run("count") { client, logger in
            let rows = try await client.query(
                "SELECT count(*) FROM vocaseg_job WHERE state IN ('queued', 'running', 'retrying', 'publishing')",
                logger: logger)
            for try await n in rows.decode(Int.self) { return n }
            return 0
        }
    }

    public func stateCounts() throws -> [String: Int] {
        try run("count") { client, logger in
            let rows = try await client.query("SELECT state, count(*) FROM vocaseg_job GROUP BY state", logger: logger)
            var counts: [String: Int] = [:]
            for try await (state, n) in rows.decode((String, Int).self) { counts[state] = n }
            return counts
        }
    }

    static let hostName = ProcessInfo.processInfo.hostName
}
