import Glibc
import Hashing
import SystemCalls

/// One S3 request as the retry loop sees it.
struct S3Call {
    /// For error messages: `PUT`, `GET`, `multipart upload (part 2 of 3)` …
    var operation: String
    var method: String
    var key: String
    /// For AccessDenied hints: the permission this request needs.
    var permission: String
    var query: [QueryItem] = []
    var headers: [(name: String, value: String)] = []
    var body: RequestBody = .none
    var payloadSHA256 = SignableRequest.emptyPayloadSHA256
    var sink: ResponseSink = .memory
    /// Runs before every attempt (e.g. truncating the download file).
    var beforeAttempt: (() throws(LocalFileError) -> Void)?
}

extension HTTPResponse {
    /// The ETag header without its quotes.
    var etag: String? { Self.unquotedETag(headers["etag"]) }

    static func unquotedETag(_ value: String?) -> String? {
        value.map { value in
            var text = Substring(value)
            if text.hasPrefix("W/") { text = text.dropFirst(2) }
            return String(text.trimmingPrefix("\"").reversed().trimmingPrefix("\"").reversed())
        }
    }
}

extension S3Client {
    /// Sends `call`, retrying transient failures per `policy.retry`; returns the 2xx response
    /// (that is not an `<Error>` document) or throws the last error.
    func send(
        _ call: S3Call, on easy: CurlEasy, progress: ((Int64, Int64) -> Void)? = nil,
        retry: RetryPolicy? = nil
    ) throws(S3Error) -> HTTPResponse {
        let retry = retry ?? policy.retry
        let clock = ContinuousClock()
        let start = clock.now
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        var renewedCredentials = false
        var connected = false
        while true {
            attempt += 1
            var error: S3Error
            do {
                try call.beforeAttempt?()
            } catch {
                throw localError(error, operation: call.operation, key: call.key)
            }
            let credentials: S3Credentials
            do {
                credentials = try credentialProvider.credentials()
            } catch {
                var failure = error
                failure.requiredPermission = call.permission
                failure.note = "needed for S3 \(call.operation) of \(endpoint.displayName(forKey: call.key))"
                throw failure
            }
            switch easy.perform(
                request(for: call, at: Int(wallClockSeconds()), credentials: credentials), policy: policy,
                progress: progress)
            {
            case .response(let response)
            where (200..<300).contains(response.status)
                && !(call.method == "POST" && S3XML.isErrorDocument(response.bodyText)):
                return response
            case .response(let response):
                error = serverError(call, response)
            case .transportFailure(let code, let message):
                error = S3Error(
                    kind: .transport, operation: call.operation, bucket: configuration.bucket,
                    key: call.key, message: message, curlCode: code)
            case .localFailure(let message):
                error = S3Error(
                    kind: .localFile, operation: call.operation, bucket: configuration.bucket,
                    key: call.key, message: message)
            }
            error.attempts = attempt
            connected = connected || !error.isUnreachable
            error.neverConnected = !connected
            error.endpoint = configuration.endpoint
            error.requiredPermission = call.permission
            error.principal = credentialProvider.principal
            error.message = redacted(error.message)
            if let code = error.code, S3Error.Code.credentialsExpired.contains(code), !renewedCredentials,
                attempt < retry.maxAttempts, credentialProvider.invalidate()
            {
                // Temporary credentials the store no longer takes (expired early, or rotated):
                // fetch the role's current ones and try again at once, once.
                renewedCredentials = true
                continue
            }
            guard error.isTransient, attempt < retry.maxAttempts else { throw error }
            let delay = retry.jitteredDelay(afterAttempt: attempt, using: &generator)
            guard start.duration(to: clock.now) + delay < retry.totalTimeout else { throw error }
            Syscalls.sleep(for: delay)
        }
    }

    /// The HTTP request for `call`, dated `date` (seconds since 1970), signed with `credentials`
    /// (their session token, if any, sent and signed as `x-amz-security-token`).
    func request(for call: S3Call, at date: Int, credentials: S3Credentials) -> HTTPRequest {
        var headers = call.headers
        headers.append((name: "host", value: endpoint.hostHeader))
        if let token = credentials.sessionToken { headers.append((name: "x-amz-security-token", value: token)) }
        let signable = SignableRequest(
            method: call.method, encodedPath: endpoint.encodedPath(forKey: call.key),
            query: call.query, headers: headers, payloadSHA256: call.payloadSHA256)
        let signer = SigV4Signer(
            accessKey: credentials.accessKey, secretKey: credentials.secretKey,
            region: configuration.effectiveRegion)
        return HTTPRequest(
            method: call.method, url: endpoint.url(forKey: call.key, query: call.query),
            headers: signer.sign(signable, at: date), body: call.body, sink: call.sink)
    }

