import Foundation
import GRDB

/// One input file's life in the watch folder.
public struct JobRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public enum State: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
        /// Waiting for a worker (new, requeued after a crash or a stop, or waiting for its retry time).
        case queued
        /// A worker is on it.
        case running
        /// Outputs are complete and in place.
        case done
        /// The last attempt failed; it will be retried at `nextAttemptAt`.
        case retrying
        /// Failed for good on its first attempt: the input cannot be read (corrupt, not media), so retrying is
        /// pointless. Moved to `failed/` with an `.error.txt` beside it.
        case failed
        /// Given up on after `--attempts` failed attempts (errors, or crashes of its worker): moved to `failed/`
        /// with an `.error.txt` beside it.
        case quarantined
    }

    public static let databaseTableName = "job"

    public var id: Int64?
    /// Relative to the inbox.
    public var path: String
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var state: State
    public var attempts: Int
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    public var nextAttemptAt: Double
    public var error: String?
    /// Output paths (JSON list), recorded before they are moved into place so that a crash in between can be
    /// rolled forward.
    public var outputs: String?
    public var frames: Int?
    public var seconds: Double?
    /// `FileDigest.fnv1a` of the input, with `--content-hash`.
    public var contentDigest: String?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public var outputList: [String] {
        guard let outputs, let list = try? JSONDecoder().decode([String].self, from: Data(outputs.utf8)) else { return [] }
        return list
    }
}

