#!/bin/bash
# The .deb in a real systemd: install, configure, upgrade, remove and purge it in a freshly
# booted Debian 12 container, as a sysadmin would.
#   deb-test.sh [DEB [UPGRADE_DEB]]
# Without DEB, packaging/build-deb.sh builds it (version from dbbackup's own, in Sources/DBBackupCLI/DBBackup.swift). Without
# UPGRADE_DEB, build-deb.sh builds the same tree again as version "<DEB's version>+debtest1",
# with a default configuration that differs. Upgrades also start from the package as 0.1.0
# shipped it (dbbackup.toml a conffile; rebuilt from DEB with that commit's packaging files).
# DBBACKUP_DEB_TEST_NAME names the container (default debtest).
# Prints "deb-test: N passed, N failed"; exit status non-zero on failure. No stdin needed;
# every container command is bounded by exec.sh's timeout.
#
# Installation uses `apt-get install ./dbbackup_*.deb`: apt resolves Depends from the
# container's package lists (debootstrap left them in the rootfs) and downloads only what is
# missing; the rootfs already holds every library the binary links, so no network is needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root
name=${DBBACKUP_DEB_TEST_NAME:-debtest}
absent() { ! xq test -e "$1" -o -L "$1"; }
apt_install() {   # apt-get as a sysadmin runs it, non-interactive; output kept for failures
    x --timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -q -o DPkg::Lock::Timeout=60 \
        > "$tmp/apt.log" 2>&1 || { sed 's/^/     apt: /' "$tmp/apt.log" | tail -n 20; return 1; }
}
timers() { x systemctl list-timers --all --no-pager --plain --no-legend; }
json_ids() { python3 -c 'import json, sys; print(" ".join(sorted(str(b["id"]) for b in json.loads(sys.argv[1]))))' "$1"; }

