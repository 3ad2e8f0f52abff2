/// `database.version_query`: the SQL that reads the schema version, run on each snapshot.
/// It must be one statement that only reads and returns one column, whose value can name a file.
public enum VersionQuery {
    public static let fix =
        """
        give one SELECT that returns the version, e.g. SELECT max(version) FROM schema_migrations; or remove it \
        to use PRAGMA user_version
        """

    /// Why `query` cannot read the schema version of `connection`'s database, or nil. Throws
    /// what is not the query's fault (a locked or damaged database).
    public static func problem(_ query: String, on connection: SQLiteConnection) throws(SQLiteError) -> String? {
        let prepared: (statement: Statement, moreFollow: Bool)
        do {
            prepared = try connection.prepareFirst(query)
        } catch  where error.isBusy || error.isNotADatabase {
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

    /// Why `value`, what the query returned, cannot be a schema version (it goes into file
    /// names), or nil.
    public static func valueProblem(_ value: String?) -> String? {
        if let value, SchemaVersion.isValid(value) { return nil }
        let returned = value.map { $0.isEmpty ? "an empty value" : "\"\($0.prefix(80))\"" } ?? "nothing"
        return "returned \(returned); it must return one value of 1-64 letters, digits, '.', '_' or '-'"
    }

    /// `query` checked against the live database at `path`, as `init` and `config check` do:
    /// compiled, then (as it only reads) run once for its value. nil too when that database
    /// cannot be asked (missing, unreadable, locked, or opening it would create -wal/-shm files
    /// the application could not use, see `LiveDatabase`): the run reports that itself.
    public static func problem(_ query: String, onDatabaseAt path: String) -> String? {
        guard (try? LiveDatabase.inspect(path)) != nil,
            let connection = try? SQLiteConnection(path: path, mode: .readOnly, busyTimeoutMilliseconds: 1000)
        else { return nil }
        do {
            if let problem = try problem(query, on: connection) { return problem }
            return valueProblem(try connection.scalar(query)).map { "\($0) (on \(path))" }
        } catch  where error.isBusy || error.isNotADatabase {
            return nil
        } catch {
            return "fails on \(path): \(error.message)"
        }
    }
}
