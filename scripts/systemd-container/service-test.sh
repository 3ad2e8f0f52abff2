#!/bin/bash
# dbbackup as a Debian service in a real systemd, as monitoring and a sysadmin see it: the
# .deb installed in a fresh Debian 12 container, then
#   - unit descriptions name the registration (pre-deploy, not pre\x2ddeploy);
#   - heartbeat pings from the sandboxed service to an HTTP server on the host;
#   - the status file (setgid group dbbackup-monitor) and `dbbackup status --check` as root
#     and as an unprivileged monitoring user: OK, UNKNOWN outside the group, CRITICAL for a
#     missing timer, an overdue registration and a failed run, WARNING for a failed cleanup;
#   - Debian's prometheus-node-exporter (installed with apt at test time) serving the
#     metrics through the link the package's trigger makes: /metrics is scraped;
#   - the generator's report in /run/dbbackup where the container has no /dev/kmsg, shown by
#     status and config check.
#   service-test.sh [DEB]     prints "service-test: N passed, N failed"; non-zero on failure
# Without DEB, packaging/build-deb.sh builds it. DBBACKUP_SERVICE_TEST_NAME names the
# container (default servicetest). Needs the network for apt (prometheus-node-exporter).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=${DBBACKUP_SERVICE_TEST_NAME:-servicetest}
# As the monitoring user: its own groups (setpriv --init-groups), a clean login.
as_monitor() { x setpriv --reuid=monitor --regid=monitor --init-groups "$@"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

tmp=$(mktemp -d /tmp/service-test.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    "$here/stop.sh" "$name" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

deb=$(test_deb "${1:-}" "$tmp") || exit 1

# A heartbeat receiver on the host's 127.0.0.1, which the container shares: it records each
# request's path and body, one JSON line each.
hb_port=$(free_port)
python3 - "$hb_port" "$tmp/pings" <<'PY' &
import http.server, json, sys
port, log = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
server_pid=$!
pings() { cat "$tmp/pings" 2>/dev/null | python3 -c 'import json, sys; print(" ".join(json.loads(l)["path"] for l in sys.stdin))'; }

"$here/boot.sh" "$name" || exit 1
apt_install() {
    x --timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=60 "$@" \
        > "$tmp/apt.log" 2>&1 || { sed 's/^/     apt: /' "$tmp/apt.log" | tail -n 20; return 1; }
}
put "$deb" /root/dbbackup.deb
check "apt-get install ./$(basename "$deb")" apt_install /root/dbbackup.deb

# --- the application's database, and a configuration made with the CLI
x sh -ec '
    groupadd -g 1500 app; useradd -M -s /usr/sbin/nologin -u 1500 -g app app
    install -d -o app -g app -m 2770 /srv/app
    sqlite3 /srv/app/app.db "pragma journal_mode=wal; create table t(x); insert into t values (1); pragma user_version=9;" >/dev/null
    chown app:app /srv/app/app.db*; chmod 660 /srv/app/app.db*
    useradd -M -r -s /usr/sbin/nologin monitor'
xq dbbackup init --database /srv/app/app.db
check "registration add nightly with a heartbeat URL" xq dbbackup registration add nightly --provider filesystem \
    --path /srv/backups/nightly --schedule daily --time 03:00 --heartbeat-url "http://127.0.0.1:$hb_port/hc/nightly-key"
check "registration add pre-deploy (migration)" xq dbbackup registration add pre-deploy --provider filesystem \
    --path /srv/backups/pre --schedule migration

# --- 1. unit descriptions use the registration's name
check "the service's description names pre-deploy, not pre\\x2ddeploy" \
    test "$(x systemctl show -P Description 'dbbackup@pre\x2ddeploy.service')" = "dbbackup: back up the database to registration pre-deploy"

# --- 2. a run under the service's sandbox: heartbeat pings, the status file, the metrics
check "systemctl start dbbackup@nightly.service" xq systemctl start dbbackup@nightly.service
check "heartbeat: /start then success from the sandboxed service ($(pings))" test "$(pings)" = "/hc/nightly-key/start /hc/nightly-key"
check "...the success ping says what was stored" grep -q '"body": "nightly: stored [0-9]* bytes, schema version 9' "$tmp/pings"
check "status.json: written by the service as the database's owner, group dbbackup-monitor, mode 640" \
    test "$(x stat -c '%U %G %a' /var/lib/dbbackup-monitor/status.json)" = "app dbbackup-monitor 640"
check "dbbackup.prom: readable by the node exporter (644)" test "$(x stat -c '%a' /var/lib/dbbackup-monitor/dbbackup.prom)" = 644

out=$(x dbbackup status --check); rc=$?
check "status --check as root: OK, exit 0 (rc $rc: ${out%%$'\n'*})" test "$rc" = 0 -a "${out:0:14}" = "DBBACKUP OK - "

# --- 3. a monitoring user: outside the group UNKNOWN, inside it the same verdict as root
out=$(as_monitor dbbackup status --check 2>&1); rc=$?
check "status --check as user monitor, not in the group: UNKNOWN, exit 3 (rc $rc)" test "$rc" = 3
check "...saying how to let it" grep -q 'adduser monitor dbbackup-monitor' <<<"$out"
x usermod -a -G dbbackup-monitor monitor
out=$(as_monitor dbbackup status --check --json 2>&1); rc=$?
check "status --check --json as a member of dbbackup-monitor: OK, exit 0 (rc $rc)" test "$rc" = 0
check "...from the status file, with the timer seen through systemd" python3 -c '
import json, sys
v = json.loads(sys.argv[1])
assert v["status"] == "ok" and v["problems"] == [], v
assert v["source"].startswith("status file /var/lib/dbbackup-monitor/status.json"), v["source"]
rows = {r["name"]: r for r in v["registrations"]}
assert rows["nightly"]["timer_scheduled"] is True and rows["nightly"]["backups_kept"] == 1, rows["nightly"]
' "$out"
check "...and it cannot read the registry itself" bash -c '! "$1/exec.sh" "$2" setpriv --reuid=monitor --regid=monitor --init-groups dbbackup list >/dev/null 2>&1' _ "$here" "$name"

# --- 4. a stopped timer is CRITICAL, until dbbackup apply
x systemctl stop dbbackup@nightly.timer
out=$(as_monitor dbbackup status --check 2>&1); rc=$?
check "a stopped timer: CRITICAL, exit 2 (rc $rc)" test "$rc" = 2
check "...naming it ('${out%%$'\n'*}')" grep -q 'nightly: timer dbbackup@nightly.timer is missing' <<<"$out"
xq dbbackup apply
check "after dbbackup apply: OK again" bash -c '"$1/exec.sh" "$2" setpriv --reuid=monitor --regid=monitor --init-groups dbbackup status --check >/dev/null' _ "$here" "$name"

# --- 5. the Prometheus node exporter, installed after dbbackup: the trigger links the metrics
metrics_port=$(free_port)
check "apt-get install prometheus-node-exporter" apt_install prometheus-node-exporter
check "the package's trigger linked dbbackup.prom into the exporter's directory" \
    test "$(x readlink /var/lib/prometheus/node-exporter/dbbackup.prom)" = /var/lib/dbbackup-monitor/dbbackup.prom
x sh -c "echo 'ARGS=\"--web.listen-address=127.0.0.1:$metrics_port --collector.disable-defaults --collector.textfile\"' > /etc/default/prometheus-node-exporter"
x systemctl restart prometheus-node-exporter
scrape() {
    local i
    for i in $(seq 100); do
        python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
            "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
metric() { sed -n "s/^$1{registration=\"$2\"} //p" <<<"$scraped"; }
scraped=$(scrape)
check "the node exporter serves /metrics" test -n "$scraped"
check "...without a textfile error" grep -q '^node_textfile_scrape_error 0' <<<"$scraped"
created=$(x dbbackup list nightly --json | python3 -c 'import json, sys, datetime; b = json.load(sys.stdin)[-1]; print(int(datetime.datetime.fromisoformat(b["created_at"].replace("Z", "+00:00")).timestamp()))')
last=$(metric dbbackup_last_success_timestamp_seconds nightly)
# The exporter writes the number its own way (1.79601635778e+09).
check "dbbackup_last_success_timestamp_seconds{nightly} = the backup's time ($last ~ $created)" \
    python3 -c 'import sys; assert abs(float(sys.argv[1]) - int(sys.argv[2])) < 1' "$last" "$created"
check "dbbackup_backups_kept{nightly} = 1" test "$(metric dbbackup_backups_kept nightly)" = 1
check "dbbackup_last_attempt_success{nightly} = 1" test "$(metric dbbackup_last_attempt_success nightly)" = 1
check "dbbackup_last_attempt_duration_seconds{nightly} is there" grep -q '^dbbackup_last_attempt_duration_seconds{registration="nightly"} [0-9.]*$' <<<"$scraped"
check "dbbackup_last_success_size_bytes{nightly} = the backup's size" \
    test "$(metric dbbackup_last_success_size_bytes nightly)" = "$(x dbbackup list nightly --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[-1]["size"])')"
overdue=$(metric dbbackup_overdue_timestamp_seconds nightly)
check "dbbackup_overdue_timestamp_seconds{nightly} lies ahead (the alert rule's time() > it is false)" \
    python3 -c 'import sys, time; assert float(sys.argv[1]) > time.time()' "$overdue"

# --- 6. overdue: the last success moved three days back (as if the timer had not fired since).
# This machine has not been up that long, so that success was made in an earlier boot: with
# this boot's id, the boot clock would say it ran seconds ago (a clock stepped, not a miss).
x sqlite3 /var/lib/dbbackup/registry.db "UPDATE backups SET started_at = started_at - 3*86400000, finished_at = finished_at - 3*86400000, boot_id = 'an-earlier-boot' WHERE registration = 'nightly';"
xq dbbackup pre-migrate --timeout 60s   # a run of another registration rewrites the status file
out=$(as_monitor dbbackup status --check 2>&1); rc=$?
check "no success since a run was due: CRITICAL, exit 2 (rc $rc)" test "$rc" = 2
check "...overdue ('${out%%$'\n'*}')" grep -q '^DBBACKUP CRITICAL - nightly: overdue: its last success was 3d' <<<"$out"
scraped=$(scrape)
check "the metrics say so too: time() > dbbackup_overdue_timestamp_seconds{nightly}" \
    python3 -c 'import sys, time; assert float(sys.argv[1]) < time.time()' "$(metric dbbackup_overdue_timestamp_seconds nightly)"
check "a new run clears it" xq systemctl start dbbackup@nightly.service
check "...OK again" bash -c '"$1/exec.sh" "$2" setpriv --reuid=monitor --regid=monitor --init-groups dbbackup status --check >/dev/null' _ "$here" "$name"

# --- 7. a delete retention could not make (its row stays in state pruning): WARNING
x sqlite3 /var/lib/dbbackup/registry.db "UPDATE backups SET state = 'pruning' WHERE id = (SELECT min(id) FROM backups WHERE registration = 'nightly' AND state = 'stored');"
xq dbbackup pre-migrate --timeout 60s
out=$(as_monitor dbbackup status --check 2>&1); rc=$?
check "retention's leftover: WARNING, exit 1 (rc $rc: ${out%%$'\n'*})" test "$rc" = 1
x sqlite3 /var/lib/dbbackup/registry.db "UPDATE backups SET state = 'stored' WHERE state = 'pruning';"

# --- 8. a failed run: /fail ping with the error, CRITICAL, metric 0
x mv /srv/app/app.db /srv/app/app.db.away
check "a run without its database fails" bash -c '! "$1/exec.sh" "$2" systemctl start dbbackup@nightly.service >/dev/null 2>&1' _ "$here" "$name"
check "heartbeat: /start then /fail ($(pings | tr ' ' '\n' | tail -n 2 | tr '\n' ' '))" \
    test "$(pings | tr ' ' '\n' | tail -n 2 | tr '\n' ' ')" = "/hc/nightly-key/start /hc/nightly-key/fail "
check "...the fail ping carries the error" bash -c 'tail -n 1 "$1" | grep -q "does not exist"' _ "$tmp/pings"
out=$(as_monitor dbbackup status --check 2>&1); rc=$?
check "last run failed: CRITICAL, exit 2 (rc $rc)" test "$rc" = 2
check "...'${out%%$'\n'*}'" grep -q '^DBBACKUP CRITICAL - nightly: last run failed' <<<"$out"
scraped=$(scrape)
check "dbbackup_last_attempt_success{nightly} = 0" test "$(metric dbbackup_last_attempt_success nightly)" = 0
x mv /srv/app/app.db.away /srv/app/app.db
x systemctl reset-failed 'dbbackup*'
check "with the database back, a run succeeds again" xq systemctl start dbbackup@nightly.service

# --- 9. the generator's report where /dev/kmsg is missing (as in this container)
check "the container has no /dev/kmsg" bash -c '! "$1/exec.sh" "$2" test -e /dev/kmsg' _ "$here" "$name"
x sh -c 'printf "provider = \"filesystem\"\npath = \"/srv/backups/broken\"\n[schedule]\ntype = \"daily\"\ntimes = [\"25:00\"]\n" > /etc/dbbackup/registrations.d/broken.toml'
x systemctl daemon-reload
check "daemon-reload: the generator wrote /run/dbbackup/generator.log" \
    x grep -q 'skipped: error: registrations.d/broken.toml: schedule.times\[0\] = "25:00"' /run/dbbackup/generator.log
check "dbbackup status shows it" bash -c '"$1/exec.sh" "$2" dbbackup status 2>/dev/null | grep -q "the systemd generator reported at its last run"' _ "$here" "$name"
check "dbbackup config check shows it" bash -c '"$1/exec.sh" "$2" dbbackup config check 2>/dev/null | grep -q "  skipped: error: registrations.d/broken.toml"' _ "$here" "$name"
out=$(as_monitor dbbackup status --check 2>&1); rc=$?
check "status --check: the unusable registration is CRITICAL (rc $rc)" test "$rc" = 2 -a -n "$(grep 'broken: its file cannot be used' <<<"$out")"
x rm /etc/dbbackup/registrations.d/broken.toml
x systemctl daemon-reload
check "a clean generator run removes the report" bash -c '! "$1/exec.sh" "$2" test -e /run/dbbackup/generator.log' _ "$here" "$name"

echo "service-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
