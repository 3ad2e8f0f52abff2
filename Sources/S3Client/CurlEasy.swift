import CCurl
import Hashing

/// One libcurl easy handle, reused (with `curl_easy_reset`) for the requests of one S3
/// operation so its connection is kept alive between them. Not thread-safe; owned by one call.
/// Every C call into libcurl is wrapped here, once.
final class CurlEasy {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>

    static let readAbort = 0x1000_0000  // CURL_READFUNC_ABORT

    init() {
        CurlGlobal.ensureInitialized()
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed (out of memory)") }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    }

    static let uploadBufferSize = 1 << 20

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Runs one request. Blocks until it is done, failed, or stalled past the low-speed limit.
    func perform(_ request: HTTPRequest, policy: TransferPolicy, progress: ((Int64, Int64) -> Void)?) -> TransferOutcome
    {
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let state = TransferState(body: request.body, sink: request.sink, easy: self, progress: progress)
        let context = Unmanaged.passUnretained(state).toOpaque()

        var headerList: UnsafeMutablePointer<curl_slist>?
        // No "Expect: 100-continue" (its extra wait and the proxies that mishandle it); curl's
        // own Content-Length stays unsigned.
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            headerList = curl_slist_append(headerList, line)
        }
        defer { curl_slist_free_all(headerList) }

        set(CURLOPT_URL, request.url)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_PATH_AS_IS, 1)  // keys like "a/../b" must reach the server as signed
        set(CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
        set(CURLOPT_USERAGENT, "dbbackup-s3client/1")
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_CONNECTTIMEOUT_MS, max(1, policy.connectTimeout.wholeMilliseconds))
        set(CURLOPT_LOW_SPEED_LIMIT, max(1, policy.lowSpeedLimit))
        set(CURLOPT_LOW_SPEED_TIME, max(1, Int(policy.lowSpeedTime.seconds.rounded(.up))))
        set(CURLOPT_SSL_VERIFYPEER, policy.verifyTLS ? 1 : 0)
        set(CURLOPT_SSL_VERIFYHOST, policy.verifyTLS ? 2 : 0)
        if let caBundle = policy.caBundlePath { set(CURLOPT_CAINFO, caBundle) }
        // Proxies: libcurl itself reads http_proxy, https_proxy, all_proxy and no_proxy from the
        // environment (docs/s3.md, "Proxies and private CAs"); only the metadata service is exempt.
        if request.bypassProxy { set(CURLOPT_NOPROXY, "*") }
        if let timeout = request.totalTimeout { set(CURLOPT_TIMEOUT_MS, max(1, timeout.wholeMilliseconds)) }
        check(dbb_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))

        switch (request.method, request.body) {
        case ("GET", _):
            set(CURLOPT_HTTPGET, 1)
        case ("HEAD", _):
            set(CURLOPT_NOBODY, 1)
        case (_, .none) where request.method != "POST":
            set(CURLOPT_CUSTOMREQUEST, request.method)
        default:
            // PUT and POST (also with an empty body, which still sends Content-Length: 0).
            set(CURLOPT_UPLOAD, 1)
            // Large reads and sends: 16 times fewer callbacks and system calls than curl's 64 KiB.
            set(CURLOPT_UPLOAD_BUFFERSIZE, CurlEasy.uploadBufferSize)
            check(dbb_curl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.length)))
            if request.method != "PUT" { set(CURLOPT_CUSTOMREQUEST, request.method) }
            check(
                dbb_curl_setopt_read_callback(handle, CURLOPT_READFUNCTION) { buffer, size, count, context in
                    guard let buffer, let context else { return CurlEasy.readAbort }
                    return Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue().read(
                        into: buffer, capacity: size * count)
                })
            set(CURLOPT_READDATA, context)
            check(
                dbb_curl_setopt_seek_callback(handle, CURLOPT_SEEKFUNCTION) { context, offset, origin in
                    guard let context, origin == SEEK_SET,
                        Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue().seek(to: Int64(offset))
                    else { return 2 }  // CURL_SEEKFUNC_CANTSEEK
                    return 0  // CURL_SEEKFUNC_OK
                })
            set(CURLOPT_SEEKDATA, context)
        }

        check(
            dbb_curl_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION) { buffer, size, count, context in
                guard let buffer, let context else { return 0 }
                return Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue().write(
                    buffer, count: size * count)
            })
        set(CURLOPT_WRITEDATA, context)
        check(
            dbb_curl_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION) { buffer, size, count, context in
                guard let buffer, let context else { return 0 }
                let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: size * count), as: UTF8.self)
                Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue().header(line)
                return size * count
            })
        set(CURLOPT_HEADERDATA, context)
        if progress != nil {
            set(CURLOPT_NOPROGRESS, 0)
            check(
                dbb_curl_setopt_xferinfo_callback(handle, CURLOPT_XFERINFOFUNCTION) {
                    context, downloadTotal, downloaded, uploadTotal, uploaded in
                    if let context {
                        Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue().reportProgress(
                            downloaded: Int64(downloaded), of: Int64(downloadTotal),
                            uploaded: Int64(uploaded), of: Int64(uploadTotal))
                    }
                    return 0
                })
            set(CURLOPT_XFERINFODATA, context)
        }

        let code = withExtendedLifetime(state) { curl_easy_perform(handle) }
        if let localError = state.localError { return .localFailure(localError) }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            return .transportFailure(
                code: Int(code.rawValue),
                message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        return .response(
            HTTPResponse(
                status: responseCode(),
                headers: state.headers,
                body: state.memoryBody,
                fileBytes: state.fileBytes,
                fileSHA256: state.fileDigest.take()?.finalize()
            ))
    }

    func responseCode() -> Int {
        var code = 0
        _ = dbb_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    private func set(_ option: CURLoption, _ value: Int) {
        check(dbb_curl_setopt_long(handle, option, value))
    }

    private func set(_ option: CURLoption, _ value: String) {
        check(dbb_curl_setopt_string(handle, option, value))  // libcurl copies string options
    }

    private func set(_ option: CURLoption, _ value: UnsafeMutableRawPointer) {
        check(dbb_curl_setopt_pointer(handle, option, value))
    }

    /// A rejected option is a programming error (or a libcurl built without a feature we need).
    private func check(_ code: CURLcode) {
        precondition(code == CURLE_OK, "curl_easy_setopt failed: \(String(cString: curl_easy_strerror(code)))")
    }
}
