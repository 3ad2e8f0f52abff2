#!/usr/bin/env python3
"""Start moto (server mode) on 127.0.0.1 with authentication switched on, for dbbackup's S3 tests.

usage: moto_up.py PORT STATE_DIR [--owner-pid PID]

Creates bucket `dbbackup-test`, an admin user (s3:*) and an agent user whose inline policy
allows only s3:PutObject and s3:DeleteObject on arn:aws:s3:::dbbackup-test/*, two IAM roles
for instance-credential tests (`dbbackup-instance` with the agent's permissions, and
`dbbackup-instance-noput` with s3:DeleteObject only; their temporary credentials come from
moto's STS AssumeRole, see imds_double.py), then switches auth on (POST /moto-api/reset-auth).
Writes STATE_DIR/moto.env (KEY=value lines):
  S3_ENDPOINT S3_REGION S3_BUCKET S3_ADMIN_ACCESS_KEY S3_ADMIN_SECRET_KEY
  S3_AGENT_ACCESS_KEY S3_AGENT_SECRET_KEY S3_ROLE_ARN S3_ROLE_NOPUT_ARN S3_SERVER_PID
PORT 0 picks a free port. With --owner-pid the server is stopped when that process ends
(so a test process that started it leaves nothing behind). Idempotent: if STATE_DIR/moto.env
names a server that still answers, it is reused.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3

from process_util import alive, reset_signals, take_owner_pid

BUCKET = "dbbackup-test"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"moto_server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"moto_server did not listen on {port} within {seconds}s")


def read_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                values[k] = v
    return values


def still_up(env_path):
    try:
        env = read_env(env_path)
        os.kill(int(env["S3_SERVER_PID"]), 0)
        port = int(env["S3_ENDPOINT"].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except (OSError, KeyError, ValueError):
        return False


def start_watchdog(owner_pid, server_pid):
    """A detached child that stops the server when the owner process is gone."""
    if os.fork() != 0:
        return
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while alive(owner_pid) and alive(server_pid):
        time.sleep(0.5)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(server_pid, sig)
        except OSError:
            break
        time.sleep(2)
    os._exit(0)


def main():
    reset_signals()
    args = sys.argv[1:]
    owner = take_owner_pid(args)
    if len(args) != 2:
        raise SystemExit(__doc__)
    port, state_dir = int(args[0]), args[1]
    os.makedirs(state_dir, exist_ok=True)
    env_path = os.path.join(state_dir, "moto.env")
    if os.path.exists(env_path) and still_up(env_path):
        print(env_path)
        return
    if port == 0:
        port = free_port()

    log = open(os.path.join(state_dir, "moto.log"), "ab")
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    wait_listening(port, process)
    endpoint = f"http://127.0.0.1:{port}"

    def client(service, key="setup", secret="setup"):
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                            aws_access_key_id=key, aws_secret_access_key=secret)

    client("s3").create_bucket(Bucket=BUCKET)
    iam = client("iam")
    keys = {}
    policies = {
        "admin": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        "agent": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/*"}]},
    }
    for user, policy in policies.items():
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=f"{user}-policy", PolicyDocument=json.dumps(policy))
        created = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (created["AccessKeyId"], created["SecretAccessKey"])

    # Roles an instance profile would carry. moto checks the session token of their STS
    # credentials and applies the role's policy, as AWS does.
    # On AWS the trust policy names ec2.amazonaws.com; here the metadata double assumes the
    # role with the admin's key (moto checks trust policies, and cannot evaluate a Service principal).
    admin_arn = iam.get_user(UserName="admin")["User"]["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"}]}
    role_policies = {
        "dbbackup-instance": policies["agent"],
        "dbbackup-instance-noput": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": f"arn:aws:s3:::{BUCKET}/*"}]},
    }
    roles = {}
    for role, policy in role_policies.items():
        roles[role] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=role, PolicyName=f"{role}-policy", PolicyDocument=json.dumps(policy))

    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request, timeout=10).read()

    tmp = env_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"S3_ENDPOINT={endpoint}\nS3_REGION={REGION}\nS3_BUCKET={BUCKET}\n")
        f.write(f"S3_ADMIN_ACCESS_KEY={keys['admin'][0]}\nS3_ADMIN_SECRET_KEY={keys['admin'][1]}\n")
        f.write(f"S3_AGENT_ACCESS_KEY={keys['agent'][0]}\nS3_AGENT_SECRET_KEY={keys['agent'][1]}\n")
        f.write(f"S3_ROLE_ARN={roles['dbbackup-instance']}\nS3_ROLE_NOPUT_ARN={roles['dbbackup-instance-noput']}\n")
        f.write(f"S3_SERVER_PID={process.pid}\n")
    os.chmod(tmp, 0o600)
    os.rename(tmp, env_path)
    if owner is not None:
        start_watchdog(owner, process.pid)
    print(env_path)


if __name__ == "__main__":
    main()
