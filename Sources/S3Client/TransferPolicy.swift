/// How uploads are split and how hard the client tries. The defaults suit a backup agent on a
/// server: single PUT up to the 5 GiB limit, retries for a few minutes, stalls detected in a minute.
public struct TransferPolicy: Sendable, Equatable {
    /// Files larger than this are sent as a multipart upload. Default 5 GiB, the single-PUT limit.
    public var multipartThreshold: Int64
    /// Size of each multipart part (the last may be smaller). At least 5 MiB (S3's minimum for all
    /// but the last part); raised automatically when a file would need more than 10,000 parts.
    public var partSize: Int64
    /// How many parts of a multipart upload are sent at once, each on its own connection.
    public var concurrentParts: Int
    public var retry: RetryPolicy
    /// Time allowed to establish the TCP (and TLS) connection.
    public var connectTimeout: Duration
    /// A transfer slower than `lowSpeedLimit` bytes per second for `lowSpeedTime` is aborted
    /// (and retried), so a stalled connection fails instead of hanging.
    public var lowSpeedLimit: Int
    public var lowSpeedTime: Duration
    /// Verify the server's TLS certificate and host name. Turn off only for a test store.
    public var verifyTLS: Bool
    /// A PEM bundle of CA certificates to trust instead of the system's (self-hosted stores).
    public var caBundlePath: String?

    public static let minimumPartSize: Int64 = 5 * 1024 * 1024
    public static let maximumSinglePutSize: Int64 = 5 * 1024 * 1024 * 1024
    public static let maximumPartCount: Int64 = 10_000

    public init(
        multipartThreshold: Int64 = TransferPolicy.maximumSinglePutSize,
        partSize: Int64 = 16 * 1024 * 1024,
        concurrentParts: Int = 4,
        retry: RetryPolicy = RetryPolicy(),
        connectTimeout: Duration = .seconds(10),
        lowSpeedLimit: Int = 1024,
        lowSpeedTime: Duration = .seconds(60),
        verifyTLS: Bool = true,
        caBundlePath: String? = nil
    ) {
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
        self.concurrentParts = max(1, concurrentParts)
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.lowSpeedLimit = lowSpeedLimit
        self.lowSpeedTime = lowSpeedTime
        self.verifyTLS = verifyTLS
        self.caBundlePath = caBundlePath
    }

    /// The part size actually used for a file of `size` bytes: at least the minimum, and large
    /// enough that the upload needs no more than 10,000 parts (rounded up to whole MiB).
    public func effectivePartSize(forFileSize size: Int64) -> Int64 {
        var part = max(partSize, Self.minimumPartSize)
        let mebibyte: Int64 = 1024 * 1024
        if (size + part - 1) / part > Self.maximumPartCount {
            let needed = (size + Self.maximumPartCount - 1) / Self.maximumPartCount
            part = (needed + mebibyte - 1) / mebibyte * mebibyte
        }
        return part
    }

    /// Whether a file of `size` bytes goes as a multipart upload.
    public func usesMultipart(forFileSize size: Int64) -> Bool {
        size > min(multipartThreshold, Self.maximumSinglePutSize)
    }
}

/// Exponential backoff with full jitter (the wait before attempt n+1 is uniformly random in
/// `0...min(maxDelay, baseDelay * 2^(n-1))`), bounded by an attempt count and a total time.
///
/// `totalTimeout` bounds the time within which a request may be retried: no new attempt starts
/// (and no backoff sleep is begun) that would start after it. A running transfer is bounded by
/// the low-speed limit instead, so a large upload on a slow but moving link is never cut off.
/// For a multipart upload the bound applies to each request (each part) separately.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    public var totalTimeout: Duration

    public init(
        maxAttempts: Int = 6,
        baseDelay: Duration = .milliseconds(500),
        maxDelay: Duration = .seconds(30),
        totalTimeout: Duration = .seconds(600)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.totalTimeout = totalTimeout
    }

    /// No retries at all: one attempt.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// The upper bound of the random wait after failed attempt `attempt` (1-based).
    public func backoffCeiling(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let grown = baseDelay.seconds * Double(1 << exponent)
        return .seconds(min(grown, maxDelay.seconds))
    }

    /// A full-jitter wait after failed attempt `attempt`.
    func jitteredDelay<R: RandomNumberGenerator>(afterAttempt attempt: Int, using generator: inout R) -> Duration {
        let ceiling = backoffCeiling(afterAttempt: attempt).seconds
        guard ceiling > 0 else { return .zero }
        return .seconds(Double.random(in: 0...ceiling, using: &generator))
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// Whole milliseconds, rounded up, for libcurl options.
    var wholeMilliseconds: Int {
        Int((seconds * 1000).rounded(.up))
    }
}
