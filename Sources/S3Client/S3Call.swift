import Hashing

#if canImport(Glibc)
import Glibc
#endif

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
    func send(_ call: S3Call, on easy: CurlEasy, progress: ((Int64, Int64) -> Void)? = nil,
              retry: RetryPolicy? = nil) throws(S3Error) -> HTTPResponse {
        let retry = retry ?? policy.retry
        let clock = ContinuousClock()
        let start = clock.now
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            attempt += 1
            var error: S3Error
            do {
                try call.beforeAttempt?()
            } catch {
                throw localError(error, operation: call.operation, key: call.key)
            }
            switch easy.perform(request(for: call), policy: policy, progress: progress) {
            case .response(let response) where (200..<300).contains(response.status)
                && !(call.method == "POST" && S3XML.isErrorDocument(response.bodyText)):
                return response
            case .response(let response):
                error = serverError(call, response)
            case .transportFailure(let code, let message):
                error = S3Error(kind: .transport, operation: call.operation, bucket: configuration.bucket,
                                key: call.key, message: message, curlCode: code)
            case .localFailure(let message):
                error = S3Error(kind: .localFile, operation: call.operation, bucket: configuration.bucket,
                                key: call.key, message: message)
            }
            error.attempts = attempt
            error.endpoint = configuration.endpoint
            error.requiredPermission = call.permission
            error.message = redacted(error.message)
            guard error.isTransient, attempt < retry.maxAttempts else { throw error }
            let delay = retry.jitteredDelay(afterAttempt: attempt, using: &generator)
            guard start.duration(to: clock.now) + delay < retry.totalTimeout else { throw error }
            sleepThread(for: delay)
        }
    }

    /// The signed HTTP request for `call`, dated now.
    func request(for call: S3Call) -> HTTPRequest {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return request(for: call, at: Int(now.tv_sec))
    }

    /// The signed HTTP request for `call`, dated `date` (seconds since 1970).
    func request(for call: S3Call, at date: Int) -> HTTPRequest {
        var headers = call.headers
        headers.append((name: "host", value: endpoint.hostHeader))
        let signable = SignableRequest(method: call.method, encodedPath: endpoint.encodedPath(forKey: call.key),
                                       query: call.query, headers: headers, payloadSHA256: call.payloadSHA256)
        return HTTPRequest(method: call.method, url: endpoint.url(forKey: call.key, query: call.query),
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
                message = "Forbidden (a HEAD answer carries no details: most likely the key lacks the permission; "
                    + "a wrong secret key is answered 403 too)"
            default:
                break
            }
        }
        var error = S3Error(kind: .server, operation: call.operation, bucket: configuration.bucket, key: call.key,
                            httpStatus: response.status, code: errorCode, message: String(message.prefix(400)))
        error.requestID = response.headers["x-amz-request-id"] ?? S3XML.firstText(of: "RequestId", in: text)
        return error
    }

    /// Defence in depth: never let the secret key through, whatever a server echoes.
    func redacted(_ text: String) -> String {
        let secret = configuration.secretKey
        guard secret.count >= 4, text.contains(secret) else { return text }
        return text.replacing(secret, with: "****")
    }
}
