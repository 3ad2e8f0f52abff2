#!/usr/bin/env bash
# The main job on an embedded default: builds dbbackup, creates a demo SQLite database that
# a background writer keeps changing, configures a migration registration to a local
# directory, takes a backup while the writer runs, lists it and restores it.
# Everything lives under ./demo (config, state, backups); nothing outside it is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

swift build -c release --product dbbackup 2>&1 | tail -n 1
bin="$(swift build -c release --show-bin-path)/dbbackup"

demo="$PWD/demo"
rm -rf "$demo"
mkdir -p "$demo"
export DBBACKUP_CONFIG_DIR="$demo/etc" DBBACKUP_STATE_DIR="$demo/state"

echo "== creating $demo/app.db (WAL, schema version 3) and a writer that keeps inserting"
sqlite3 "$demo/app.db" >/dev/null <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount INTEGER, created TEXT DEFAULT CURRENT_TIMESTAMP);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
INSERT INTO orders (customer, amount) SELECT 'customer ' || (i % 977), i % 10000 FROM n;
PRAGMA user_version = 3;
SQL
python3 - "$demo/app.db" "$demo/stop" <<'PY' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
while not os.path.exists(sys.argv[2]):
    db.execute("INSERT INTO orders (customer, amount) VALUES ('live writer', 1)")
    time.sleep(0.001)
PY
writer=$!
trap 'touch "$demo/stop"; wait $writer 2>/dev/null || true' EXIT
sleep 1

echo "== dbbackup init / registration add"
"$bin" init --database "$demo/app.db"
"$bin" registration add premigrate --provider filesystem --path "$demo/backups" --schedule migration
"$bin" registration add nightly --provider filesystem --path "$demo/backups-nightly" --schedule daily --time 02:00
"$bin" retention set --local 5

echo "== dbbackup run --trigger migration (while the writer runs)"
"$bin" run --trigger migration
echo "== dbbackup run nightly (a timer's registration, started by hand)"
"$bin" run nightly

echo "== dbbackup list"
"$bin" list

echo "== dbbackup restore latest --registration premigrate --to $demo/restored.db"
"$bin" restore latest --registration premigrate --to "$demo/restored.db"
echo "rows in the restored copy: $(sqlite3 "$demo/restored.db" 'SELECT count(*) FROM orders'), in the live database by now: $(sqlite3 "$demo/app.db" 'SELECT count(*) FROM orders')"
ls -l "$demo/backups"