tmp=$(mktemp -d /tmp/deb-test.XXXXXX)
cleanup() { "$here/stop.sh" "$name" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

# --- the packages: DEB (or a fresh build) and a higher version of it for the upgrade
deb=$(test_deb "${1:-}" "$tmp") || exit 1
version=$(dpkg-deb -f "$deb" Version)
deb2=${2:-}
if [ -z "$deb2" ]; then
    # A new default configuration, as a later release would ship: the upgrade must not ask.
    sed 's/^local = 7 /local = 5 /' "$repo/packaging/dbbackup.toml" > "$tmp/changed-default.toml"
    echo "# deb-test: this default differs from the installed one" >> "$tmp/changed-default.toml"
    deb2=$(DBBACKUP_DEB_OUTDIR="$tmp" DBBACKUP_DEB_DEFAULT_CONFIG="$tmp/changed-default.toml" \
           "$repo/packaging/build-deb.sh" "$version+debtest1") || die "building the upgrade package failed"
fi
version2=$(dpkg-deb -f "$deb2" Version)
dpkg --compare-versions "$version2" gt "$version" || die "upgrade package $version2 is not newer than $version"
echo "packages: $(basename "$deb") ($(du -h "$deb" | cut -f1), Installed-Size $(dpkg-deb -f "$deb" Installed-Size) KiB), upgrade to $version2"

"$here/boot.sh" "$name" || exit 1

# --- install: apt-get install ./dbbackup_*.deb
put "$deb" "/root/$(basename "$deb")"
check "apt-get install ./$(basename "$deb")" apt_install install "/root/$(basename "$deb")"
check "dpkg: dbbackup $version installed" test "$(x dpkg-query -W -f='${Status} ${Version}' dbbackup)" = "install ok installed $version"
check "dpkg --audit finds nothing" test -z "$(x dpkg --audit 2>&1)"
check "apt-get check: dependencies satisfied" xq apt-get check -q
check "system user dbbackup exists (sysusers)" xq getent passwd dbbackup
check "/var/lib/dbbackup owned by dbbackup (tmpfiles)" test "$(x stat -c %U /var/lib/dbbackup)" = dbbackup
check "/run/dbbackup exists (tmpfiles)" xq test -d /run/dbbackup
check "/etc/dbbackup/secrets is root-only" test "$(x stat -c '%a %U' /etc/dbbackup/secrets)" = "700 root"
check "the package has no conffile (the CLI rewrites dbbackup.toml)" test -z "$(x dpkg-query -W -f='${Conffiles}' dbbackup)"
check "postinst created dbbackup.toml from the shipped default" \
    test "$(x cat /etc/dbbackup/dbbackup.toml)" = "$(x cat /usr/share/dbbackup/dbbackup.toml)"
check "postinst said what to do next" grep -q 'dbbackup: nothing is backed up yet. Next steps:' "$tmp/apt.log"
check "...starting with dbbackup init" grep -q '  dbbackup init --database' "$tmp/apt.log"
check "group dbbackup-monitor exists (sysusers)" xq getent group dbbackup-monitor
check "/var/lib/dbbackup-monitor is setgid dbbackup-monitor (tmpfiles)" \
    test "$(x stat -c '%a %U %G' /var/lib/dbbackup-monitor)" = "2751 root dbbackup-monitor"
check "generator link -> /usr/bin/dbbackup" test "$(x readlink -f /usr/lib/systemd/system-generators/dbbackup-generator)" = /usr/bin/dbbackup
check "man page and bash completion installed" xq test -s /usr/share/man/man8/dbbackup.8.gz -a -s /usr/share/bash-completion/completions/dbbackup
check "dbbackup.target enabled" test "$(x systemctl is-enabled dbbackup.target)" = enabled
check "dbbackup.target active" test "$(x systemctl is-active dbbackup.target)" = active
check "dbbackup-migration.path active" test "$(x systemctl is-active dbbackup-migration.path)" = active
check "installing scheduled nothing (no dbbackup timer)" bash -c '! grep -q dbbackup <<<"$1"' _ "$(timers)"
out=$(x dbbackup config check 2>&1) && rc=0 || rc=$?
check "config check of the default fails and says how to configure (rc $rc)" \
    bash -c '[ "$1" -ne 0 ] && grep -q "not configured yet; run: dbbackup init --database PATH" <<<"$2"' _ "$rc" "$out"
echo "$out" | sed 's/^/     config check: /'

# --- the application's WAL database, group-readable/writable (as in e2e.sh)
x sh -ec '
    groupadd -g 1500 app; useradd -M -s /usr/sbin/nologin -u 1500 -g app app
    install -d -o app -g app -m 2770 /srv/app
    sqlite3 /srv/app/app.db "pragma journal_mode=wal; create table t(x); insert into t values (1); pragma user_version=7;" >/dev/null
    chown app:app /srv/app/app.db*; chmod 660 /srv/app/app.db*'

# --- a sysadmin's two commands (plus a migration registration for deploy scripts)
check "dbbackup init --database /srv/app/app.db" xq dbbackup init --database /srv/app/app.db
check "registration add nightly (filesystem, daily 03:00)" xq dbbackup registration add nightly \
    --provider filesystem --path /srv/backups/nightly --schedule daily --time 03:00
check "registration add pre-deploy (filesystem, migration)" xq dbbackup registration add pre-deploy \
    --provider filesystem --path /srv/backups/pre --schedule migration
# An S3 registration against a real S3 server (moto, auth on) on the host's 127.0.0.1, which
# the container shares: the agent key may only PutObject and DeleteObject.
s3env=$(python3 "$repo/scripts/s3/moto_up.py" 0 "$tmp/moto" --owner-pid $$ | tail -n 1)
s3() { sed -n "s/^$1=//p" "$s3env"; }
x sh -c "printf '%s\n' '$(s3 S3_AGENT_SECRET_KEY)' | dbbackup registration add offsite --provider s3 --bucket $(s3 S3_BUCKET) \
    --endpoint $(s3 S3_ENDPOINT) --force-path-style --prefix deb-test/ --access-key $(s3 S3_AGENT_ACCESS_KEY) \
    --secret-key-stdin --schedule weekly --time 04:00 --weekday sun" >/dev/null 2>&1
check "registration add offsite (s3, weekly)" xq test -f /etc/dbbackup/registrations.d/offsite.toml
check "systemctl start dbbackup@offsite.service (the secret reaches it as a credential)" xq systemctl start dbbackup@offsite.service
s3backup=$(x dbbackup list offsite --json)
check "the S3 backup is recorded, and the store holds exactly its bytes" python3 - "$s3backup" "$s3env" <<'PY'
import boto3, hashlib, json, sys
backup = json.loads(sys.argv[1])[0]
env = dict(line.split("=", 1) for line in open(sys.argv[2]).read().splitlines() if "=" in line)
bucket, key = backup["location"][len("s3://"):].split("/", 1)
s3 = boto3.client("s3", endpoint_url=env["S3_ENDPOINT"], region_name=env["S3_REGION"],
                  aws_access_key_id=env["S3_ADMIN_ACCESS_KEY"], aws_secret_access_key=env["S3_ADMIN_SECRET_KEY"])
body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
assert hashlib.sha256(body).hexdigest() == backup["sha256"], "different bytes in the store"
PY
check "config check passes now" xq dbbackup config check
check "list-timers shows dbbackup@nightly.timer" grep -q 'dbbackup@nightly.timer' <<<"$(timers)"
check "systemctl start dbbackup@nightly.service" xq systemctl start dbbackup@nightly.service
check "the manual run made a backup db_v7_*.db" xq sh -c 'ls /srv/backups/nightly/db_v7_*Z.db'
out=$(x dbbackup pre-migrate --timeout 60s 2>&1) && rc=0 || rc=$?
check "dbbackup pre-migrate exits 0 (rc $rc)" test "$rc" -eq 0
check "pre-migrate stored a backup for pre-deploy" grep -q 'pre-deploy: stored /srv/backups/pre/db_v7_' <<<"$out"
status=$(x dbbackup status --json 2>&1) || true
check "dbbackup status --json: nightly has a next run and a last success" python3 -c '
import json, sys
rows = {r["name"]: r for r in json.loads(sys.argv[1])}
assert rows["nightly"]["next_run"] and rows["nightly"]["last_success"], rows["nightly"]
assert rows["pre-deploy"]["backups_kept"] == 1, rows["pre-deploy"]
' "$status"
check "dbbackup status (text)" xq dbbackup status
before_ids=$(json_ids "$(x dbbackup list --json)")
check "the registry holds 3 backups ($before_ids)" test "$(wc -w <<<"$before_ids")" -eq 3
backups_before=$(x sh -c 'ls /srv/backups/nightly /srv/backups/pre | grep -c "^db_v"')
main_before=$(x cat /etc/dbbackup/dbbackup.toml)
retention_before=$(x dbbackup retention show --json | tr -d " \n")

# --- upgrade to a higher version whose default configuration differs, non-interactively
# (exec.sh gives no stdin: a conffile prompt would fail with "end of file on stdin"):
# no prompt, configuration, registry and timers survive
put "$deb2" "/root/$(basename "$deb2")"
check "apt-get install ./$(basename "$deb2") (upgrade $version -> $version2, another default configuration)" apt_install install "/root/$(basename "$deb2")"
check "...without a conffile prompt" bash -c '! grep -q "Configuration file" "$1"' _ "$tmp/apt.log"
check "dpkg: dbbackup $version2 installed" test "$(x dpkg-query -W -f='${Status} ${Version}' dbbackup)" = "install ok installed $version2"
check "the new default is shipped in /usr/share/dbbackup" x grep -q '^# deb-test: this default differs' /usr/share/dbbackup/dbbackup.toml
check "dbbackup.toml kept (same content)" test "$(x cat /etc/dbbackup/dbbackup.toml)" = "$main_before"
check "retention as configured ($retention_before)" test "$(x dbbackup retention show --json | tr -d " \n")" = "$retention_before"
check "postinst has no next steps to tell once configured" bash -c '! grep -q "nothing is backed up yet" "$1"' _ "$tmp/apt.log"
check "registrations kept" xq test -f /etc/dbbackup/registrations.d/nightly.toml -a -f /etc/dbbackup/registrations.d/pre-deploy.toml
check "registry kept: list shows the earlier backups" test "$(json_ids "$(x dbbackup list --json)")" = "$before_ids"
check "timer still listed after the upgrade" grep -q 'dbbackup@nightly.timer' <<<"$(timers)"
check "timer active after the upgrade" test "$(x systemctl is-active dbbackup@nightly.timer)" = active
check "dbbackup.target and the migration path active after the upgrade" \
    test "$(x systemctl is-active dbbackup.target dbbackup-migration.path | tr '\n' ' ')" = "active active "
check "pre-migrate works after the upgrade" xq dbbackup pre-migrate --timeout 60s
backups_before=$(x sh -c 'ls /srv/backups/nightly /srv/backups/pre | grep -c "^db_v"')

# --- remove: configuration and backups stay; units, generator and timers go
check "apt-get remove dbbackup" apt_install remove dbbackup
check "dpkg: config-files state" test "$(x dpkg-query -W -f='${Status}' dbbackup)" = "deinstall ok config-files"
check "configuration kept after remove" xq test -f /etc/dbbackup/dbbackup.toml -a -f /etc/dbbackup/registrations.d/nightly.toml
check "registry kept after remove" xq test -d /var/lib/dbbackup
check "backups kept after remove ($backups_before)" test "$(x sh -c 'ls /srv/backups/nightly /srv/backups/pre | grep -c "^db_v"')" = "$backups_before"
check "unit files gone" test -z "$(x sh -c 'ls /usr/lib/systemd/system/dbbackup* /lib/systemd/system/dbbackup* 2>/dev/null')"
check "binary gone" absent /usr/bin/dbbackup
check "generator link gone" absent /usr/lib/systemd/system-generators/dbbackup-generator
check "no generator output" test -z "$(x sh -c 'ls -d /run/systemd/generator*/*dbbackup* 2>/dev/null')"
check "no dbbackup timer" bash -c '! grep -q dbbackup <<<"$1"' _ "$(timers)"
# Debian keeps the enable link timers.target.wants/dbbackup.target until purge, so
# dbbackup.target stays known as not-found and inactive; nothing else may remain.
loaded=$(x systemctl list-units --all --plain --no-legend 'dbbackup*' | grep -v '^dbbackup.target  *not-found  *inactive  *dead' | tr -s ' \n' ' ' || true)
check "no dbbackup unit loaded or active${loaded:+: $loaded}" test -z "$loaded"
check "dbbackup.target not active after remove" test "$(x systemctl is-active dbbackup.target)" = inactive

# --- purge: configuration (secrets included), registry and /run/dbbackup go; backups stay
check "apt-get purge dbbackup" apt_install purge dbbackup
check "dpkg: not installed" bash -c '! "$1/exec.sh" "$2" dpkg-query -W -f="\${Status}" dbbackup 2>/dev/null | grep -q installed' _ "$here" "$name"
check "/etc/dbbackup gone" absent /etc/dbbackup
check "/var/lib/dbbackup gone" absent /var/lib/dbbackup
check "/run/dbbackup gone" absent /run/dbbackup
check "enable link timers.target.wants/dbbackup.target gone" absent /etc/systemd/system/timers.target.wants/dbbackup.target
leftovers=$(x sh -c 'find /etc /usr /run /var/lib -name "*dbbackup*" 2>/dev/null | grep -v "^/run/dbbackup-test" || true')
check "nothing named dbbackup left in /etc /usr /run /var/lib${leftovers:+: $leftovers}" test -z "$leftovers"
check "empty default backup directory /var/backups/dbbackup removed" absent /var/backups/dbbackup
check "backup files still exist after purge ($backups_before)" \
    test "$(x sh -c 'ls /srv/backups/nightly /srv/backups/pre | grep -c "^db_v"')" = "$backups_before"
check "system user dbbackup kept (it owns the backups)" xq getent passwd dbbackup
loaded=$(x systemctl list-units --all --plain --no-legend 'dbbackup*' | tr -s ' \n' ' ')
check "no dbbackup unit loaded after purge${loaded:+: $loaded}" test -z "$loaded"

# --- upgrades from the package as 0.1.0 shipped it, where dbbackup.toml was a conffile:
# the file stays as the CLI wrote it and dpkg forgets it; an untouched one gets the new default
conffiles() { x dpkg-query -W -f='${Conffiles}' dbbackup; }
# That package, rebuilt from DEB: the packaging files of the commit before the conffile went.
conffile_era_deb() {
    local out=$1 ref work=$tmp/conffile-era script
    ref=$(git -C "$repo" log -1 --format=%H --diff-filter=D -- packaging/conffiles) && [ -n "$ref" ] || return 1
    rm -rf "$work"
    dpkg-deb -R "$deb" "$work"
    rm -rf "$work/DEBIAN/preinst" "$work/DEBIAN/triggers" "$work/usr/share/dbbackup"
    for script in postinst prerm postrm; do
        git -C "$repo" show "$ref^:packaging/maintainer/$script" > "$work/DEBIAN/$script" && chmod 0755 "$work/DEBIAN/$script"
    done
    git -C "$repo" show "$ref^:packaging/conffiles" > "$work/DEBIAN/conffiles"
    install -d "$work/etc/dbbackup"
    git -C "$repo" show "$ref^:packaging/dbbackup.toml" > "$work/etc/dbbackup/dbbackup.toml"
    sed -i "s/^Version: .*/Version: $version~conffile/" "$work/DEBIAN/control"
    (cd "$work" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums)
    dpkg-deb --root-owner-group -Zxz --build "$work" "$out" >/dev/null
}
old_deb="$tmp/dbbackup_${version}~conffile_amd64.deb"
check "the conffile-era package ($version~conffile) is rebuilt from git" conffile_era_deb "$old_deb"
put "$old_deb" /root/old.deb
check "apt-get install the conffile-era package" apt_install install /root/old.deb
check "...which lists dbbackup.toml as a conffile" bash -c 'grep -q "^ /etc/dbbackup/dbbackup.toml [0-9a-f]*$" <<<"$1"' _ "$(conffiles)"
check "configured through the CLI (init, a daily registration)" x sh -c 'dbbackup init --database /srv/app/app.db &&
    dbbackup registration add daily --provider filesystem --path /srv/backups/daily --schedule daily --time 03:30' >/dev/null 2>&1
main_before=$(x cat /etc/dbbackup/dbbackup.toml)
check "apt-get install ./$(basename "$deb") (upgrade from the conffile era)" apt_install install "/root/$(basename "$deb")"
check "...without a conffile prompt" bash -c '! grep -q "Configuration file" "$1"' _ "$tmp/apt.log"
check "dpkg: dbbackup $version installed" test "$(x dpkg-query -W -f='${Status} ${Version}' dbbackup)" = "install ok installed $version"
check "dbbackup.toml kept as the CLI wrote it" test "$(x cat /etc/dbbackup/dbbackup.toml)" = "$main_before"
check "dpkg forgot the conffile (not even obsolete: '$(conffiles)')" test -z "$(conffiles)"
check "nothing left beside it (.dpkg-*)" test -z "$(x sh -c 'ls -a /etc/dbbackup | grep dpkg' || true)"
check "the timer is scheduled after the upgrade" test "$(x systemctl is-active dbbackup@daily.timer)" = active
check "config check passes after the upgrade" xq dbbackup config check
check "apt-get purge dbbackup" apt_install purge dbbackup
check "apt-get install the conffile-era package again, left as shipped" apt_install install /root/old.deb
check "apt-get install ./$(basename "$deb") (upgrade of an untouched default)" apt_install install "/root/$(basename "$deb")"
check "the untouched old default became the new one" \
    test "$(x cat /etc/dbbackup/dbbackup.toml)" = "$(x cat /usr/share/dbbackup/dbbackup.toml)"
check "dpkg forgot that conffile too" test -z "$(conffiles)"
check "apt-get purge dbbackup (again)" apt_install purge dbbackup
check "/etc/dbbackup gone again" absent /etc/dbbackup

echo "deb-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
