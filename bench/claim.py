"""Claims per second: this project's queue.claim() against raw sqlite3 running the seed's SQL.

Both claim from a tasks.db with the same claim index, at 1,000 and at
1,000,000 pending, with 1 and with 8 processes, in one run. Timings on a
shared machine are noisy: read the ratios.

    python bench/claim.py [--quick] [--sizes 1000,1000000] [--procs 1,8] [--claims N]
"""

import argparse
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRIORITIES = ["urgent", "high", "normal", "low"]
RANK = (
    "CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 "
    "WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 4 END"
)
SEED_SCHEMA = f"""
CREATE TABLE tasks (id TEXT PRIMARY KEY, project TEXT NOT NULL, description TEXT NOT NULL, priority TEXT DEFAULT 'normal', status TEXT DEFAULT 'pending', assigned_to TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, started_at TIMESTAMP, completed_at TIMESTAMP, result TEXT, error TEXT, retry_count INTEGER DEFAULT 0, metadata JSON);
CREATE INDEX idx_tasks_status ON tasks(status);
CREATE INDEX idx_tasks_project ON tasks(project);
CREATE INDEX idx_tasks_created ON tasks(created_at);
CREATE INDEX idx_tasks_claim ON tasks(status, ({RANK}), created_at);
"""
SEED_CLAIM = (
    "UPDATE tasks SET status='in_progress', assigned_to=?, started_at=? "
    f"WHERE id = (SELECT id FROM tasks WHERE status='pending' ORDER BY {RANK}, created_at LIMIT 1) RETURNING *"
)


def rows(n, project="bench", start=0):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(start)
    for i in range(start, start + n):
        created = (base + timedelta(microseconds=i * 1000)).strftime("%Y-%m-%d %H:%M:%S.%f")
        yield (f"{i:016x}", project, f"task {i}", rng.choice(PRIORITIES), "pending", created, 0)


def fill(path, n):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("DELETE FROM tasks")
    conn.executemany(
        "INSERT INTO tasks (id, project, description, priority, status, created_at, retry_count) VALUES (?,?,?,?,?,?,?)",
        rows(n),
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# Workers ------------------------------------------------------------------


def raw_worker(path, agent, claims, start, out):
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    start.wait()
    t0 = time.perf_counter()
    done = 0
    for _ in range(claims):
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if conn.execute(SEED_CLAIM, (agent, now)).fetchall():
            done += 1
    out.put((done, time.perf_counter() - t0))


def ours_worker(home, agent, claims, start, out):
    os.environ["ADT_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "adt_admin.settings"
    import django

    django.setup()
    from tasks import queue

    queue.claim(agent, "bench")  # connect and warm up outside the timing
    start.wait()
    t0 = time.perf_counter()
    done = 0
    for _ in range(claims):
        if queue.claim(agent, "bench") is not None:
            done += 1
    out.put((done, time.perf_counter() - t0))


def measure(target, where, procs, claims):
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=target, args=(where, f"agent{i}", claims // procs, start, out)) for i in range(procs)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    results = [out.get() for _ in workers]
    wall = time.perf_counter() - t0
    for w in workers:
        w.join()
    done = sum(r[0] for r in results)
    return done / wall


# Setups -------------------------------------------------------------------


def setup_raw(folder):
    path = folder / "raw-tasks.db"
    conn = sqlite3.connect(path)
    conn.executescript(SEED_SCHEMA)
    conn.close()
    return path


def setup_ours(folder, procs):
    home = folder / "adt"
    env = {**os.environ, "ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    script = "from projects import agents\n" + "".join(
        f"agents.register({name!r}, '/srv/bench')\n" for name in ["bench"] + [f"agent{i}" for i in range(max(procs))]
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True)
    return home


def reset_ours(home, n):
    fill(home / "data" / "tasks.db", n)
    conn = sqlite3.connect(home / "data" / "logs.db")
    conn.execute("DELETE FROM events")
    conn.execute("DELETE FROM event_relay_receipts")
    conn.commit()
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--procs", default="1,8")
    parser.add_argument("--claims", type=int, default=4000, help="claims per measurement")
    args, _ = parser.parse_known_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    procs = [int(p) for p in args.procs.split(",")]
    claims = args.claims
    if args.quick:
        sizes, claims = [1000, 20000], 800

    folder = Path(tempfile.mkdtemp(prefix="adt-bench-claim-"))
    try:
        raw_path, home = setup_raw(folder), setup_ours(folder, procs)
        results = {}
        for size in sizes:
            for p in procs:
                # Claim at most 80% of the queue, so its depth stays about `size`.
                n = min(claims, int(size * 0.8))
                rounds = max(1, claims // n)
                for name in ("raw", "ours"):
                    rates = []
                    for _ in range(rounds):
                        if name == "raw":
                            fill(raw_path, size)
                            rates.append(measure(raw_worker, raw_path, p, n))
                        else:
                            reset_ours(home, size)
                            rates.append(measure(ours_worker, home, p, n))
                    results[name, size, p] = sum(rates) / len(rates)
                print(f"  measured {size:>9,} pending x {p} procs: raw {results['raw', size, p]:8.0f}/s  ours {results['ours', size, p]:8.0f}/s", flush=True)

        print()
        print(f"{'pending':>10} {'procs':>5} {'raw sqlite3/s':>14} {'ours/s':>9} {'ours/raw':>9} {'ours vs smallest':>17}")
        for size in sizes:
            for p in procs:
                raw, ours = results["raw", size, p], results["ours", size, p]
                flat = ours / results["ours", sizes[0], p]
                print(f"{size:>10,} {p:>5} {raw:>14.0f} {ours:>9.0f} {ours / raw:>8.2f}x {flat:>16.2f}x")
        print("\ngoals: ours/raw >= 0.5x; ours at the largest size >= 0.8x of ours at the smallest")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
