// swift-tools-version:6.0
//
// dbbackup: a systemd-native backup agent for an application's SQLite database.
//
//   Sources/C*          thin module maps over Debian's C libraries (CLinux: glibc's GNU-only calls)
//   Sources/SystemCalls every raw system call, wrapped once (Syscalls.swift), EINTR retried in one place
//   Sources/Hashing     SHA-256 / HMAC / MD5, X25519, HKDF, ChaCha20-Poly1305 over libcrypto; CRC-32 over zlib
//   Sources/Zstd        streaming zstd (de)compression over libzstd
//   Sources/Age         the age v1 encryption format (X25519 recipients) on Hashing's primitives
//   Sources/Threads     a joinable POSIX thread, for work beside the main thread that blocks
//   Sources/BackupCore  the domain: configuration, schedules, retention, registry, snapshot, runs
//   Sources/S3Client    an S3 client (SigV4, libcurl)
//   Sources/SystemdSupport  sd_notify, the journal (sd_journal_sendv), unit-name escaping
//   Sources/DBBackupCLI the command line: one ParsableCommand per verb (a library, for unit tests)
//   Sources/dbbackup    the executable: starts DBBackupCLI, nothing else
import PackageDescription

/// Member lookup only through modules a file imports (SE-0444): nothing of Foundation reaches
/// the binary by accident through a dependency that imports it. Full Foundation links ICU's
/// 30 MB of data; FoundationEssentials does not.
let strictImports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

/// The crash points the reliability tests kill a run at (DBBACKUP_TEST_CRASH_AT) exist in
/// debug builds, which the tests use, and not in the release binary that is shipped.
let testHooks: [SwiftSetting] = [.define("DBBACKUP_CRASH_POINTS", .when(configuration: .debug))]

let package = Package(
    name: "dbbackup",
    products: [
        .executable(name: "dbbackup", targets: ["dbbackup"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLinux"),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        .target(name: "SystemCalls", dependencies: ["CLinux"], swiftSettings: strictImports),
        .target(name: "Hashing", dependencies: ["COpenSSL", "CZlib"], swiftSettings: strictImports),
        .target(name: "Threads", swiftSettings: strictImports),
        .target(name: "Zstd", dependencies: ["CZstd"], swiftSettings: strictImports),
        .target(name: "Age", dependencies: ["Hashing"], swiftSettings: strictImports),
        .target(
            name: "S3Client", dependencies: ["CCurl", "Hashing", "SystemCalls", "Threads"], swiftSettings: strictImports
        ),
        .target(
            name: "SystemdSupport",
            dependencies: ["CSystemd", "SystemCalls", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictImports),
        .target(
            name: "BackupCore",
            dependencies: [
                "Age", "CLinux", "CSQLite", "Hashing", "S3Client", "SystemCalls", "SystemdSupport", "Threads", "Zstd",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictImports + testHooks
        ),
        // The command line: one ParsableCommand per verb, in a library so unit tests reach its
        // logic (option placement, durations); the executable only starts it.
        .target(
            name: "DBBackupCLI",
            dependencies: [
                "Age", "BackupCore", "SystemCalls", "SystemdSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictImports
        ),
        .executableTarget(name: "dbbackup", dependencies: ["DBBackupCLI"], swiftSettings: strictImports),

        // Test helpers shared by the test targets (running programs, mainly).
        .target(name: "TestKit", dependencies: ["CLinux"], path: "Tests/TestKit"),
        // BackupCodec as a process, for the memory-bound test and Benchmarks/codec.py; not shipped.
        .executableTarget(
            name: "codec-tool", dependencies: ["Age", "BackupCore", "Hashing", "SystemCalls"], path: "Tests/CodecTool",
            swiftSettings: strictImports),
        .testTarget(name: "BackupCoreTests", dependencies: ["BackupCore", "CSQLite", "SystemCalls", "TestKit"]),
        .testTarget(
            name: "S3ClientTests", dependencies: ["S3Client", "Hashing", "BackupCore", "SystemCalls", "TestKit"]),
        .testTarget(name: "SystemdSupportTests", dependencies: ["SystemdSupport", "CSystemd", "TestKit"]),
        .testTarget(name: "ThreadsTests", dependencies: ["Threads"]),
        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "CLITests", dependencies: ["BackupCore", "SystemCalls", "TestKit"]),
        .testTarget(name: "DBBackupCLITests", dependencies: ["DBBackupCLI", "BackupCore"]),
        .testTarget(
            name: "EncodingTests", dependencies: ["Age", "Zstd", "Hashing", "BackupCore", "SystemCalls", "TestKit"]),
    ],
    swiftLanguageModes: [.v6]
)