    func serverError(_ call: S3Call, _ response: HTTPResponse) -> S3Error {
        let text = response.bodyText
        let code = S3XML.firstText(of: "Code", in: text)
        var message = S3XML.firstText(of: "Message", in: text) ?? ""
        if message.isEmpty && code == nil {
            message = response.status == 404 ? "Not Found" : (text.count < 200 ? text.trimmingASCIIWhitespace : "")
        }
        var errorCode = code.map(S3Error.Code.init(rawValue:))
        if call.method == "HEAD" && code == nil {
            // A HEAD answer has no body, so no S3 error code: the status is all there is.
            switch response.status {
            case 404:
                errorCode = .noSuchKey
                message = "Not Found (no such key, or no such bucket)"
            case 403:
                errorCode = .accessDenied
                message =
                    "Forbidden (a HEAD answer carries no details: most likely the key lacks the permission; "
                    + "a wrong secret key is answered 403 too)"
            default:
                break
            }
        }
        var error = S3Error(
            kind: .server, operation: call.operation, bucket: configuration.bucket, key: call.key,
            httpStatus: response.status, code: errorCode, message: String(message.prefix(400)))
        error.requestID = response.headers["x-amz-request-id"] ?? S3XML.firstText(of: "RequestId", in: text)
        error.bucketRegion = BucketRegion.named(
            in: response, code: errorCode, configuredRegion: configuration.effectiveRegion)
        if errorCode?.rawValue == "InvalidArgument" || errorCode == .invalidStorageClass,
            let storageClass = call.headers.first(where: { $0.name == "x-amz-storage-class" })?.value
        {
            // Ceph answers a class its placement lacks with a bare InvalidArgument.
            error.note =
                """
                the store may not offer storage class \(storageClass): choose one it lists, or leave the storage \
                class out
                """
        }
        return error
    }

    /// Defence in depth: never let a secret key or session token through, whatever a server echoes.
    func redacted(_ text: String) -> String {
        var text = text
        for secret in [configuration.secretKey] + (configuration.sessionToken.map { [$0] } ?? [])
            + credentialProvider.secrets
        where secret.count >= 4 && text.contains(secret) {
            text = text.replacing(secret, with: "****")
        }
        return text
    }
}

/// Where a store says the bucket really is, when a request went to the wrong region: AWS
/// answers 301 PermanentRedirect (with `x-amz-bucket-region`, and `<Endpoint>` in the body; a
/// HEAD's 301 has the header only) or 400 AuthorizationHeaderMalformed ("the region
/// 'us-east-1' is wrong; expecting 'eu-west-1'", with `<Region>`).
enum BucketRegion {
    static func named(in response: HTTPResponse, code: S3Error.Code?, configuredRegion: String) -> String? {
        let wrongRegion =
            response.status == 301 || code == .permanentRedirect || code == .authorizationHeaderMalformed
            || code == .illegalLocationConstraint
        guard wrongRegion else { return nil }
        let text = response.bodyText
        let candidates: [String?] = [
            response.headers["x-amz-bucket-region"],
            S3XML.firstText(of: "Region", in: text),
            S3XML.firstText(of: "Message", in: text).flatMap { quoted(after: "expecting '", in: $0) },
            S3XML.firstText(of: "Endpoint", in: text).flatMap(region(ofAWSHost:)),
        ]
        for case let region? in candidates {
            let trimmed = region.trimmingASCIIWhitespace
            if !trimmed.isEmpty, trimmed != configuredRegion,
                trimmed.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d })
            {
                return trimmed
            }
        }
        return nil
    }

    private static func quoted(after marker: String, in text: String) -> String? {
        guard let start = text.firstRange(of: marker) else { return nil }
        let rest = text[start.upperBound...]
        return rest.firstIndex(of: "'").map { String(rest[..<$0]) }
    }

    /// `bucket.s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com`, `bucket.s3.amazonaws.com` (us-east-1).
    static func region(ofAWSHost host: String) -> String? {
        let labels = host.lowercased().split(separator: ".")
        guard labels.suffix(2) == ["amazonaws", "com"],
            let s3 = labels.lastIndex(where: { $0 == "s3" || $0.hasPrefix("s3-") })
        else { return nil }
        if labels[s3].hasPrefix("s3-") { return String(labels[s3].dropFirst(3)) }
        let next = labels.index(after: s3)
        var index = next
        if index < labels.count - 2 && labels[index] == "dualstack" { index += 1 }
        guard index < labels.count - 2 else { return "us-east-1" }
        return String(labels[index])
    }
}
