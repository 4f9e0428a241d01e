import Logging
import PostgresNIO

/// The queue's tables, as numbered migrations. Every process that opens the queue (watcher, worker, `jobs`)
/// brings the schema up to date first; migrations run one transaction each under an advisory lock, so that
/// workers starting together do not race, and a crash in the middle leaves the previous version intact.
///
/// - v1: `vocaseg_config` (inbox/outbox roots and the pipeline text a watcher runs with; jobs point at the
///   configuration they were queued under), `vocaseg_job` (one row per input version, unique on path, size and
///   mtime, with the lease), `vocaseg_worker` (each worker's heartbeat, current job and totals).
/// - v2: the commit protocol: the `publishing` state's staging folder, `vocaseg_publication` (one row per
///   fenced commit: which lease put a job's outputs in place), and content digests.
enum QueueSchema {
    struct Migration {
        var version: Int
        var name: String
        var statements: [PostgresQuery]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "jobs, configurations and workers", statements: [
            """
            CREATE TABLE vocaseg_config (
                id BIGSERIAL PRIMARY KEY,
                inbox TEXT NOT NULL,
                outbox TEXT NOT NULL,
                pipeline_path TEXT NOT NULL,
                pipeline_text TEXT NOT NULL,
                task TEXT,
                max_attempts INTEGER NOT NULL,
                backoff_seconds DOUBLE PRECISION NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now())
            """,
            """
            CREATE TABLE vocaseg_job (
                id BIGSERIAL PRIMARY KEY,
                config_id BIGINT NOT NULL REFERENCES vocaseg_config(id),
                path TEXT NOT NULL,
                size BIGINT NOT NULL,
                mtime_ns BIGINT NOT NULL,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                started_at TIMESTAMPTZ,
                finished_at TIMESTAMPTZ,
                next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                error TEXT,
                outputs TEXT[],
                frames INTEGER,
                seconds DOUBLE PRECISION,
                worker TEXT,
                lease_token UUID,
                lease_expires_at TIMESTAMPTZ,
                UNIQUE (path, size, mtime_ns))
            """,
            "CREATE INDEX vocaseg_job_due ON vocaseg_job (state, next_attempt_at, id)",
            """
            CREATE TABLE vocaseg_worker (
                id TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                last_heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(),
                current_jobs BIGINT[] NOT NULL DEFAULT '{}',
                jobs_done INTEGER NOT NULL DEFAULT 0,
                frames_done BIGINT NOT NULL DEFAULT 0,
                busy_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
                stopped_at TIMESTAMPTZ)
            """,
        ]),
        Migration(version: 2, name: "fenced commits", statements: [
            "ALTER TABLE vocaseg_job ADD COLUMN staging TEXT",
            "ALTER TABLE vocaseg_job ADD COLUMN content_digest TEXT",
            """
            CREATE TABLE vocaseg_publication (
                job_id BIGINT NOT NULL REFERENCES vocaseg_job(id),
                lease_token UUID NOT NULL,
                worker TEXT NOT NULL,
                outputs TEXT[] NOT NULL,
                at TIMESTAMPTZ NOT NULL DEFAULT now(),
                PRIMARY KEY (job_id, lease_token))
            """,
        ]),
    ]

    static var latestVersion: Int { migrations.last!.version }

    /// Applies the migrations above the database's version, up to `target` (the latest by default; the tests
    /// stop earlier to build a database of a previous version). Returns the version reached.
    @discardableResult
    static func migrate(_ client: PostgresClient, upTo target: Int = latestVersion, logger: Logger) async throws -> Int {
        var reached = 0
        for migration in migrations where migration.version <= target {
            let applied: Bool = try await client.withTransaction(logger: logger) { connection in
                // One lock for every process migrating this database; released at commit. The version table is
                // created under it too: `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent twin.
                try await connection.query("SELECT pg_advisory_xact_lock(7305412861)", logger: logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS vocaseg_schema (
                        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                    """, logger: logger)
                let rows = try await connection.query(
                    "SELECT 1 FROM vocaseg_schema WHERE version = \(migration.version)", logger: logger)
                var present = false
                for try await _ in rows { present = true }
                if present { return false }
                for statement in migration.statements { try await connection.query(statement, logger: logger) }
                try await connection.query(
                    "INSERT INTO vocaseg_schema (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger)
                return true
            }
            if applied { logger.info("queue schema migrated", metadata: ["version": "\(migration.version)"]) }
            reached = migration.version
        }
        return reached
    }

    /// The database's schema version (0: none).
    static func version(_ client: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await client.query(
            "SELECT coalesce(max(version), 0) FROM vocaseg_schema", logger: logger)
        for try await v in rows.decode(Int.self) { return v }
        return 0
    }
}
