import Logging

/// Keeps the registry consistent with what is stored, across crashes: settles backups a
/// crashed run left `pending`, and performs deletions so that a row disappears from view
/// only after its file is gone.
struct Maintenance {
    let registry: Registry
    let logger: Logger

    /// A pending row means a run died between recording and finishing. If the file is in
    /// place and intact, the backup counts; otherwise it never happened.
    func settlePending(of registration: String, store: any BackupStore) {
        guard let pending = try? registry.backups(in: .pending, registration: registration) else { return }
        for record in pending where record.provider == store.provider {
            guard case .file(let path)? = record.location else {
                // An upload that was never confirmed: remove whatever the store may hold.
                guard let location = record.location else { continue }
                do {
                    try store.delete(location)
                    try registry.markFailed(record.id, error: "interrupted before the upload was confirmed; the object was removed")
                    logger.notice("settled backup \(record.id) left pending by an interrupted run: removed \(location)")
                } catch {
                    logger.error("could not remove \(location), left by an interrupted run: \(error); retrying next run")
                }
                continue
            }
            if FileSystem.exists(path), let (sha256, _) = try? FileSystem.sha256(of: path), sha256 == record.sha256 {
                try? registry.markStored(record.id, at: record.startedAt)
                logger.notice("settled backup \(record.id) left pending by an interrupted run: \(path) is intact")
            } else {
                try? registry.markFailed(record.id, error: "interrupted before the file was placed")
                logger.notice("settled backup \(record.id) left pending by an interrupted run: not stored")
            }
        }
    }

    struct Deletion {
        var deleted: [BackupRecord] = []
        var failures: [String] = []
    }

    /// Marks each record `pruning`, deletes it from the store, then marks it `pruned`.
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
                logger.info("retention deleted \(location)", metadata: ["registration": "\(record.registration)", "id": "\(record.id)"])
            } catch {
                result.failures.append("\(location): \(error)")
                // A journal entry of its own; the run's outcome reports every failure loudly
                // (a warning entry, exit status 74), so a terminal does not see it twice.
                logger.notice("retention could not delete \(location): \(error)", metadata: ["registration": "\(record.registration)"])
            }
        }
        return result
    }
}
