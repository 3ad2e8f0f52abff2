/// `database.version_query`: the SQL that reads the schema version, run on each snapshot.
/// It must be one statement that only reads and returns one column.
public enum VersionQuery {
    public static let fix = "give one SELECT that returns the version, e.g. SELECT max(version) FROM schema_migrations; or remove it to use PRAGMA user_version"

    /// Why `query` cannot read the schema version of `connection`'s database, or nil. Throws
    /// what is not the query's fault (a locked or damaged database).
    public static func problem(_ query: String, on connection: SQLiteConnection) throws(SQLiteError) -> String? {
        let prepared: (statement: Statement, moreFollow: Bool)
        do {
            prepared = try connection.prepareFirst(query)
        } catch where error.isBusy || error.isNotADatabase {
            throw error
        } catch {
            return "does not compile on \(connection.path): \(error.message)"
        }
        if prepared.moreFollow { return "holds more than one statement" }
        if !prepared.statement.isReadOnly { return "would change the database; it may only read" }
        let columns = prepared.statement.columnCount
        if columns != 1 { return "returns \(columns) columns; it must return one value" }
        return nil
    }

    /// The problem of `query` compiled (never run) against the database at `path`; nil too
    /// when that database cannot be asked (missing, unreadable, locked).
    public static func problem(_ query: String, onDatabaseAt path: String) -> String? {
        guard FileSystem.exists(path),
              let connection = try? SQLiteConnection(path: path, mode: .readOnly, busyTimeoutMilliseconds: 1000) else { return nil }
        return try? problem(query, on: connection)
    }
}
