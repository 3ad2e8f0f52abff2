import Synchronization
import SystemCalls

/// Temporary credentials of the instance's IAM role, from the instance metadata service with
/// IMDSv2 only: `PUT /latest/api/token` for a session token, then, with that token,
/// `GET /latest/meta-data/iam/security-credentials/` (the role's name) and
/// `GET …/security-credentials/ROLE` (AccessKeyId, SecretAccessKey, Token, Expiration).
/// IMDSv1 (plain GETs without a token) is never used: it is what SSRF attacks on instances
/// abuse, and AWS recommends requiring v2.
///
/// The credentials are cached and fetched again when less than five minutes (or half their
/// lifetime, if that is shorter) remain, so a long multipart upload switches to the new ones
/// the role gets before the old ones expire. One fetch at a time: the parts of a concurrent
/// upload wait for it rather than all asking the service at once.
///
/// The service is link-local (169.254.169.254) and must never be asked through a proxy: the
/// requests ignore `http_proxy`/`no_proxy`, have a 1 s connect timeout, 3 s in all, and up to
/// three attempts.
public final class InstanceMetadata: Sendable {
    /// EC2's (and most compatible clouds') metadata service.
    public static let defaultEndpoint = "http://169.254.169.254"
    /// Renew credentials this long before they expire (at most half their lifetime).
    static let refreshMargin: Int64 = 300
    static let tokenLifetimeSeconds = 21_600

    let endpoint: String
    let caBundlePath: String?
    /// For error messages: the bucket whose requests need the credentials.
    let bucket: String

    private struct State {
        var token: String?
        var role: String?
        var credentials: S3Credentials?
        var fetchedAt: Int64 = 0
    }

    private let state = Mutex(State())

    public init(endpoint: String = InstanceMetadata.defaultEndpoint, caBundlePath: String? = nil, bucket: String = "") {
        var base = endpoint.trimmingASCIIWhitespace
        while base.hasSuffix("/") { base.removeLast() }
        self.endpoint = base.isEmpty ? Self.defaultEndpoint : base
        self.caBundlePath = caBundlePath
        self.bucket = bucket
    }

    /// The role's current credentials, from the cache while they are fresh.
    public func credentials() throws(S3Error) -> S3Credentials {
        try state.withLock { (state) throws(S3Error) -> S3Credentials in
            let now = wallClockSeconds()
            if let cached = state.credentials, !Self.needsRefresh(cached, fetchedAt: state.fetchedAt, now: now) {
                return cached
            }
            let (role, fresh) = try fetch(&state)
            state.role = role
            state.credentials = fresh
            state.fetchedAt = now
            return fresh
        }
    }

    /// Drops the cached credentials, so the next request fetches new ones.
    func invalidate() {
        state.withLock { $0.credentials = nil }
    }

    /// The role's name, once known.
    var roleName: String? { state.withLock { $0.role } }

    var cachedSecrets: [String] {
        state.withLock { state in
            guard let credentials = state.credentials else { return [] }
            return [credentials.secretKey] + (credentials.sessionToken.map { [$0] } ?? [])
        }
    }

    static func needsRefresh(_ credentials: S3Credentials, fetchedAt: Int64, now: Int64) -> Bool {
        guard let expiration = credentials.expiration else { return false }
        let margin = min(refreshMargin, max(0, expiration - fetchedAt) / 2)
        return now >= expiration - margin
    }

    // MARK: the protocol