/// The watch folder's durable memory: a SQLite database (through GRDB) beside the outputs.
///
/// One row per input version, unique on (path, size, mtime): an unchanged file is never processed twice, and a
/// replaced file (new size or mtime) gets a row of its own and is processed again. With content digests, a new
/// version whose contents equal an earlier one of the same path (touched, or copied in again) is recorded as done
/// without processing. Every state change is one transaction, so a crash at any moment leaves a consistent journal
/// that the next start recovers from.
public final class JobJournal: @unchecked Sendable {
    public let path: String
    let db: DatabaseQueue

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        db = try DatabaseQueue(path: path, configuration: config)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "job") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("path", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("mtimeNanoseconds", .integer).notNull()
                t.column("state", .text).notNull().indexed()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("createdAt", .double).notNull()
                t.column("startedAt", .double)
                t.column("finishedAt", .double)
                t.column("nextAttemptAt", .double).notNull().defaults(to: 0)
                t.column("error", .text)
                t.column("outputs", .text)
                t.column("frames", .integer)
                t.column("seconds", .double)
                t.uniqueKey(["path", "size", "mtimeNanoseconds"])
            }
        }
        migrator.registerMigration("v2: content digest") { db in
            try db.alter(table: "job") { t in t.add(column: "contentDigest", .text) }
        }
        migrator.registerMigration("v3: retrying apart from failed") { db in
            // Until v3 `failed` meant "retry pending"; it now means "failed for good".
            try db.execute(sql: "UPDATE job SET state = 'retrying' WHERE state = 'failed'")
        }
        try migrator.migrate(db)
    }

    /// Whether this exact version (path, size, mtime) has a row.
    public func knows(_ file: InboxFile) throws -> Bool {
        try db.read { db in try Self.hasRow(for: file, db) }
    }

    private static func hasRow(for file: InboxFile, _ db: Database) throws -> Bool {
        try JobRecord
            .filter(Column("path") == file.relativePath && Column("size") == file.size
                && Column("mtimeNanoseconds") == file.mtimeNanoseconds)
            .fetchCount(db) > 0
    }

    /// What `enqueue` did with a settled file.
    public enum Enqueued: Equatable {
        /// This version already has a row.
        case known
        /// A new row, queued for processing.
        case queued(JobRecord)
        /// A new row recorded as done at once: an earlier job of the same path had the same contents (and its
        /// outputs stand for this version).
        case unchanged(JobRecord, sameAs: Int64)
    }

    /// Records a settled file. With `digest`, a new version whose contents match an earlier row of the same path
    /// that is done or still in progress is not processed again (a failed or quarantined one does not count:
    /// dropping the same file again is how a user retries it).
    public func enqueue(_ file: InboxFile, digest: String?, now: Double) throws -> Enqueued {
        try db.write { db in
            if try Self.hasRow(for: file, db) { return .known }
            var job = JobRecord(id: nil, path: file.relativePath, size: file.size, mtimeNanoseconds: file.mtimeNanoseconds,
                                state: .queued, attempts: 0, createdAt: now, nextAttemptAt: now, contentDigest: digest)
            if let digest, let earlier = try JobRecord
                .filter(Column("path") == file.relativePath && Column("contentDigest") == digest
                    && ![JobRecord.State.quarantined.rawValue, JobRecord.State.failed.rawValue].contains(Column("state")))
                .order(Column("id").desc)
                .fetchOne(db), let earlierID = earlier.id {
                job.state = .done
                job.finishedAt = now
                job.outputs = earlier.outputs
                try job.insert(db)
                return .unchanged(job, sameAs: earlierID)
            }
            try job.insert(db)
            return .queued(job)
        }
    }

    /// Takes the oldest job that is due, marking it running and counting the attempt, atomically: the attempt is
    /// on record before any work starts, whatever ends it.
    public func claimNext(now: Double) throws -> JobRecord? {
        try db.write { db in
            guard var job = try JobRecord
                .filter([JobRecord.State.queued.rawValue, JobRecord.State.retrying.rawValue].contains(Column("state")))
                .filter(Column("nextAttemptAt") <= now)
                .order(Column("nextAttemptAt"), Column("id"))
                .fetchOne(db)
            else { return nil }
            job.state = .running
            job.attempts += 1
            job.startedAt = now
            job.error = nil
            try job.update(db)
            return job
        }
    }

    public func setOutputs(_ id: Int64, _ outputs: [String]) throws {
        let json = String(decoding: try JSONEncoder().encode(outputs), as: UTF8.self)
        try db.write { db in
            try db.execute(sql: "UPDATE job SET outputs = ? WHERE id = ?", arguments: [json, id])
        }
    }

    public func markDone(_ id: Int64, frames: Int, seconds: Double, now: Double) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE job SET state = ?, finishedAt = ?, frames = ?, seconds = ?, error = NULL WHERE id = ?",
                           arguments: [JobRecord.State.done.rawValue, now, frames, seconds, id])
        }
    }

    public func markRetrying(_ id: Int64, error: String, retryAt: Double, now: Double) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE job SET state = ?, finishedAt = ?, error = ?, nextAttemptAt = ? WHERE id = ?",
                           arguments: [JobRecord.State.retrying.rawValue, now, error, retryAt, id])
        }
    }

    /// `.failed` (unreadable input, given up at once) or `.quarantined` (out of attempts).
    public func markGivenUp(_ id: Int64, state: JobRecord.State, error: String, now: Double) throws {
        precondition(state == .failed || state == .quarantined, "markGivenUp: \(state) is not a final failure")
        try db.write { db in
            try db.execute(sql: "UPDATE job SET state = ?, finishedAt = ?, error = ? WHERE id = ?",
                           arguments: [state.rawValue, now, error, id])
        }
    }

    /// A stop abandoned the job: back to the queue, and the abandoned attempt does not count.
    public func requeue(_ id: Int64, now: Double) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE job SET state = ?, attempts = MAX(attempts - 1, 0), nextAttemptAt = ?, startedAt = NULL WHERE id = ?",
                           arguments: [JobRecord.State.queued.rawValue, now, id])
        }
    }

    /// Jobs left `running` by a process that died (SIGKILL, power loss).
    public func runningJobs() throws -> [JobRecord] {
        try db.read { db in try JobRecord.filter(Column("state") == JobRecord.State.running.rawValue).fetchAll(db) }
    }

    public func job(_ id: Int64) throws -> JobRecord? {
        try db.read { db in try JobRecord.fetchOne(db, key: id) }
    }

    public func allJobs() throws -> [JobRecord] {
        try db.read { db in try JobRecord.order(Column("id")).fetchAll(db) }
    }

    /// Jobs not finished for good: queued, running, or retrying.
    public func pendingCount() throws -> Int {
        try db.read { db in
            try JobRecord.filter([JobRecord.State.queued.rawValue, JobRecord.State.running.rawValue,
                                  JobRecord.State.retrying.rawValue].contains(Column("state"))).fetchCount(db)
        }
    }

    /// The earliest retry time among queued and retrying jobs, so that `--once` waits for retries instead of exiting early.
    public func nextRetryTime() throws -> Double? {
        try db.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(nextAttemptAt) FROM job WHERE state IN ('queued', 'retrying')")
        }
    }
}
