#!/usr/bin/env python3
"""TEST DOUBLE of an EC2 instance metadata service (IMDSv2), for dbbackup's instance-credential tests.

No real instance metadata service can run on a test machine (it is the hypervisor's, at
169.254.169.254 on a cloud instance), so this stands in for it. It speaks the public protocol,
IMDSv2 as AWS documents it:
  PUT /latest/api/token  with X-aws-ec2-metadata-token-ttl-seconds (1-21600) -> a session token
  GET /latest/meta-data/iam/security-credentials/        (with X-aws-ec2-metadata-token) -> role name
  GET /latest/meta-data/iam/security-credentials/ROLE   -> {"Code": "Success", "AccessKeyId", ...}
A GET without a valid token gets 401, as on an instance that requires IMDSv2. The credentials
are real to the S3 server: each credentials GET calls STS AssumeRole on moto or radosgw (with the
admin's key), so the server checks their session token and applies the role's policy. Their "Expiration" is
LIFETIME seconds from now, so tests see the client fetch fresh ones as they expire.

usage: imds_double.py MODE LOG_FILE [--moto-env FILE --role-arn ARN] [--lifetime SECONDS] [--owner-pid PID]
(--moto-env names any env file of moto_up.py or radosgw_up.sh: the server whose STS issues the credentials)
MODE:
  role       serve the role of --role-arn (needs --moto-env with S3_ENDPOINT and the admin's key)
  no-role    no instance profile: the role listing answers 404
  v1-only    an old service without IMDSv2: PUT /latest/api/token answers 405
  disabled   the metadata endpoint turned off: the token PUT answers 403
Prints the listening port on stdout's first line; logs one line per request to LOG_FILE
("METHOD PATH STATUS [ACCESS_KEY_ID]"). Stops when --owner-pid's process ends, or on SIGTERM.
"""
import datetime
import json
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from process_util import reset_signals, serve, take_owner_pid

CREDENTIALS = "/latest/meta-data/iam/security-credentials/"


def take_option(args, name, default=None):
    if name not in args:
        return default
    i = args.index(name)
    value = args[i + 1]
    del args[i:i + 2]
    return value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log(self, status, extra=""):
        with self.server.lock, open(self.server.log_path, "a") as log:
            log.write(f"{self.command} {self.path} {status}{' ' + extra if extra else ''}\n")

    def answer(self, status, body=b"", content_type="text/plain", extra=""):
        self.log(status, extra)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        mode = self.server.mode
        if self.path != "/latest/api/token":
            return self.answer(404)
        if mode == "v1-only":
            return self.answer(405)
        if mode == "disabled":
            return self.answer(403)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.answer(400)
        token = secrets.token_urlsafe(32)
        with self.server.lock:
            self.server.tokens[token] = time.time() + int(ttl)
        self.answer(200, token.encode())

    def do_GET(self):
        mode = self.server.mode
        if mode == "disabled":
            return self.answer(403)
        token = self.headers.get("X-aws-ec2-metadata-token")
        with self.server.lock:
            valid = token is not None and self.server.tokens.get(token, 0) > time.time()
        if not valid:
            return self.answer(401)
        if not self.path.startswith(CREDENTIALS):
            return self.answer(404)
        role = self.server.role_name
        if mode == "no-role":
            return self.answer(404)
        if self.path == CREDENTIALS:
            return self.answer(200, role.encode())
        if self.path != CREDENTIALS + role:
            return self.answer(404)
        try:
            issued = self.server.assume_role()
        except Exception as error:  # the S3 server's STS failed: say so, as a broken IMDS would
            return self.answer(500, f"AssumeRole failed: {error}".encode())
        expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.server.lifetime)
        document = {
            "Code": "Success",
            "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "AWS-HMAC",
            "AccessKeyId": issued["AccessKeyId"],
            "SecretAccessKey": issued["SecretAccessKey"],
            "Token": issued["SessionToken"],
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.answer(200, json.dumps(document, indent=2).encode(), "text/plain", issued["AccessKeyId"])


def main():
    reset_signals()
    # A client that gave up (its timeout) must cost one BrokenPipeError, not the whole double.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    args = sys.argv[1:]
    owner = take_owner_pid(args)
    moto_env = take_option(args, "--moto-env")
    role_arn = take_option(args, "--role-arn", "arn:aws:iam::123456789012:role/none")
    lifetime = int(take_option(args, "--lifetime", "3600"))
    if len(args) != 2 or args[0] not in ("role", "no-role", "v1-only", "disabled"):
        raise SystemExit(__doc__)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.mode = args[0]
    server.log_path = args[1]
    server.lock = threading.Lock()
    server.tokens = {}
    server.lifetime = lifetime
    server.role_name = role_arn.rsplit("/", 1)[-1]

    sts = None
    if args[0] == "role":
        import boto3  # only the role mode needs an STS
        env = dict(line.rstrip("\n").split("=", 1) for line in open(moto_env) if "=" in line)
        # Made once, up front: a real metadata service answers in milliseconds, and the client
        # gives it 3 s.
        sts = boto3.client("sts", endpoint_url=env["S3_ENDPOINT"], region_name=env.get("S3_REGION", "us-east-1"),
                           aws_access_key_id=env["S3_ADMIN_ACCESS_KEY"], aws_secret_access_key=env["S3_ADMIN_SECRET_KEY"])

    def assume_role():
        with server.lock:  # boto3 clients are not thread-safe
            return sts.assume_role(RoleArn=role_arn, RoleSessionName=f"i-{secrets.token_hex(8)}",
                                   DurationSeconds=900)["Credentials"]

    server.assume_role = assume_role
    open(server.log_path, "w").close()
    serve(server, owner)


if __name__ == "__main__":
    main()
