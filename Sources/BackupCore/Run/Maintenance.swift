import Logging
import SystemCalls

/// Keeps the registry consistent with what is stored, across crashes: settles backups a
/// crashed run left `pending`, removes what failed uploads may have left in a store, and
/// performs deletions so that a row disappears from view only after its file is gone.
///
/// Every function returns what it could not do: the run reports it loudly (exit status 74)
/// and the next run tries again.
struct Maintenance {
    let registry: BackupRegistry
    let logger: Logger

    /// How long after a failed upload its key is still deleted again by later runs: a PUT that
    /// a buffering proxy delivers late can store the object after the run gave up.
    static let lateUploadWindowMilliseconds: Int64 = 3_600_000

    /// A pending row means a run died between recording and finishing. If the file is in
    /// place and intact, the backup counts; otherwise it never happened, and an object an
    /// unconfirmed upload may have stored is deleted (now, and by later runs: a late PUT).
    func settlePending(of registration: String, store: any BackupStore) -> [String] {
        guard let pending = try? registry.backups(in: .pending, registration: registration) else { return [] }
        var failures: [String] = []
        for record in pending where record.provider == store.provider {
            guard case .file(let path)? = record.location else {
                guard let location = record.location else { continue }
                let error = "interrupted before the upload was confirmed"
                do {
                    try store.delete(location)
                    try registry.markFailed(record.id, error: "\(error); the object was removed", leftover: true)
                    logger.notice("settled backup \(record.id) left pending by an interrupted run: removed \(location)")
                } catch {
                    failures.append("\(location), left by an interrupted run: \(error)")
                }
                continue
            }
            if FileSystem.exists(path), let (sha256, _) = try? FileSystem.sha256(of: path), sha256 == record.sha256 {
                try? registry.markStored(record.id, at: record.startedAt)
                logger.notice("settled backup \(record.id) left pending by an interrupted run: \(path) is intact")
            } else {
                // A file that is not the recorded backup, under the name this run claimed: the
                // empty placeholder of an exclusive create, or part of one. Nothing else can
                // have that name (names are never given twice).
                if FileSystem.exists(path) { try? FileSystem.unlinkIfPresent(path) }
                try? registry.markFailed(record.id, error: "interrupted before the file was placed")
                logger.notice("settled backup \(record.id) left pending by an interrupted run: not stored")
            }
        }
        return failures
    }

    /// Deletes again the keys of failed uploads of this registration, until a delete has
    /// succeeded after `lateUploadWindowMilliseconds` (a late PUT may store them meanwhile).
    func removeLeftovers(of registration: String, store: any BackupStore, now: Timestamp = .now()) -> [String] {
        guard let leftovers = try? registry.leftovers(of: registration) else { return [] }
        var failures: [String] = []
        for record in leftovers where record.provider == store.provider {
            guard let location = record.location else { continue }
            do {
                try store.delete(location)
                let failedAt = record.finishedAt ?? record.startedAt
                try registry.leftoverDeleted(
                    record.id, done: failedAt.milliseconds(until: now) >= Self.lateUploadWindowMilliseconds)
            } catch {
                try? registry.leftoverDeleteFailed(record.id, error: "\(error)")
                failures.append(
                    """
                    \(location), left by the failed run of \(record.startedAt.rfc3339): \(error); if that store is \
                    gone for good, or the object was removed by hand, stop trying with: dbbackup registry forget \
                    \(record.id)
                    """
                )
            }
        }
        return failures
    }

    struct Deletion {
        var deleted: [BackupRecord] = []
        var failures: [String] = []
    }

    /// Marks each record `pruning`, deletes it where it was stored, then marks it `pruned`.
    func delete(_ records: [BackupRecord], store: any BackupStore) -> Deletion {
        var result = Deletion()
        for record in records {
            guard let location = record.location else { continue }
            do {
                try registry.markPruning(record.id)
                CrashPoint.beforeDelete.reached()
                try store.delete(location)
                CrashPoint.afterDelete.reached()
                try registry.markPruned(record.id)
                result.deleted.append(record)
                logger.info(
                    "retention deleted \(location)",
                    metadata: ["registration": "\(record.registration)", "id": "\(record.id)"])
            } catch let error as StoreError {
                // Not a failure a retry can mend: say how to end it.
                result.failures.append(
                    """
                    \(location) (backup \(record.id)): \(error); once it is deleted there, or to keep it on \
                    purpose, run: dbbackup registry forget \(record.id)
                    """
                )
            } catch {
                result.failures.append("\(location): \(error)")
                // A journal entry of its own; the run's outcome reports every failure loudly
                // (a warning entry, exit status 74), so a terminal does not see it twice.
                logger.notice(
                    "retention could not delete \(location): \(error)",
                    metadata: ["registration": "\(record.registration)"])
            }
        }
        return result
    }
}
