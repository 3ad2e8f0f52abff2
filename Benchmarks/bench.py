#!/usr/bin/env python3
"""dbbackup benchmarks: prints figures side by side with the tools a sysadmin would use by hand.

    Benchmarks/run.sh [--quick] [--only NAME ...] [--devices disk tmpfs-loop throttled-loop]

Each timed comparison alternates its contenders (A B C, B C A, ...) at least 5 times and
prints the median wall time, the range, the ratio to the reference, and peak RSS (from
wait4's ru_maxrss). The page cache is warm for every contender alike. The load comparison
(an application committing while backups run back to back) rotates its contenders the same
way, 3 rounds by default on each device, and prints the median and range of the share of
its commits the application kept, and how many backups completed. The machine and its load
average are printed first, and the load average beside every figure: the machine may be
shared. No assertion here: targets are printed next to the figures, for people to read.
See Benchmarks/README.md.
"""
import argparse, atexit, json, os, platform, resource, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

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
            f"work dir {WORK} on {disk[1]} ({disk[0]}, scheduler {scheduler(disk[0])}, {disk[4]} free)\n"
            f"started {load()}; other processes share this machine, and timings follow its load")

def load():
    """The machine's load, printed beside every figure: it is shared, and timings follow it."""
    with open("/proc/loadavg") as f: one, five, fifteen = f.read().split()[:3]
    return f"(load average {one} {five} {fifteen} at {time.strftime('%H:%M:%S')})"

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
    print(load())

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
    subprocess.run([binary, "init", "--database", database], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

# The application: one INSERT per transaction, fsync at each commit (synchronous=FULL in WAL
# mode, as an application that must not lose a commit would run), as fast as it can, until
# its stdin closes; prints its commits and the seconds it ran.
WRITER = r"""
import sqlite3, sys, threading, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
db.execute("PRAGMA synchronous=FULL")
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
print("ready", flush=True)
n = 0; start = time.perf_counter()
while not stop.is_set():
    db.execute("BEGIN IMMEDIATE"); db.execute("INSERT INTO orders (customer, amount, payload) VALUES ('load', 1, randomblob(200))"); db.execute("COMMIT"); n += 1
print(n, time.perf_counter() - start)
"""

# The shipped unit (systemd/dbbackup@.service) runs every backup with Nice=10 and best-effort
# I/O priority 7; the load comparison runs it the same way.
AS_THE_UNIT = ["nice", "-n", "10", "ionice", "-c", "2", "-n", "7"]

class Device:
    """Where the writer's database and the backups live: the work directory's disk, or an ext4
    file system on a loop device backed by a file in a tmpfs, optionally throttled to a write
    rate (cgroup v1 blkio.throttle.write_bps_device on the root group, which throttles the
    kernel's writeback too)."""
    def __init__(self, name, directory, describe, cleanup=lambda: None):
        self.name, self.directory, self.describe, self.cleanup = name, directory, describe, cleanup

def scheduler(device):
    """The I/O scheduler of a block device (/dev/vda1 → vda), or '?'."""
    name = os.path.basename(os.path.realpath(device))
    for candidate in (name, name.rstrip("0123456789"), name.rstrip("0123456789").rstrip("p")):
        try:
            text = open(f"/sys/block/{candidate}/queue/scheduler").read()
            return next((w.strip("[]") for w in text.split() if w.startswith("[")), text.strip())
        except OSError:
            continue
    return "?"

def work_disk():
    directory = tempfile.mkdtemp(prefix="bench-load-", dir=WORK)
    disk = subprocess.run(["df", "--output=source,fstype", directory], capture_output=True, text=True).stdout.split()[-2:]
    return Device("this machine's disk", directory, f"{directory} on {disk[1]} ({disk[0]}, scheduler {scheduler(disk[0])})",
                  lambda: shutil.rmtree(directory, ignore_errors=True))

THROTTLE = "/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device"

def throttle_evidence():
    """Why this host cannot throttle a device, in its own words."""
    lines = []
    if not os.path.exists(THROTTLE): lines.append(f"no {THROTTLE}")
    unified = next((p for p in ("/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/unified/cgroup.controllers") if os.path.exists(p)), None)
    if unified: lines.append(f"{unified}: '{open(unified).read().strip()}' (io.max needs the io controller)")
    dm = subprocess.run(["dmsetup", "targets"], capture_output=True, text=True) if shutil.which("dmsetup") else None
    lines.append("dmsetup targets: " + ((dm.stdout + dm.stderr).strip().splitlines()[0] if dm else "no dmsetup"))
    return "; ".join(lines)

def loop_device(throttle_mib=None, size_mib=1024):
    """An ext4 loop device on a tmpfs file; None when this host cannot make one (not root,
    no loop devices, or no throttle when one is asked for)."""
    if os.geteuid() != 0 or not os.path.exists("/dev/loop-control"): return None
    if throttle_mib and not os.path.exists(THROTTLE): return None
    image = tempfile.mktemp(prefix="bench-loop-", suffix=".img", dir="/dev/shm")
    mount = tempfile.mkdtemp(prefix="bench-loop-mnt-", dir=WORK)
    subprocess.run(["truncate", "-s", f"{size_mib}M", image], check=True)
    loop = subprocess.run(["losetup", "-f", "--show", image], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["mkfs.ext4", "-q", loop], check=True)
    subprocess.run(["mount", loop, mount], check=True)
    number = open(f"/sys/block/{os.path.basename(loop)}/dev").read().strip()
    if throttle_mib:
        with open(THROTTLE, "w") as f: f.write(f"{number} {throttle_mib << 20}")
    def cleanup():
        if throttle_mib:
            with open(THROTTLE, "w") as f: f.write(f"{number} 0")
        for _ in range(50):  # a process just killed may still hold it for a moment
            if subprocess.run(["umount", mount], stderr=subprocess.DEVNULL).returncode == 0: break
            time.sleep(0.2)
        subprocess.run(["losetup", "-d", loop])
        os.rmdir(mount); os.unlink(image)
    what = (f"ext4 on {loop} (scheduler {scheduler(loop)}), a loop device on a file in /dev/shm"
            + (f", writes throttled to {throttle_mib} MiB/s (cgroup v1 blkio.throttle.write_bps_device {number})" if throttle_mib else ""))
    return Device(f"throttled loop device ({throttle_mib} MiB/s)" if throttle_mib else "tmpfs-backed loop device", mount, what, cleanup)

def bench_under_load(contenders_binaries, devices, rounds, quick=False):
    """A writer commits as fast as it can (one INSERT per transaction, fsync at each commit);
    backups run back to back, as a timer or a deploy would start them, for at least `seconds`
    and until the last one has completed (none is cut short). Every round measures the writer
    alone and with each contender, in an order rotated from round to round. The figure is the
    share of its commits per second the writer kept against the same round's writer alone."""
    for name, make in devices:
        device = make()
        if device is None:
            print(f"\n## Writer under load on {name}: skipped, this host cannot provide it ({throttle_evidence()})")
            continue
        try:
            bench_device_under_load(contenders_binaries, device, rounds, quick)
        finally:
            device.cleanup()

def bench_device_under_load(binaries, device, rounds, quick):
    throttled = "throttled" in device.name
    mib = 16 if quick else 64
    seconds = 4 if quick else 8
    # A backup started within `seconds` may run until `cap`: backups are never cut short
    # before then (dbbackup's copy is never dirty for more than 25 s, so at the slowest it
    # completes within that), and one that has not completed by then has failed.
    cap = 3 * seconds if quick else 30
    root = device.directory
    db = os.path.join(root, "app.db"); make_database(db, mib)
    backups = os.path.join(root, "backups")
    copy = os.path.join(root, "copy.db")
    baseline = "no backup (the writer alone)"
    contenders = [(baseline, None, None)]
    for label, binary in binaries:
        env = dbbackup_env(os.path.join(root, f"etc-{len(contenders)}"), os.path.join(root, f"state-{len(contenders)}"))
        configure(binary, env, db, backups)
        contenders.append((f"{label}, as the unit runs it", AS_THE_UNIT + [binary, "run", "bench"], env))
    contenders.append(("cp + sync", ["sh", "-c", f"cp '{db}' '{copy}' && sync '{copy}'"], None))
    contenders.append(("sqlite3 .backup + sync", ["sh", "-c", f"sqlite3 '{db}' \".backup '{copy}'\" && sync '{copy}'"], None))
    def reset():
        # The writer's rows go, so that every measurement backs up the same amount; the WAL
        # is checkpointed, so none starts with the last one's; what the last one left dirty
        # is written out before this one starts (untimed).
        subprocess.run(["sqlite3", db, "DELETE FROM orders WHERE customer = 'load'; PRAGMA wal_checkpoint(TRUNCATE);"],
                       check=True, stdout=subprocess.DEVNULL)
        os.sync()
    def clean(env):
        if os.path.isdir(backups): empty(backups)
        if os.path.exists(copy): os.unlink(copy)
        if env:
            subprocess.run(["sqlite3", os.path.join(env["DBBACKUP_STATE_DIR"], "registry.db"), "DELETE FROM backups"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def measure(argv, env):
        """(commits per second, backups started, completed, their durations)."""
        load = subprocess.Popen([sys.executable, "-c", WRITER, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        load.stdout.readline()
        started = done = 0; durations = []; start = time.perf_counter()
        while argv and time.perf_counter() - start < seconds:
            started += 1
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                # sqlite3 .backup starts over whenever the database changes: under a writer it
                # may never complete. Whatever still runs at the cap is stopped, not completed.
                code = proc.wait(timeout=max(1, start + cap - t0))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL); proc.wait(); code = None  # sh and its sqlite3
            if code == 0: done += 1; durations.append(time.perf_counter() - t0)
            clean(env)
        if not argv: time.sleep(seconds)
        load.stdin.close()
        commits, ran = load.stdout.read().split()
        load.wait()
        return int(commits) / float(ran), started, done, durations
    print(f"\n## Writer under load on {device.name}: backups of a {mib} MiB WAL database back to back, "
          f"backups started for {seconds} s and each given until {cap} s to complete, {rounds} round(s)")
    print(f"({device.describe})")
    print(load())
    results = {label: [] for label, _, _ in contenders}
    for round in range(rounds):
        shift = round % len(contenders)
        for label, argv, env in contenders[shift:] + contenders[:shift]:
            reset()
            results[label].append(measure(argv, env))
            rate, started, done, _ = results[label][-1]
            print(f"  (round {round + 1}: {label}: {rate:.0f} commits/s, {done} of {started} backups completed)", file=sys.stderr, flush=True)
    width = max(len(label) for label in results)
    print(f"{'contender':{width}}  {'kept':>5}  {'range':>9}  {'commits/s':>9}  backups completed, duration median (range)")
    alone = [row[0] for row in results[baseline]]
    for label, rows in results.items():
        kept = [row[0] / base for row, base in zip(rows, alone)]
        rate = statistics.median(row[0] for row in rows)
        if label == baseline:
            print(f"{label:{width}}  {'100%':>5}  {'':>9}  {rate:9.0f}  range {min(alone):.0f}-{max(alone):.0f} commits/s")
            continue
        completed = sum(row[2] for row in rows); started = sum(row[1] for row in rows)
        durations = [d for row in rows for d in row[3]]
        took = f", {statistics.median(durations):.1f} s ({min(durations):.1f}-{max(durations):.1f})" if durations else ""
        print(f"{label:{width}}  {statistics.median(kept):5.0%}  {min(kept):4.0%}-{max(kept):4.0%}  {rate:9.0f}  "
              f"{completed} of {started}{took}; rounds: " + " ".join(f"{k:.0%}" for k in kept))
    print("target: dbbackup keeps ≥ 80% of the writer's commits, and every backup completes")
    print(load())

def bench_generator(binary, count, runs):
    """The generator against `cp -r` of the same registration files, both into a tmpfs (systemd
    gives generators directories in /run), in the same run, rotated. Also as systemd runs it:
    through the name dbbackup-generator, with three output directories."""
    root = tempfile.mkdtemp(prefix="bench-generator-", dir=WORK)
    tmpfs = tempfile.mkdtemp(prefix="bench-generator-out-", dir="/dev/shm")
    try:
        etc = os.path.join(root, "etc"); os.makedirs(os.path.join(etc, "registrations.d"))
        # A real database file, so the generator reads its owner as it would on a configured host.
        database = os.path.join(root, "app.db"); open(database, "w").close()
        with open(os.path.join(etc, "dbbackup.toml"), "w") as f: f.write(f'[database]\npath = "{database}"\n')
        kinds = ['type = "daily"\ntimes = ["02:00", "14:00"]\ntimezone = "Europe/Prague"',
                 'type = "weekly"\ntimes = ["03:30"]\nweekdays = ["mon", "thu"]',
                 'type = "monthly"\ntimes = ["04:00"]\ndays = [1, 15]', 'type = "migration"']
        for i in range(count):
            with open(os.path.join(etc, "registrations.d", f"reg-{i:04d}.toml"), "w") as f:
                f.write(f'provider = "filesystem"\npath = "/srv/backups/reg-{i:04d}"\n\n[schedule]\n{kinds[i % 4]}\n')
        generator = os.path.join(root, "dbbackup-generator"); os.symlink(os.path.abspath(binary), generator)
        out = {name: os.path.join(tmpfs, name) for name in ("cp", "generate", "normal", "early", "late")}
        def clean(_):
            for path in out.values():
                shutil.rmtree(path, ignore_errors=True)
            for name in ("generate", "normal", "early", "late"): os.mkdir(out[name])
        cp = f"cp -r registrations.d + dbbackup.toml ({count + 1} files)"
        results = alternate([
            (cp, ["cp", "-r", etc, out["cp"]], None),
            (f"dbbackup generate ({count} registrations)", [binary, "generate", "--config-dir", etc, out["generate"]], None),
            ("dbbackup-generator, as systemd runs it", [generator, out["normal"], out["early"], out["late"]],
             dict(os.environ, DBBACKUP_CONFIG_DIR=etc)),
        ], runs, clean)
        report(f"Generator with {count} registrations, against cp -r of the same files (both into a tmpfs)", results, cp,
               ["dbbackup generate ≤ 1.5× cp -r"])
        print(f"wrote {len(os.listdir(out['generate']))} entries in the output directory")
    finally:
        shutil.rmtree(tmpfs, ignore_errors=True)
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

# What each server of the upload comparison is, in its report's title.
SERVERS = {
    "moto": "moto",
    "moto-memory": "moto, its temporary files in memory (/dev/shm)",
    "radosgw": "radosgw",
}

def start_server(root, name):
    """moto (auth on) or radosgw, each with an agent key limited to PutObject+DeleteObject
    (scripts/s3/moto_up.py, scripts/s3/radosgw_up.sh). Stopped when this process ends.

    moto keeps each object and part above 5 MiB in a temporary file, on this machine's disk:
    the disk dbbackup's staging copy is on, which a store elsewhere never shares. moto-memory
    is moto with its temporary files on /dev/shm instead; radosgw keeps objects in memory."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "s3")
    command = ([sys.executable, os.path.join(here, "moto_up.py")] if name.startswith("moto") else ["bash", os.path.join(here, "radosgw_up.sh")])
    # radosgw's OSD keeps objects in memory: room for dbbackup's two and awscli's one.
    env = dict(os.environ, DBBACKUP_RADOSGW_MEMSTORE_BYTES=str(8 << 30))
    if name == "moto-memory":
        env["TMPDIR"] = tempfile.mkdtemp(prefix="bench-moto-", dir="/dev/shm")
        atexit.register(shutil.rmtree, env["TMPDIR"], True)
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
    commits the upload after; below it, one PUT of the verified file.

    Retention keeps one backup, so each run also deletes the previous one, as every run does
    once a registration has reached its limit; awscli deletes nothing. A second dbbackup row
    runs the same with nothing due for removal (as until the limit is reached; its objects are
    removed untimed, with the admin key), to show what that deletion costs."""
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
            admin_env = dict(aws_env, AWS_ACCESS_KEY_ID=s3["S3_ADMIN_ACCESS_KEY"], AWS_SECRET_ACCESS_KEY=s3["S3_ADMIN_SECRET_KEY"])
            for mib in sizes_mib:
                db = databases[mib]
                size = os.path.getsize(db) / 2**20
                def registered(name, keep):
                    env = dbbackup_env(os.path.join(root, f"etc-{server}-{mib}-{name}"), os.path.join(root, f"state-{server}-{mib}-{name}"))
                    quiet = dict(env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    subprocess.run([binary, "init", "--database", db], **quiet)
                    subprocess.run([binary, "retention", "set", "--remote", str(keep)], **quiet)
                    subprocess.run([binary, "registration", "add", "bench", "--provider", "s3", "--bucket", bucket, "--endpoint", endpoint,
                                    "--region", region, "--force-path-style", "--prefix", f"bench-{mib}-{name}/", "--access-key", key_id,
                                    "--secret-key-stdin", "--schedule", "migration"], input=secret.encode(), **quiet)
                    return env
                env, kept_env = registered("keep1", 1), registered("kept", 1000)
                by_hand = f"bench-{mib}/by-hand.db"
                contenders = [
                    ("dbbackup run (whole backup)", [binary, "run", "bench"], env),
                    ("dbbackup run, nothing due for removal", [binary, "run", "bench"], kept_env),
                    ("aws s3 cp (finished file)", ["aws", "--endpoint-url", endpoint, "s3", "cp", "--only-show-errors", db,
                                                   f"s3://{bucket}/{by_hand}"], aws_env),
                ]
                if shutil.which("rclone"):
                    contenders.append(("rclone copyto (finished file)", ["rclone", "copyto", "--s3-no-check-bucket", db,
                                                                         f"bench:{bucket}/{by_hand}"], rclone_env))
                def clean(_):
                    # Untimed: the by-hand copy and the backups of the "nothing due" row go, so each run
                    # starts with the store holding what one dbbackup run leaves.
                    subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "rm", "--only-show-errors", f"s3://{bucket}/{by_hand}"],
                                   env=aws_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "rm", "--only-show-errors", "--recursive",
                                    f"s3://{bucket}/bench-{mib}-kept/"], env=admin_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    if "S3_CEPH_CONF" in s3:
                        # radosgw frees deleted objects only when its garbage collector runs (hours
                        # later by default); without this its in-memory OSD fills up within a few
                        # 1.3 GiB rounds and stops answering.
                        subprocess.run(["radosgw-admin", "-c", s3["S3_CEPH_CONF"], "gc", "process", "--include-all"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                load_before = load_average()
                results = alternate(contenders, runs, clean)
                how = "parts sent while the snapshot is copied and verified" if size > THRESHOLD_MIB else "one PUT of the verified file"
                report(f"Whole backup of a {size:.0f} MiB database to {SERVERS[server]} on 127.0.0.1 (agent key: PutObject+DeleteObject only); "
                       f"dbbackup: {how}", results, "aws s3 cp (finished file)",
                       ["dbbackup whole backup ≤ 1.0× aws s3 cp of the finished file", "dbbackup peak RSS ≤ 64 MiB, not growing with size"])
                print(f"load average (1, 5, 15 min): {load_before} before, {load_average()} after")
    finally:
        shutil.rmtree(root, ignore_errors=True)

# dbbackup's default multipart_threshold_mib (S3Transfer.defaultMultipartThresholdMiB).
THRESHOLD_MIB = 128

if __name__ == "__main__":
    # Stopped from outside, it still unmounts, detaches and unthrottles what it set up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", default="/var/tmp")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", default=["snapshot", "snapshot-recent", "load", "upload", "generator", "small"])
    parser.add_argument("--devices", nargs="*", default=["disk", "tmpfs-loop", "throttled-loop"],
                        help="where the load comparison runs: disk (the work directory's), tmpfs-loop, throttled-loop")
    parser.add_argument("--throttle-mib", type=int, default=32, help="write rate of the throttled loop device, MiB/s")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the load comparison")
    parser.add_argument("--compare-binary", action="append", default=[], metavar="LABEL=PATH",
                        help="another dbbackup build to compare under load (e.g. the previous release)")
    args = parser.parse_args()
    WORK = args.work
    began = time.perf_counter()
    print(machine())
    print(f"binary: {args.binary} ({os.path.getsize(args.binary) / 2**20:.1f} MiB)")
    runs = 5
    if "snapshot" in args.only: bench_snapshot(args.binary, 64 if args.quick else 512, runs)
    if "snapshot-recent" in args.only: bench_snapshot(args.binary, 64 if args.quick else 512, runs, recent_commits=True)
    if "load" in args.only:
        makers = {"disk": ("this machine's disk", work_disk), "tmpfs-loop": ("a tmpfs-backed loop device", lambda: loop_device()),
                  "throttled-loop": (f"a loop device throttled to {args.throttle_mib} MiB/s", lambda: loop_device(throttle_mib=args.throttle_mib))}
        binaries = [("dbbackup (this build)", args.binary)] + [tuple(item.split("=", 1)) for item in args.compare_binary]
        bench_under_load(binaries, [makers[name] for name in args.devices], 1 if args.quick else args.rounds, args.quick)
    if "upload" in args.only:
        servers = ["moto", "moto-memory"] + (["radosgw"] if os.path.exists("/usr/bin/radosgw") else [])
        bench_upload(args.binary, [48, 160] if args.quick else [100, 1024], runs, servers)
    if "generator" in args.only: bench_generator(args.binary, 1000, 30)
    if "small" in args.only: bench_small_run(args.binary, 20)
    print(f"\nall comparisons took {time.perf_counter() - began:.0f} s {load()}")
