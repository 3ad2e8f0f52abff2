#!/bin/bash
# Start a throw-away single-node Ceph (one monitor, one memstore OSD, no cephx) and radosgw on
# 127.0.0.1:PORT under STATE_DIR, for dbbackup's S3 tests.
#
# usage: scripts/s3/radosgw_up.sh PORT STATE_DIR [--owner-pid PID]
#
# Storage classes STANDARD and STANDARD_IA; SSE-KMS with Ceph's "testing" key backend (key ids
# testkey-1 and testkey-2); relaxed (legacy) bucket names; STS with roles `dbbackup-instance`
# (PutObject, DeleteObject) and `dbbackup-instance-noput` (S3_ROLE_ARN, S3_ROLE_NOPUT_ARN).
# Creates users `admin` and `agent`, bucket `dbbackup-test` (owned by admin) with a bucket
# policy that lets the agent only s3:PutObject and s3:DeleteObject (and explicitly denies it
# GetObject, ListMultipartUploadParts and the ACL calls). Writes STATE_DIR/radosgw.env (same keys
# as moto_up.py) and prints its path. PORT 0 picks a free port. With --owner-pid every daemon is
# stopped when that process ends. Idempotent: a running instance under STATE_DIR is reused.
# The OSD keeps objects in memory: 2 GiB, or DBBACKUP_RADOSGW_MEMSTORE_BYTES (the upload
# benchmark keeps two 1.3 GiB objects at once).
# Needs: apt-get install radosgw ceph-mon ceph-osd uuid-runtime; python3 with boto3.
set -euo pipefail

PORT=${1:?usage: radosgw_up.sh PORT STATE_DIR [--owner-pid PID]}
DIR=${2:?usage: radosgw_up.sh PORT STATE_DIR [--owner-pid PID]}
OWNER=""
if [ "${3:-}" = "--owner-pid" ]; then OWNER=${4:?}; fi
BUCKET=dbbackup-test
ENV_FILE="$DIR/radosgw.env"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONF="$DIR/ceph.conf"

if [ -f "$ENV_FILE" ] && [ -f "$DIR/run/client.rgw.pid" ] && kill -0 "$(cat "$DIR/run/client.rgw.pid")" 2>/dev/null; then
    echo "$ENV_FILE"
    exit 0
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
[ "$PORT" = 0 ] && PORT=$(free_port)
MON_V2=$(free_port)
MON_V1=$(free_port)
FSID=$(uuidgen)

rm -rf "$DIR/mon" "$DIR/osd" "$DIR/run" "$DIR/log"
mkdir -p "$DIR/mon" "$DIR/osd" "$DIR/run" "$DIR/log"
cat > "$CONF" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# Without cephx, radosgw's monitor client must be told to use crc mode (else it finds no usable
# connection mode: "get_initial_auth_request returned -13" and a 300 s hang).
ms mon client mode = crc
ms client mode = crc
osd objectstore = memstore
memstore device bytes = ${DBBACKUP_RADOSGW_MEMSTORE_BYTES:-2147483648}
run dir = $DIR/run
admin socket = $DIR/run/\$cluster-\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw dns name = localhost
# SSE-KMS with Ceph's built-in "testing" key backend (fixed keys named in this file, for tests
# only), allowed over plain http on 127.0.0.1.
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = testkey-1=$(head -c 32 /dev/urandom | base64) testkey-2=$(head -c 32 /dev/urandom | base64)
rgw crypt require ssl = false
# Legacy bucket names (uppercase, '_'), as old AWS accounts have them.
rgw relaxed s3 bucket names = true
# STS AssumeRole, so instance-role tests get temporary credentials radosgw checks (the key
# signs its session tokens; 16 characters).
rgw sts key = $(uuidgen | tr -d - | head -c 16)
rgw s3 auth use sts = true
# Local users first: with STS first (the default order), a wrong secret key is answered
# AccessDenied by the STS engine instead of SignatureDoesNotMatch.
rgw s3 auth order = local, sts
CONF

ceph_() { ceph -c "$CONF" --connect-timeout 20 "$@"; }

monmaptool --create --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" --fsid "$FSID" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/mkfs.log" 2>&1
ceph-mon -c "$CONF" -i a >>"$DIR/log/daemons.out" 2>&1
OSD_UUID=$(uuidgen)
OSD_ID=$(ceph_ osd new "$OSD_UUID")
mkdir -p "$DIR/osd/ceph-$OSD_ID"
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >>"$DIR/log/mkfs.log" 2>&1
ceph-osd -c "$CONF" -i "$OSD_ID" >>"$DIR/log/daemons.out" 2>&1
radosgw -c "$CONF" -n client.rgw >>"$DIR/log/daemons.out" 2>&1

