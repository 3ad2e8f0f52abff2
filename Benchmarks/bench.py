#!/usr/bin/env python3
"""dbbackup benchmarks: prints figures side by side with the tools a sysadmin would use by hand.

    Benchmarks/run.sh [--quick] [--only NAME ...]

Each comparison alternates its contenders (A B C, B C A, ...) at least 5 times and prints the
median wall time, the ratio to the reference, and peak RSS (from wait4's ru_maxrss). The page
cache is warm for every contender alike. The machine is printed first. No assertion here:
targets are printed next to the figures, for people to read.
"""
import argparse, json, os, platform, resource, shutil, statistics, subprocess, sys, tempfile, threading, time

def run_measured(argv, env=None, stdin=subprocess.DEVNULL):
    """Runs argv, returns (seconds, peak RSS in MiB); raises on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.strip()[:500]}")
    return elapsed, usage.ru_maxrss / 1024.0

def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    disk = subprocess.run(["df", "-hT", WORK], capture_output=True, text=True).stdout.splitlines()[-1].split()
    return (f"machine: {os.cpu_count()} cores ({cpu}), {mem} MiB RAM, kernel {platform.release()}, "
            f"work dir {WORK} on {disk[1]} ({disk[0]}, {disk[4]} free)")

def alternate(contenders, runs, before_each=None):
    """contenders: [(label, argv, env)]. Returns {label: ([seconds], [rss])}.

    Round r starts with contender r mod n (A B C, B C A, C A B, ...), so none always runs
    right after the same other one, and dirty pages a contender leaves are written out
    (untimed) before the next starts: each pays for its own writes only."""
    results = {label: ([], []) for label, _, _ in contenders}
    for round in range(runs):
        shift = round % len(contenders)
        for label, argv, env in contenders[shift:] + contenders[:shift]:
            if before_each: before_each(label)
            os.sync()
            seconds, rss = run_measured(argv, env)
            results[label][0].append(seconds)
            results[label][1].append(rss)
    return results

def report(title, results, reference, targets):
    print(f"\n## {title}")
    ref = statistics.median(results[reference][0])
    width = max(38, *(len(label) for label in results))
    print(f"{'contender':{width}} {'median s':>9} {'range s':>15} {'ratio':>7} {'peak RSS MiB':>13}  runs")
    for label, (times, rss) in results.items():
        med = statistics.median(times)
        spread = f"{min(times):.3f}-{max(times):.3f}"
        print(f"{label:{width}} {med:9.3f} {spread:>15} {med / ref:7.2f} {max(rss):13.1f}  {len(times)}: " + " ".join(f"{t:.3f}" for t in times))
    for line in targets: print(f"target: {line}")

def make_database(path, mib):
    """A WAL database of about `mib` MiB with a few indexes, as an application's would look."""
    rows = mib * 1024 * 1024 // 1100
    subprocess.run(["sqlite3", path], check=True, stdout=subprocess.DEVNULL, input=f"""
        PRAGMA journal_mode=WAL; PRAGMA user_version=42;
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount INTEGER, payload BLOB);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
        INSERT INTO orders (customer, amount, payload) SELECT 'customer ' || (i % 9973), i % 100000, randomblob(1000) FROM n;
        CREATE INDEX orders_customer ON orders(customer);
        """.encode())

def dbbackup_env(config_dir, state_dir):
    env = dict(os.environ, DBBACKUP_CONFIG_DIR=config_dir, DBBACKUP_STATE_DIR=state_dir)
    env.pop("NOTIFY_SOCKET", None)
    return env

