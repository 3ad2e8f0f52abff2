#!/usr/bin/env python3
"""Sign S3 requests with botocore, for the differential test of dbbackup's SigV4 signer.

stdin: a JSON list of requests, each
  {"method", "endpoint" ("" = AWS), "bucket", "key", "force_path_style", "region" ("" = us-east-1),
   "query": [[name, value], ...] (unencoded, unique names), "headers": [[name, value], ...],
   "payload_sha256", "time" (seconds since 1970), "access_key", "secret_key",
   "session_token" (optional: temporary credentials, signed as X-Amz-Security-Token)}
stdout: a JSON list of {"url", "authorization"} in the same order.

The URL is built here independently of the Swift code, the way botocore's serializer builds
S3 URLs (key percent-encoded with safe='/~'); the query string is botocore's canonical one.
Addressing follows dbbackup's documented rule: virtual-hosted unless force_path_style, the
bucket is not a DNS name (with https: also no dots), or the host is an IP address.
"""
import datetime
import json
import re
import sys
from urllib.parse import urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode


class FixedPayloadS3SigV4Auth(botocore.auth.S3SigV4Auth):
    """Uses the request's own x-amz-content-sha256 (the real payload hash) as the payload."""

    def payload(self, request):
        return request.context["payload_sha256"]


def virtual_hostable(bucket, scheme):
    if not 3 <= len(bucket.encode()) <= 63 or (scheme == "https" and "." in bucket):
        return False
    return all(re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", label) for label in bucket.split("."))


def is_ip(host):
    return host.startswith("[") or re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host) is not None and all(
        int(p) < 256 for p in host.split("."))


def build_url(req):
    region = req["region"].strip() or "us-east-1"
    endpoint = req["endpoint"].strip() or f"https://s3.{region}.amazonaws.com"
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    netloc = parts.hostname
    if parts.port is not None and parts.port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{parts.port}"
    base = parts.path.rstrip("/")
    path_style = req["force_path_style"] or not virtual_hostable(req["bucket"], scheme) or is_ip(parts.hostname)
    key = percent_encode(req["key"], safe="/~")
    if path_style:
        path = f"{base}/{percent_encode(req['bucket'], safe='')}" + (f"/{key}" if req["key"] else "")
        host = netloc
    else:
        path = f"{base}/{key}"
        host = f"{req['bucket']}.{netloc}"
    return f"{scheme}://{host}{path}", region


def sign(req):
    url, region = build_url(req)
    request = AWSRequest(method=req["method"], url=url, headers=dict(req["headers"]),
                         params=dict(req["query"]))
    request.context["payload_sha256"] = req["payload_sha256"]
    auth = FixedPayloadS3SigV4Auth(Credentials(req["access_key"], req["secret_key"], req.get("session_token")), "s3", region)
    fixed = datetime.datetime.fromtimestamp(req["time"], datetime.timezone.utc).replace(tzinfo=None)
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: fixed
    try:
        auth.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    query = auth.canonical_query_string(request)
    return {"url": url + (f"?{query}" if query else ""), "authorization": request.headers["Authorization"]}


def main():
    requests = json.load(sys.stdin)
    json.dump([sign(r) for r in requests], sys.stdout)


if __name__ == "__main__":
    main()