if [ -n "$OWNER" ]; then
    # Watchdog: stop every daemon of this instance when the owner is gone.
    (
        exec </dev/null >/dev/null 2>&1
        # Not -e: a read that fails (the directory is gone) must not end the watchdog.
        set +e
        alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
        # The daemons' pids are read while the owner lives: an owner that removes $DIR before
        # it exits (the benchmark's clean-up does) would otherwise leave them all running.
        pids=""
        while alive "$OWNER"; do
            seen=$(cat "$DIR"/run/*.pid 2>/dev/null | tr '\n' ' ')
            [ -n "$seen" ] && pids=$seen
            sleep 1
        done
        for pid in $pids; do kill "$pid" 2>/dev/null || true; done
        sleep 3
        for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
    ) &
    disown
fi

wait_for_s3() {
    for _ in $(seq 1 120); do
        if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then return 0; fi
        sleep 0.5
    done
}
# Wait until radosgw answers S3 (it creates its zone, zonegroup and pools on first start).
wait_for_s3

# A second storage class besides STANDARD, as an operator would configure one (radosgw refuses
# classes its placement does not list, with InvalidArgument); radosgw reads it when it starts.
radosgw-admin -c "$CONF" zonegroup placement add --rgw-zonegroup default --placement-id default-placement \
    --storage-class STANDARD_IA >>"$DIR/log/mkfs.log" 2>&1
radosgw-admin -c "$CONF" zone placement add --rgw-zone default --placement-id default-placement \
    --storage-class STANDARD_IA --data-pool default.rgw.standard-ia.data >>"$DIR/log/mkfs.log" 2>&1
RGW_PID=$(cat "$DIR/run/client.rgw.pid")
kill "$RGW_PID"
while kill -0 "$RGW_PID" 2>/dev/null; do sleep 0.2; done
radosgw -c "$CONF" -n client.rgw >>"$DIR/log/daemons.out" 2>&1
wait_for_s3

key() { python3 -c 'import secrets,string,sys; a=string.ascii_letters+string.digits; print("".join(secrets.choice(a) for _ in range(int(sys.argv[1]))))' "$1"; }
ADMIN_AK=ADM$(key 17 | tr a-z A-Z); ADMIN_SK=$(key 40)
AGENT_AK=AGT$(key 17 | tr a-z A-Z); AGENT_SK=$(key 40)
radosgw-admin -c "$CONF" user create --uid admin --display-name admin --access-key "$ADMIN_AK" --secret "$ADMIN_SK" >/dev/null
radosgw-admin -c "$CONF" user create --uid agent --display-name agent --access-key "$AGENT_AK" --secret "$AGENT_SK" >/dev/null

python3 - "$PORT" "$BUCKET" "$ADMIN_AK" "$ADMIN_SK" <<'PY'
import json, sys, time
import boto3
port, bucket, ak, sk = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id=ak, aws_secret_access_key=sk)
for attempt in range(60):
    try:
        s3.create_bucket(Bucket=bucket)
        break
    except Exception:
        if attempt == 59:
            raise
        time.sleep(1)
agent = "arn:aws:iam:::user/agent"
s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
    # The uploader owns its objects in radosgw; the admin (the tests' reader) needs an explicit grant.
    {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/admin"]}, "Action": ["s3:*"],
     "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
    {"Effect": "Allow", "Principal": {"AWS": [agent]}, "Action": ["s3:PutObject", "s3:DeleteObject"],
     "Resource": [f"arn:aws:s3:::{bucket}/*"]},
    {"Effect": "Deny", "Principal": {"AWS": [agent]},
     "Action": ["s3:GetObject", "s3:ListMultipartUploadParts", "s3:GetObjectAcl", "s3:PutObjectAcl"],
     "Resource": [f"arn:aws:s3:::{bucket}/*"]},
]}))
PY

# Roles an instance profile would carry (their credentials come from STS AssumeRole, called by
# imds_double.py with the admin's key): the agent's permissions, and DeleteObject only.
TRUST='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/admin"]},"Action":["sts:AssumeRole"]}]}'
for role in dbbackup-instance dbbackup-instance-noput; do
    actions='"s3:PutObject","s3:DeleteObject"'
    [ "$role" = dbbackup-instance-noput ] && actions='"s3:DeleteObject"'
    radosgw-admin -c "$CONF" role create --role-name="$role" --path=/ --assume-role-policy-doc="$TRUST" >/dev/null
    radosgw-admin -c "$CONF" role-policy put --role-name="$role" --policy-name="$role-policy" \
        --policy-doc="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[$actions],\"Resource\":[\"arn:aws:s3:::$BUCKET/*\"]}]}" >/dev/null
done

cat > "$ENV_FILE.tmp" <<ENV
S3_ENDPOINT=http://127.0.0.1:$PORT
S3_REGION=us-east-1
S3_BUCKET=$BUCKET
S3_ADMIN_ACCESS_KEY=$ADMIN_AK
S3_ADMIN_SECRET_KEY=$ADMIN_SK
S3_AGENT_ACCESS_KEY=$AGENT_AK
S3_AGENT_SECRET_KEY=$AGENT_SK
S3_ROLE_ARN=arn:aws:iam:::role/dbbackup-instance
S3_ROLE_NOPUT_ARN=arn:aws:iam:::role/dbbackup-instance-noput
S3_SERVER_PID=$(cat "$DIR/run/client.rgw.pid")
S3_CEPH_CONF=$CONF
ENV
chmod 600 "$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"
echo "$ENV_FILE"
