#!/bin/bash
# The Cockpit page in a real browser: dbbackup and dbbackup-cockpit installed from the .debs in
# a freshly booted Debian 12 container with Cockpit (apt, at test time), a PAM user with sudo,
# and Debian's chromium driven by Playwright (scripts/systemd-container/cockpit_browser.py)
# through https://127.0.0.1:PORT, against a real S3 server (moto on the host's 127.0.0.1, which
# the container shares). Takes the screenshots (see COCKPIT_SCREENSHOTS below).
#   cockpit-test.sh [DEB]
# Without DEB, packaging/build-deb.sh builds it; dbbackup-cockpit_VERSION_all.deb is taken from
# beside DEB. Environment: COCKPIT_TEST_NAME (container, default cockpit1), COCKPIT_TEST_PORT
# (default 9190: Cockpit listens on 127.0.0.1 only, on a port other containers do not use),
# COCKPIT_TEST_KEEP=1 leaves the container running for a look.
# Prints "cockpit-test: N passed, N failed in S s"; exit status non-zero on failure. Every
# container command is bounded by exec.sh's timeout, the browser run by `timeout`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=${COCKPIT_TEST_NAME:-cockpit1}
check_name "$name"
port=${COCKPIT_TEST_PORT:-9190}
started=$(date +%s)

tmp=$(mktemp -d /tmp/cockpit-test.XXXXXX)
cleanup() {
    [ "${COCKPIT_TEST_KEEP:-}" = 1 ] || "$here/stop.sh" "$name" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- the browser on the host: Debian's chromium (apt) and Playwright (PyPI) without its own
# browser downloads (they are not reachable here). Idempotent, as scripts/install-deps.sh.
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
    echo "installing: chromium (Debian)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
if ! python3 -c 'import playwright.sync_api' 2>/dev/null; then
    echo "installing: playwright==1.65.2 (PyPI; the browser is Debian's /usr/bin/chromium)"
    python3 -m pip install -q 'playwright==1.65.2'
fi

# --- the packages
deb=$(test_deb "${1:-}" "$tmp") || exit 1
version=$(dpkg-deb -f "$deb" Version)
cdeb=$(dirname "$deb")/dbbackup-cockpit_${version}_all.deb
[ -f "$cdeb" ] || die "no $cdeb beside $deb (packaging/build-deb.sh writes both)"
echo "packages: $(basename "$deb"), $(basename "$cdeb")"

"$here/boot.sh" "$name" || exit 1

# --- Cockpit from Debian, the two packages, Cockpit on 127.0.0.1:$port only
put "$deb" "/root/$(basename "$deb")"
put "$cdeb" "/root/$(basename "$cdeb")"
apt_install() {
    x --timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -q --no-install-recommends -o DPkg::Lock::Timeout=60 \
        > "$tmp/apt.log" 2>&1 || { sed 's/^/     apt: /' "$tmp/apt.log" | tail -n 20; return 1; }
}
# cockpit.socket starts (on [::]:9090) as soon as it is installed; the drop-in goes in first.
x sh -ec "mkdir -p /etc/systemd/system/cockpit.socket.d
          printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:$port\n' > /etc/systemd/system/cockpit.socket.d/listen.conf"
check "apt-get update" apt_install update
check "apt-get install cockpit-ws cockpit-system sudo ./$(basename "$deb") ./$(basename "$cdeb")" \
    apt_install install cockpit-ws cockpit-system sudo "/root/$(basename "$deb")" "/root/$(basename "$cdeb")"
check "dpkg: dbbackup-cockpit $version installed" \
    test "$(x dpkg-query -W -f='${Status} ${Version}' dbbackup-cockpit)" = "install ok installed $version"
check "the page is in /usr/share/cockpit/dbbackup" xq test -s /usr/share/cockpit/dbbackup/manifest.json
x systemctl daemon-reload
x systemctl restart cockpit.socket
# The container shares the host's network namespace: the host's ss sees its sockets.
listening=$(ss -Hltn "sport = :$port" | awk '{print $4}' | tr '\n' ' ')
check "cockpit.socket listens on 127.0.0.1:$port only (${listening% })" test "$listening" = "127.0.0.1:$port "
code=000
for _ in $(seq 50); do
    code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 "https://127.0.0.1:$port/" || true)
    [ "$code" = 200 ] && break
    sleep 0.2
done
check "https://127.0.0.1:$port/ answers 200 (the login page)" test "$code" = 200

# --- a PAM user with sudo, and the application's database (as deb-test.sh has it)
password=cockpit-test-$RANDOM$RANDOM
x sh -ec "useradd -m -s /bin/bash -G sudo admin
          echo 'admin:$password' | chpasswd
          printf '127.0.0.1 localhost\n127.0.1.1 %s\n' \"\$(hostname)\" > /etc/hosts
          groupadd -g 1500 app; useradd -M -s /usr/sbin/nologin -u 1500 -g app app
          install -d -o app -g app -m 2770 /srv/app
          sqlite3 /srv/app/app.db 'pragma journal_mode=wal; create table t(x); insert into t values (1); pragma user_version=7;' >/dev/null
          chown app:app /srv/app/app.db*; chmod 660 /srv/app/app.db*"
check "dbbackup init --database /srv/app/app.db" xq dbbackup init --database /srv/app/app.db
# What the page parses: with --json, stdout is one JSON object even when the command creates
# the backup directory for the service user (it used to print "created DIR" before it).
out=$(x dbbackup registration add --json --provider filesystem --path /srv/backups/probe --schedule migration -- probe 2>/dev/null || true)
check "registration add --json creating a directory prints only JSON, the creation as a note" python3 -c '
import json, sys
outcome = json.loads(sys.argv[1])
assert outcome["ok"] and outcome["notes"][0] == "created /srv/backups/probe (owner app (uid 1500), mode 0750)", outcome
assert outcome["notes"][-1].startswith("applied: "), outcome
' "$out"
xq dbbackup registration remove probe

# --- the S3 store: moto with authentication on the host's 127.0.0.1; stops when this script ends
s3env=$(python3 "$repo/scripts/s3/moto_up.py" 0 "$tmp/moto" --owner-pid $$ | tail -n 1)

# --- the browser
export COCKPIT_URL="https://127.0.0.1:$port" COCKPIT_USER=admin COCKPIT_PASSWORD="$password"
export COCKPIT_CONTAINER="$name" COCKPIT_EXEC="$here/exec.sh" COCKPIT_S3_ENV="$s3env"
# Screenshots go under .build (a test run leaves the tree clean); to refresh the README's:
#   COCKPIT_SCREENSHOTS="$PWD/docs/images" scripts/systemd-container/cockpit-test.sh
export COCKPIT_SCREENSHOTS="${COCKPIT_SCREENSHOTS:-$repo/.build/cockpit-screenshots}"
timeout --kill-after=10 600 python3 "$here/cockpit_browser.py" | tee "$tmp/browser.log" || true
summary=$(sed -n 's/^cockpit-browser: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$tmp/browser.log")
if [ -n "$summary" ]; then
    passed=$((passed + ${summary% *}))
    failed=$((failed + ${summary#* }))
else
    bad "the browser run ended without its summary (crashed or timed out)"
fi

echo "cockpit-test: $passed passed, $failed failed in $(( $(date +%s) - started )) s"
[ "$failed" -eq 0 ]