def configure(binary, env, database, backups, retention=15):
    subprocess.run([binary, "init", "--database", database], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([binary, "retention", "set", "--local", str(retention)], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([binary, "registration", "add", "bench", "--provider", "filesystem", "--path", backups, "--schedule", "migration"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def empty(directory):
    for entry in os.listdir(directory):
        os.unlink(os.path.join(directory, entry))

# An application connection that has just committed and keeps the database open, so its
# commits stay in the WAL (no checkpoint) while the contenders copy the database.
HOLD_RECENT_COMMITS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint = 0")
db.execute("UPDATE orders SET amount = amount + 1 WHERE id % 50 = 0")
print("ready", flush=True)
sys.stdin.read()
"""

def bench_snapshot(binary, mib, runs, recent_commits=False):
    """recent_commits: the WAL holds pages of the snapshot (an application that has just
    written and is still connected); otherwise it is empty (all checkpointed)."""
    root = tempfile.mkdtemp(prefix="bench-snapshot-", dir=WORK)
    holder = None
    try:
        db = os.path.join(root, "app.db"); out = os.path.join(root, "out"); os.mkdir(out)
        t = time.perf_counter(); make_database(db, mib)
        print(f"\n(created a {os.path.getsize(db) / 2**20:.0f} MiB WAL database in {time.perf_counter() - t:.0f} s)")
        if recent_commits:
            holder = subprocess.Popen([sys.executable, "-c", HOLD_RECENT_COMMITS, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            holder.stdout.readline()
            print(f"(an application connection holds {os.path.getsize(db + '-wal') / 2**20:.0f} MiB of commits in the WAL)")
        env = dbbackup_env(os.path.join(root, "etc"), os.path.join(root, "state"))
        configure(binary, env, db, os.path.join(root, "backups"))
        copy = os.path.join(out, "copy.db")
        contenders = [
            ("cp + sync (physical limit)", ["sh", "-c", f"cp '{db}' '{copy}' && sync '{copy}'"], None),
            ("sqlite3 .backup + sync", ["sh", "-c", f"sqlite3 '{db}' \".backup '{copy}'\" && sync '{copy}'"], None),
            ("sqlite3 VACUUM INTO + sync", ["sh", "-c", f"sqlite3 '{db}' \"VACUUM INTO '{copy}'\" && sync '{copy}'"], None),
            # The same work as dbbackup by hand: copy, verify, hash (OpenSSL, as dbbackup uses), sync.
            ("sqlite3 .backup + quick_check + sha256 + sync", ["sh", "-c", f"sqlite3 '{db}' \".backup '{copy}'\" && "
                f"test \"$(sqlite3 '{copy}' 'PRAGMA quick_check')\" = ok && openssl dgst -sha256 '{copy}' >/dev/null && sync '{copy}'"], None),
            ("dbbackup run (snapshot+verify+sha+fsync)", [binary, "run", "bench"], env),
        ]
        def clean(_):
            empty(out)
            backups = os.path.join(root, "backups")
            if os.path.isdir(backups): empty(backups)
            subprocess.run(["sqlite3", os.path.join(root, "state", "registry.db"), "DELETE FROM backups"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = alternate(contenders, runs, clean)
        wal = "its WAL holding recent commits (SQLite copies)" if recent_commits else "its WAL empty (the file is copied)"
        report(f"Snapshot of a {mib} MiB WAL database to a local directory, {wal}", results, "cp + sync (physical limit)",
               ["dbbackup ≤ 1.3× cp", "dbbackup ≤ 1.0× sqlite3 .backup"])
        sq = statistics.median(results["sqlite3 .backup + sync"][0]); us = statistics.median(results["dbbackup run (snapshot+verify+sha+fsync)"][0])
        by_hand = statistics.median(results["sqlite3 .backup + quick_check + sha256 + sync"][0])
        print(f"dbbackup / sqlite3 .backup = {us / sq:.2f}; dbbackup / the same work by hand = {us / by_hand:.2f}")
    finally:
        if holder:
            holder.stdin.close(); holder.wait()
        shutil.rmtree(root, ignore_errors=True)

WRITER = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
deadline = time.time() + float(sys.argv[2]); n = 0
while time.time() < deadline:
    db.execute("BEGIN IMMEDIATE"); db.execute("INSERT INTO orders (customer, amount, payload) VALUES ('load', 1, randomblob(200))"); db.execute("COMMIT"); n += 1
print(n)
"""

# The shipped unit (systemd/dbbackup@.service) runs every backup with Nice=10 and best-effort
# I/O priority 7; the load comparison runs it the same way, and also plain for reference.
AS_THE_UNIT = ["nice", "-n", "10", "ionice", "-c", "2", "-n", "7"]

def bench_under_load(binary, mib, seconds, rounds):
    """A writer commits as fast as it can; backups run back to back. Each round measures the
    writer alone, then with backups, for `seconds` each; the median ratio is the figure (the
    disk here varies a lot from one minute to the next, so one round proves little)."""
    root = tempfile.mkdtemp(prefix="bench-load-", dir=WORK)
    try:
        db = os.path.join(root, "app.db"); make_database(db, mib)
        env = dbbackup_env(os.path.join(root, "etc"), os.path.join(root, "state"))
        backups = os.path.join(root, "backups")
        configure(binary, env, db, backups)
        copy = os.path.join(root, "copy.db")
        def writer():
            return subprocess.Popen([sys.executable, "-c", WRITER, db, str(seconds)], stdout=subprocess.PIPE)
        def loaded(argv, env):
            load = writer(); started = 0; done = 0; cut = 0; longest = 0.0; start = time.time()
            while time.time() - start < seconds - 0.5:
                started += 1
                proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                t0 = time.time()
                # A backup still running when the writer stops is not counted as completed.
                try:
                    code = proc.wait(timeout=max(0.1, seconds - (t0 - start)))
                except subprocess.TimeoutExpired:
                    proc.kill(); proc.wait(); cut = 1; break
                if code == 0: done += 1; longest = max(longest, time.time() - t0)
                empty(backups)
                if os.path.exists(copy): os.unlink(copy)
            return int(load.communicate()[0]), started - cut, done, longest
        contenders = [
            ("dbbackup run, as the unit runs it (Nice=10, I/O best-effort 7)", AS_THE_UNIT + [binary, "run", "bench"], env, rounds),
            ("dbbackup run, plain (same priority as the writer)", [binary, "run", "bench"], env, rounds),
            ("cp + sync", ["sh", "-c", f"cp '{db}' '{copy}' && sync '{copy}'"], None, 1),
            ("sqlite3 .backup + sync", ["sh", "-c", f"sqlite3 '{db}' \".backup '{copy}'\" && sync '{copy}'"], None, 1),
        ]
        print(f"\n## Writer throughput while backups of a {mib} MiB WAL database run back to back ({seconds} s per measurement)")
        print("(a backup still running when the writer stops is not counted)")
        for label, argv, cenv, n in contenders:
            ratios = []; detail = []
            for _ in range(n):
                base = int(writer().communicate()[0])
                during, started, done, longest = loaded(argv, cenv)
                ratios.append(during / base)
                finished = (f"{done} of {started} backups completed, longest {longest:.2f} s" if started
                            else f"no backup completed in {seconds} s")
                detail.append(f"{during / base:.0%} ({base / seconds:.0f} → {during / seconds:.0f} tx/s, {finished})")
            print(f"{label}: median {statistics.median(ratios):.0%}; " + "; ".join(detail))
        print("target: dbbackup keeps ≥ 80% of the writer's throughput, and every backup completes")
    finally:
        shutil.rmtree(root, ignore_errors=True)

def bench_generator(binary, count, runs):
    root = tempfile.mkdtemp(prefix="bench-generator-", dir=WORK)
    try:
        etc = os.path.join(root, "etc"); os.makedirs(os.path.join(etc, "registrations.d"))
        with open(os.path.join(etc, "dbbackup.toml"), "w") as f: f.write('[database]\npath = "/var/lib/app/app.db"\n')
        kinds = ['type = "daily"\ntimes = ["02:00", "14:00"]\ntimezone = "Europe/Prague"',
                 'type = "weekly"\ntimes = ["03:30"]\nweekdays = ["mon", "thu"]',
                 'type = "monthly"\ntimes = ["04:00"]\ndays = [1, 15]', 'type = "migration"']
        for i in range(count):
            with open(os.path.join(etc, "registrations.d", f"reg-{i:04d}.toml"), "w") as f:
                f.write(f'provider = "filesystem"\npath = "/srv/backups/reg-{i:04d}"\n\n[schedule]\n{kinds[i % 4]}\n')
        # systemd gives generators directories in /run, a tmpfs; so does this benchmark.
        tmpfs = tempfile.mkdtemp(prefix="bench-generator-out-", dir="/dev/shm")
        out = os.path.join(tmpfs, "normal")
        def clean(_): shutil.rmtree(out, ignore_errors=True); os.mkdir(out)
        results = alternate([(f"dbbackup generate ({count} registrations)", [binary, "generate", "--config-dir", etc, out], None)], runs, clean)
        report(f"Generator with {count} registrations", results, f"dbbackup generate ({count} registrations)", ["≤ 50 ms"])
        print(f"wrote {len(os.listdir(out))} entries in the output directory (a tmpfs, as /run/systemd/generator is)")
        shutil.rmtree(tmpfs, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

def bench_small_run(binary, runs):
    root = tempfile.mkdtemp(prefix="bench-small-", dir=WORK)
    try:
        db = os.path.join(root, "app.db"); make_database(db, 1)
        env = dbbackup_env(os.path.join(root, "etc"), os.path.join(root, "state"))
        configure(binary, env, db, os.path.join(root, "backups"), retention=3)
        results = alternate([("dbbackup run, 1 MB database", [binary, "run", "bench"], env),
                             ("sqlite3 .backup, 1 MB database", ["sqlite3", db, f".backup '{os.path.join(root, 'copy.db')}'"], None)], runs)
        report("Whole run of a 1 MB database to a directory (process start to exit; retention 3 prunes every run)", results,
               "dbbackup run, 1 MB database", ["dbbackup ≤ 50 ms"])
    finally:
        shutil.rmtree(root, ignore_errors=True)

def start_server(root, name):
    """moto (auth on) or radosgw, each with an agent key limited to PutObject+DeleteObject
    (scripts/s3/moto_up.py, scripts/s3/radosgw_up.sh). Stopped when this process ends."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "s3")
    command = ([sys.executable, os.path.join(here, "moto_up.py")] if name == "moto" else ["bash", os.path.join(here, "radosgw_up.sh")])
    # radosgw's OSD keeps objects in memory: room for dbbackup's two and awscli's one.
    env = dict(os.environ, DBBACKUP_RADOSGW_MEMSTORE_BYTES=str(8 << 30))
    out = subprocess.run(command + ["0", os.path.join(root, name), "--owner-pid", str(os.getpid())], env=env,
                         check=True, capture_output=True, text=True).stdout
    env_file = out.strip().splitlines()[-1]
    return dict(line.split("=", 1) for line in open(env_file).read().splitlines() if "=" in line)

def load_average():
    return " ".join(open("/proc/loadavg").read().split()[:3])

def bench_upload(binary, sizes_mib, runs, servers):
    """A whole dbbackup run to S3 (snapshot, quick_check, SHA-256, upload, registry, retention)
    against the upload alone of the finished database file by `aws s3 cp` (and `rclone copyto`
    where installed), on each real server here. Above the multipart threshold (128 MiB by
    default) dbbackup sends parts while the snapshot is still being copied and verified, and
    commits the upload after; below it, one PUT of the verified file."""
    root = tempfile.mkdtemp(prefix="bench-upload-", dir=WORK)
    try:
        databases = {}
        for mib in sizes_mib:
            db = os.path.join(root, f"app-{mib}.db"); t = time.perf_counter(); make_database(db, mib)
            databases[mib] = db
            print(f"\n(created a {os.path.getsize(db) / 2**20:.0f} MiB WAL database in {time.perf_counter() - t:.0f} s)")
        for server in servers:
            s3 = start_server(root, server)
            endpoint, bucket, region = s3["S3_ENDPOINT"], s3["S3_BUCKET"], s3["S3_REGION"] or "us-east-1"
            key_id, secret = s3["S3_AGENT_ACCESS_KEY"], s3["S3_AGENT_SECRET_KEY"]
            aws_env = dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=region,
                           AWS_EC2_METADATA_DISABLED="true")
            rclone_env = dict(os.environ, RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
                              RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=key_id, RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=secret,
                              RCLONE_CONFIG_BENCH_ENDPOINT=endpoint, RCLONE_CONFIG_BENCH_REGION=region,
                              RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true")
            for mib in sizes_mib:
                db = databases[mib]
                size = os.path.getsize(db) / 2**20
                env = dbbackup_env(os.path.join(root, f"etc-{server}-{mib}"), os.path.join(root, f"state-{server}-{mib}"))
                subprocess.run([binary, "init", "--database", db], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run([binary, "retention", "set", "--remote", "1"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run([binary, "registration", "add", "bench", "--provider", "s3", "--bucket", bucket, "--endpoint", endpoint,
                                "--region", region, "--force-path-style", "--prefix", f"bench-{mib}/", "--access-key", key_id,
                                "--secret-key-stdin", "--schedule", "migration"], env=env, check=True, input=secret.encode(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                by_hand = f"bench-{mib}/by-hand.db"
                contenders = [
                    ("dbbackup run (whole backup)", [binary, "run", "bench"], env),
                    ("aws s3 cp (finished file)", ["aws", "--endpoint-url", endpoint, "s3", "cp", "--only-show-errors", db,
                                                   f"s3://{bucket}/{by_hand}"], aws_env),
                ]
                if shutil.which("rclone"):
                    contenders.append(("rclone copyto (finished file)", ["rclone", "copyto", "--s3-no-check-bucket", db,
                                                                         f"bench:{bucket}/{by_hand}"], rclone_env))
                def clean(_):
                    # Untimed: the by-hand copy goes, so the store holds what one dbbackup run leaves.
                    subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "rm", "--only-show-errors", f"s3://{bucket}/{by_hand}"],
                                   env=aws_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                load_before = load_average()
                results = alternate(contenders, runs, clean)
                how = "parts sent while the snapshot is copied and verified" if size > THRESHOLD_MIB else "one PUT of the verified file"
                report(f"Whole backup of a {size:.0f} MiB database to {server} on 127.0.0.1 (agent key: PutObject+DeleteObject only); "
                       f"dbbackup: {how}", results, "aws s3 cp (finished file)",
                       ["dbbackup whole backup ≤ 1.0× aws s3 cp of the finished file", "dbbackup peak RSS ≤ 64 MiB, not growing with size"])
                print(f"load average (1, 5, 15 min): {load_before} before, {load_average()} after")
    finally:
        shutil.rmtree(root, ignore_errors=True)

# dbbackup's default multipart_threshold_mib (S3Transfer.defaultMultipartThresholdMiB).
THRESHOLD_MIB = 128

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", default="/var/tmp")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", default=["snapshot", "snapshot-recent", "load", "upload", "generator", "small"])
    args = parser.parse_args()
    WORK = args.work
    print(machine())
    print(f"binary: {args.binary} ({os.path.getsize(args.binary) / 2**20:.1f} MiB)")
    runs = 5
    if "snapshot" in args.only: bench_snapshot(args.binary, 64 if args.quick else 1024, runs)
    if "snapshot-recent" in args.only: bench_snapshot(args.binary, 64 if args.quick else 1024, runs, recent_commits=True)
    if "load" in args.only: bench_under_load(args.binary, 64 if args.quick else 256, 5 if args.quick else 10, 1 if args.quick else 5)
    if "upload" in args.only:
        servers = ["moto"] + (["radosgw"] if os.path.exists("/usr/bin/radosgw") else [])
        bench_upload(args.binary, [48, 160] if args.quick else [100, 1024], runs, servers)
    if "generator" in args.only: bench_generator(args.binary, 1000, 10)
    if "small" in args.only: bench_small_run(args.binary, 20)
