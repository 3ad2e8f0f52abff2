#!/usr/bin/env python3
"""A fault-injecting reverse proxy on 127.0.0.1 for dbbackup's S3 retry tests.

usage: fault_proxy.py UPSTREAM_PORT PLAN LOG_FILE [--tls CERT KEY] [--owner-pid PID]

Forwards every request to 127.0.0.1:UPSTREAM_PORT unchanged — the Host header included, so
SigV4 signatures still verify — except that the first requests meet the faults of PLAN, a
comma-separated list applied to successive requests (`*` after the last one repeats it forever):
  pass            forward normally
  503 | 500 ...   answer that status with an S3 error document (SlowDown / InternalError)
  reset           read the request, then close the connection without an answer (RST)
  reset-body      read half of the body, then reset the connection
  stall           read the request and never answer
  store-then-500  forward it (the object is stored), then answer 500 InternalError
  region-301:R    answer as AWS does a request sent to the wrong region's endpoint for a bucket
                  in region R: 301 PermanentRedirect, x-amz-bucket-region: R (test double of AWS)
  region-400:R    answer as AWS does a signature scoped to the wrong region: 400
                  AuthorizationHeaderMalformed "... expecting 'R'" (test double of AWS)
It also works as a forward proxy (http_proxy=http://127.0.0.1:PORT): a request in absolute form
(`PUT http://host:port/path`) is forwarded the same way, and logged with its absolute URL.
--tls CERT KEY: listen with TLS (PEM files), forwarding plain HTTP upstream.
Prints the listening port on stdout's first line; logs one line per request to LOG_FILE
("N METHOD PATH ACTION"). Stops when --owner-pid's process ends, or on SIGTERM.
"""
import http.client
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from process_util import reset_signals, serve, take_owner_pid

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class Plan:
    def __init__(self, text):
        self.repeat = text.endswith("*")
        self.steps = [s for s in text.rstrip("*").split(",") if s]
        self.count = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            index = self.count
            self.count += 1
        if index < len(self.steps):
            return index + 1, self.steps[index]
        return index + 1, self.steps[-1] if self.repeat and self.steps else "pass"


def error_body(status):
    code = {503: "SlowDown", 500: "InternalError"}.get(status, "InternalError")
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f'<Message>injected by fault_proxy</Message></Error>').encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def do_any(self):
        number, action = self.server.plan.next()
        with self.server.log_lock, open(self.server.log_path, "a") as log:
            log.write(f"{number} {self.command} {self.path} {action}\n")
        length = int(self.headers.get("Content-Length") or 0)
        if action == "reset-body":
            self.rfile.read(length // 2)
            return self.reset()
        body = self.rfile.read(length) if length else b""
        if action == "reset":
            return self.reset()
        if action == "stall":
            time.sleep(3600)
            return
        if action.isdigit():
            return self.answer(int(action), error_body(int(action)), {"Content-Type": "application/xml"})
        if action.startswith("region-301:"):
            region = action.split(":", 1)[1]
            return self.answer(301, (
                '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are '
                'attempting to access must be addressed using the specified endpoint. Please send all future requests to '
                f'this endpoint.</Message><Endpoint>bucket.s3.{region}.amazonaws.com</Endpoint><Bucket>bucket</Bucket>'
                '<RequestId>FAULTPROXY</RequestId></Error>').encode(),
                {"Content-Type": "application/xml", "x-amz-bucket-region": region})
        if action.startswith("region-400:"):
            region = action.split(":", 1)[1]
            return self.answer(400, (
                '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>The '
                f"authorization header is malformed; the region 'us-east-1' is wrong; expecting '{region}'</Message>"
                f'<Region>{region}</Region><RequestId>FAULTPROXY</RequestId></Error>').encode(),
                {"Content-Type": "application/xml"})
        status, headers, payload = self.forward(body)
        if action == "store-then-500":
            return self.answer(500, error_body(500), {"Content-Type": "application/xml"})
        self.answer(status, payload, headers)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_any

    def forward(self, body):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=300)
        path = self.path
        if "://" in path:  # absolute form: used as a forward proxy
            authority_and_path = path.split("://", 1)[1]
            path = "/" + authority_and_path.split("/", 1)[1] if "/" in authority_and_path else "/"
        connection.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        payload = response.read()
        headers = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}}
        connection.close()
        return response.status, headers, payload

    def answer(self, status, payload, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def reset(self):
        # SO_LINGER 0: close() sends RST, as a crashed middlebox would.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def main():
    reset_signals()
    args = sys.argv[1:]
    owner = take_owner_pid(args)
    tls = None
    if "--tls" in args:
        i = args.index("--tls")
        tls = (args[i + 1], args[i + 2])
        del args[i:i + 3]
    if len(args) != 3:
        raise SystemExit(__doc__)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.upstream_port = int(args[0])
    server.plan = Plan(args[1])
    server.log_path = args[2]
    server.log_lock = threading.Lock()
    open(server.log_path, "w").close()
    serve(server, owner)


if __name__ == "__main__":
    main()
