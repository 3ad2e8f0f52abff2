import CSQLite
import Glibc
import SystemCalls

/// An SQLite failure: the result code, SQLite's own message, and what we were doing.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let context: String
    /// The operating system's errno behind an I/O error (sqlite3_system_errno), or 0.
    public var systemErrno: Int32 = 0

    public init(code: Int32, message: String, context: String, systemErrno: Int32 = 0) {
        self.code = code
        self.message = message
        self.context = context
        self.systemErrno = systemErrno
    }

    public var description: String { "\(context): \(message) (SQLite code \(code))" }

    /// SQLITE_BUSY / SQLITE_LOCKED: another connection holds a conflicting lock.
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
    /// SQLITE_NOTADB / SQLITE_CORRUPT: the file is not a (healthy) database.
    public var isNotADatabase: Bool { code & 0xff == SQLITE_NOTADB || code & 0xff == SQLITE_CORRUPT }
    /// SQLITE_FULL, or an I/O error whose cause was ENOSPC/EDQUOT (SQLite reports a full file
    /// system while it sizes its -shm file as SQLITE_IOERR_SHMSIZE): the disk or quota is full.
    public var isDiskFull: Bool { code & 0xff == SQLITE_FULL || systemErrno == ENOSPC || systemErrno == EDQUOT }
}

/// One SQLite connection. Not shared across threads; every C call goes through here.
public final class SQLiteConnection {
    public enum Mode {
        case readOnly, readWrite, readWriteCreate
        /// Read-only, without locks and without the `-wal`/`-shm` files (SQLite's
        /// `immutable=1`): for a private copy nobody else writes, such as a staged snapshot or a
        /// restore's temporary file. It then also works on file systems without shared memory
        /// maps (FUSE ones), and leaves no side files.
        case immutable
    }

    let handle: OpaquePointer
    public let path: String

    public init(path: String, mode: Mode, busyTimeoutMilliseconds: Int32 = 5000) throws(SQLiteError) {
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        var name = path
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .immutable:
            flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
            name = "file:" + Self.uriEscaped(path) + "?immutable=1"
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(name, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let systemErrno = db.map { sqlite3_system_errno($0) } ?? 0
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: message, context: "open \(path)", systemErrno: systemErrno)
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit { sqlite3_close_v2(handle) }

    /// A path as the path of a `file:` URI: `%`, `?` and `#` (and bytes outside printable
    /// ASCII) percent-encoded.
    static func uriEscaped(_ path: String) -> String {
        var result = ""
        for byte in path.utf8 {
            if byte == UInt8(ascii: "%") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") || byte < 0x21
                || byte > 0x7e
            {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return result
    }

    func error(_ code: Int32, _ context: String) -> SQLiteError {
        SQLiteError(
            code: code, message: String(cString: sqlite3_errmsg(handle)), context: context,
            systemErrno: sqlite3_system_errno(handle))
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc, "\(sql.prefix(60))") }
    }

    /// Runs `sql`, trying again for up to `timeout` while another connection holds a lock.
    /// For the statements SQLite answers SQLITE_BUSY at once rather than call the busy
    /// handler, where waiting could deadlock: switching a database that several processes
    /// open at the same moment to WAL is one.
    public func executeRetryingBusy(_ sql: String, timeout: Duration) throws(SQLiteError) {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                return try execute(sql)
            } catch  where error.isBusy && ContinuousClock.now < deadline {
                Syscalls.sleep(for: .milliseconds(5))
            }
        }
    }

    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, "prepare \(sql.prefix(60))") }
        return Statement(connection: self, handle: statement, sql: sql)
    }

    /// Prepares the first statement of `sql`, and tells whether another statement follows it
    /// (what follows is only compiled, never run).
    public func prepareFirst(_ sql: String) throws(SQLiteError) -> (statement: Statement, moreFollow: Bool) {
        var statement: OpaquePointer?
        var moreFollow = false
        let rc = sql.withCString { text in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v2(handle, text, -1, &statement, &tail)
            if rc == SQLITE_OK, let tail, tail.pointee != 0 {
                // Comments and semicolons compile to no statement; anything else (even what
                // does not compile) is one more.
                var next: OpaquePointer?
                moreFollow = sqlite3_prepare_v2(handle, tail, -1, &next, nil) != SQLITE_OK || next != nil
                sqlite3_finalize(next)
            }
            return rc
        }
        guard rc == SQLITE_OK else { throw error(rc, "prepare \(sql.prefix(60))") }
        guard let statement else {
            throw SQLiteError(
                code: SQLITE_MISUSE, message: "holds no SQL statement", context: "prepare \(sql.prefix(60))")
        }
        return (Statement(connection: self, handle: statement, sql: sql), moreFollow)
    }

    /// The first column of the first row of `sql`, as text; nil when there is no row or it is NULL.
    public func scalar(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT, rolling back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// A prepared statement. Binding indexes start at 1, column indexes at 0, as in SQLite.
public final class Statement {
    let connection: SQLiteConnection
    let handle: OpaquePointer
    let sql: String

    init(connection: SQLiteConnection, handle: OpaquePointer, sql: String) {
        self.connection = connection
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    @discardableResult
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) -> Statement {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .integer(let number): rc = sqlite3_bind_int64(handle, index, number)
            case .text(let text): rc = sqlite3_bind_text(handle, index, text, -1, dbbackup_sqlite_transient())
            }
            if rc != SQLITE_OK { throw connection.error(rc, "bind \(sql.prefix(60))") }
        }
        return self
    }

    /// Advances to the next row; false when done.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, "\(sql.prefix(60))")
        }
    }

    /// Runs a statement that returns no rows.
    public func run(_ values: [SQLiteValue] = []) throws(SQLiteError) {
        try bind(values)
        while try step() {}
    }

    /// True when running the statement cannot change the database (sqlite3_stmt_readonly).
    public var isReadOnly: Bool { sqlite3_stmt_readonly(handle) != 0 }
    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    public func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: pointer)
    }
}

public enum SQLiteValue: Sendable {
    case null
    case integer(Int64)
    case text(String)

    public static func optional(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }
    public static func optional(_ number: Int64?) -> SQLiteValue { number.map { .integer($0) } ?? .null }
}