    private func fetch(_ state: inout State) throws(S3Error) -> (String, S3Credentials) {
        var token: String
        if let cached = state.token {
            token = cached
        } else {
            token = try requestToken()
            state.token = token
        }
        var roleAnswer = try get("/latest/meta-data/iam/security-credentials/", token: token)
        if roleAnswer.status == 401 {
            // The session token expired (six hours) or the service restarted: one new token.
            token = try requestToken()
            state.token = token
            roleAnswer = try get("/latest/meta-data/iam/security-credentials/", token: token)
        }
        guard roleAnswer.status != 404 else {
            throw failure(
                "no IAM role is attached to this instance (the metadata service lists none)",
                fix: "attach an instance profile whose role allows s3:PutObject and s3:DeleteObject on "
                    + """
                    arn:aws:s3:::\(bucket)/* (aws ec2 associate-iam-instance-profile), or store an access key and \
                    secret instead
                    """
            )
        }
        guard roleAnswer.status == 200 else { throw unexpected(roleAnswer, asking: "the role's name") }
        guard
            let role = roleAnswer.bodyText.split(whereSeparator: \.isNewline).first.map({
                String($0).trimmingASCIIWhitespace
            }),
            !role.isEmpty
        else {
            throw failure(
                "no IAM role is attached to this instance (the metadata service lists none)",
                fix: "attach an instance profile to the instance, or store an access key and secret instead")
        }
        let answer = try get(
            "/latest/meta-data/iam/security-credentials/\(URIEncoding.encode(role, keepingSlash: false))", token: token)
        guard answer.status == 200 else {
            if answer.status == 404 {
                throw failure(
                    """
                    the metadata service names role \(role) but has no credentials for it (the instance profile \
                    may have just changed)
                    """,
                    fix: "try again in a minute; if it persists, re-associate the instance profile")
            }
            throw unexpected(answer, asking: "the credentials of role \(role)")
        }
        guard let fields = FlatJSON.strings(answer.bodyText) else {
            throw failure(
                "the metadata service's credentials for role \(role) are not a JSON object", fix: nil,
                kind: .invalidResponse)
        }
        if let code = fields["Code"], code != "Success" {
            throw failure(
                "the metadata service has no usable credentials for role \(role): \(code)"
                    + (fields["Message"].map { " (\($0))" } ?? ""),
                fix: "check the role's trust policy allows ec2.amazonaws.com, and the instance profile")
        }
        guard let accessKey = fields["AccessKeyId"], !accessKey.isEmpty, let secret = fields["SecretAccessKey"],
            !secret.isEmpty,
            let sessionToken = fields["Token"], !sessionToken.isEmpty
        else {
            throw failure(
                "the metadata service's answer for role \(role) lacks AccessKeyId, SecretAccessKey or Token",
                fix: nil, kind: .invalidResponse)
        }
        let expiration = fields["Expiration"].flatMap(HTTPDate.parseISO8601)
        return (
            role,
            S3Credentials(accessKey: accessKey, secretKey: secret, sessionToken: sessionToken, expiration: expiration)
        )
    }

    private func requestToken() throws(S3Error) -> String {
        let answer = try send(
            HTTPRequest(
                method: "PUT", url: endpoint + "/latest/api/token",
                headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenLifetimeSeconds))],
                body: .bytes([])), asking: "an IMDSv2 session token")
        switch answer.status {
        case 200 where !answer.bodyText.trimmingASCIIWhitespace.isEmpty:
            return answer.bodyText.trimmingASCIIWhitespace
        case 403:
            throw failure(
                """
                the instance metadata service at \(endpoint) is turned off for this instance (403 to the token \
                request)
                """,
                fix:
                    """
                    enable it: aws ec2 modify-instance-metadata-options --instance-id ID --http-endpoint enabled \
                    --http-tokens required
                    """
            )
        case 404, 405:
            throw failure(
                "the metadata service at \(endpoint) does not offer IMDSv2 session tokens (\(answer.status) to PUT "
                    + "/latest/api/token); dbbackup uses IMDSv2 only",
                fix: "use a metadata service with IMDSv2, or store an access key and secret instead")
        default:
            throw unexpected(answer, asking: "an IMDSv2 session token")
        }
    }

    private func get(_ path: String, token: String) throws(S3Error) -> HTTPResponse {
        try send(
            HTTPRequest(method: "GET", url: endpoint + path, headers: [("X-aws-ec2-metadata-token", token)]),
            asking: "the instance's role credentials")
    }

    /// One request, tried up to three times on transport errors and 5xx.
    private func send(_ request: HTTPRequest, asking what: String) throws(S3Error) -> HTTPResponse {
        var request = request
        request.totalTimeout = .seconds(3)
        request.bypassProxy = true
        let policy = TransferPolicy(
            connectTimeout: .seconds(1), lowSpeedLimit: 1, lowSpeedTime: .seconds(3), caBundlePath: caBundlePath)
        let easy = CurlEasy()
        var attempt = 0
        while true {
            attempt += 1
            switch easy.perform(request, policy: policy, progress: nil) {
            case .response(let response) where response.status >= 500 && attempt < 3:
                Syscalls.sleep(for: .milliseconds(200 * attempt))
            case .response(let response):
                return response
            case .transportFailure(let code, let message) where attempt >= 3 || !CurlErrorClass.isTransient(code):
                throw failure(
                    "no instance metadata service answered \(endpoint) when asked for \(what) (\(message))",
                    fix:
                        "credentials = \"instance\" works only on a cloud instance with a metadata service (EC2 or "
                        + "compatible); in a container on EC2, the instance's metadata hop limit must be 2 "
                            + """
                            (aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2); elsewhere \
                            store an access key and secret
                            """,
                    curlCode: code)
            case .transportFailure:
                Syscalls.sleep(for: .milliseconds(200 * attempt))
            case .localFailure(let message):
                throw failure(message, fix: nil)
            }
        }
    }

    private func unexpected(_ response: HTTPResponse, asking what: String) -> S3Error {
        let body = response.bodyText.trimmingASCIIWhitespace
        return failure(
            "the instance metadata service at \(endpoint) answered \(response.status) when asked for \(what)"
                + (body.isEmpty || body.count > 200 ? "" : ": \(body)"), fix: nil)
    }

    private func failure(
        _ message: String, fix: String?, kind: S3Error.Kind = .credentials, curlCode: Int? = nil
    ) -> S3Error {
        var error = S3Error(
            kind: kind, operation: "get instance credentials (IMDSv2)", bucket: bucket, key: "",
            message: message + (fix.map { "; \($0)" } ?? ""), curlCode: curlCode)
        error.endpoint = endpoint
        return error
    }
}

/// The string members of one flat JSON object (other values are skipped), which is all the
/// metadata service's credential documents hold. Nil if the text is not a JSON object.
enum FlatJSON {
    static func strings(_ text: String) -> [String: String]? {
        var scalars = Array(text.unicodeScalars)[...]
        func skipSpace() {
            while let first = scalars.first, first == " " || first == "\n" || first == "\r" || first == "\t" {
                scalars.removeFirst()
            }
        }
        func string() -> String? {
            guard scalars.first == "\"" else { return nil }
            scalars.removeFirst()
            var out = String.UnicodeScalarView()
            while let scalar = scalars.popFirst() {
                switch scalar {
                case "\"": return String(out)
                case "\\":
                    guard let escaped = scalars.popFirst() else { return nil }
                    switch escaped {
                    case "\"", "\\", "/": out.append(escaped)
                    case "b": out.append("\u{8}")
                    case "f": out.append("\u{C}")
                    case "n": out.append("\n")
                    case "r": out.append("\r")
                    case "t": out.append("\t")
                    case "u":
                        guard var value = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(value), scalars.starts(with: ["\\", "u"]) {
                            scalars.removeFirst(2)
                            guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let decoded = Unicode.Scalar(value) else { return nil }
                        out.append(decoded)
                    default: return nil
                    }
                default: out.append(scalar)
                }
            }
            return nil
        }
        func hex4() -> UInt32? {
            guard scalars.count >= 4 else { return nil }
            let digits = String(String.UnicodeScalarView(scalars.prefix(4)))
            scalars.removeFirst(4)
            return UInt32(digits, radix: 16)
        }
        /// Skips a non-string value (number, true, false, null; nested values are refused).
        func skipOther() -> Bool {
            var skipped = false
            while let first = scalars.first, first != ",", first != "}" {
                guard first != "{", first != "[", first != "\"" else { return false }
                scalars.removeFirst()
                skipped = true
            }
            return skipped
        }

        skipSpace()
        guard scalars.popFirst() == "{" else { return nil }
        var result: [String: String] = [:]
        skipSpace()
        if scalars.first == "}" {
            scalars.removeFirst()
        } else {
            while true {
                skipSpace()
                guard let name = string() else { return nil }
                skipSpace()
                guard scalars.popFirst() == ":" else { return nil }
                skipSpace()
                if scalars.first == "\"" {
                    guard let value = string() else { return nil }
                    result[name] = value
                } else if !skipOther() {
                    return nil
                }
                skipSpace()
                guard let separator = scalars.popFirst() else { return nil }
                if separator == "}" { break }
                guard separator == "," else { return nil }
            }
        }
        skipSpace()
        return scalars.isEmpty ? result : nil
    }
}
