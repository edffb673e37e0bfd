"""Archiving a million finished tasks while agents keep claiming.

Loads --rows finished tasks (completed_at spread over the past year, all
older than the cutoff) plus pending ones into a fresh, migrated ADT_HOME,
then measures queue.claim's latency in --claimers processes (each claims
and completes in a loop, Django set up in each) twice: without archiving
(the baseline) and while `archive_tasks --older-than 30` runs as a
subprocess. Prints the archive's rows/s and claim latency p50/p99 in both.

    make bench BENCH=archive
    make bench BENCH=archive BENCH_ARGS="--rows 200000 --batch-size 250,500,1000"

With several batch sizes, each archives the same loaded files again.
Timings on a shared machine are noisy: compare the numbers of one run.
"""

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_P99_MS = 100
COLUMNS = ("id", "project", "description", "priority", "status", "assigned_to", "created_at", "started_at",
           "completed_at", "result", "error", "retry_count", "metadata")


def env(home):
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ADT_", "DJANGO_"))}
    out.update({"ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings", "PYTHONUNBUFFERED": "1"})
    return out


def manage(home, *args):
    subprocess.run([sys.executable, "manage.py", *map(str, args)], cwd=ROOT, env=env(home), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Loading ------------------------------------------------------------------


def load(home, rows, claimers, pending):
    """Raw executemany into the migrated tasks.db: the fast way to get a year of history."""
    rng = random.Random(1)
    now = datetime.now(UTC).replace(tzinfo=None)
    statuses = ["completed"] * 8 + ["failed", "cancelled"]

    def stamp(moment):
        return moment.isoformat(" ", "microseconds")

    # Rows go in as agents would have added them, oldest first: rowid order is
    # creation order, as in a real tasks.db (what the indexes' locality, and
    # so each batch's cost, depends on).
    first = now - timedelta(days=31 + 365)
    step = timedelta(days=365) / max(rows, 1)

    def finished(i):
        created = first + step * i
        done = created + timedelta(minutes=rng.randint(1, 600))
        status = statuses[i % len(statuses)]
        return (uuid.uuid4().hex[:16], f"bench{i % claimers}", f"finished task {i}: refactor module {rng.randint(1, 999)}",
                "normal", status, f"bench{i % claimers}", stamp(created), stamp(created),
                # Cancelled before anyone took them: some rows of the seed have no completed_at.
                None if status == "cancelled" and i % 3 == 0 else stamp(done),
                "merged" if status == "completed" else None, "tests failed" if status == "failed" else None,
                0, f'{{"pr": {i}}}')

    def waiting(i):
        created = now - timedelta(seconds=pending - i)
        return (uuid.uuid4().hex[:16], f"bench{i % claimers}", f"pending task {i}", "normal", "pending", None,
                stamp(created), None, None, None, None, 0, None)

    insert = f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    with sqlite3.connect(home / "data" / "tasks.db") as conn:
        for start in range(0, rows, 100_000):
            conn.executemany(insert, (finished(i) for i in range(start, min(rows, start + 100_000))))
            conn.commit()
        conn.executemany(insert, (waiting(i) for i in range(pending)))
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# Claimers -----------------------------------------------------------------


def claimer(name, ready, go, stop, out):
    """Claim and complete in a loop from `go` until `stop` exists; write claim latencies (ms) to `out`."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from agents import lifecycle
    from tasks import queue

    Path(ready).touch()
    while not os.path.exists(go):
        time.sleep(0.01)
    claims, completes, empty, slow = [], [], 0, []
    while not os.path.exists(stop):
        started = time.perf_counter()
        task = lifecycle.claim(name, name)
        claims.append((time.perf_counter() - started) * 1000)
        if claims[-1] > 100:
            slow.append((time.time(), claims[-1]))
        if task is None:
            empty += 1
            continue
        started = time.perf_counter()
        queue.complete(task.id, name)
        completes.append((time.perf_counter() - started) * 1000)
    Path(out).write_text(json.dumps({"claims": claims, "completes": completes, "empty": empty, "slow": slow}))


def measure(home, claimers, work):
    """Start the claimers, run `work()` while they claim, stop them; returns (work's result, latencies)."""
    run = Path(tempfile.mkdtemp(dir=home))
    procs = [
        subprocess.Popen([sys.executable, __file__, "claimer", f"bench{i}", run / f"ready{i}", run / "go", run / "stop", run / f"out{i}"],
                         cwd=ROOT, env=env(home))
        for i in range(claimers)
    ]
    while not all((run / f"ready{i}").exists() for i in range(claimers)):
        time.sleep(0.05)
    (run / "go").touch()
    started = time.monotonic()
    result = work()
    seconds = time.monotonic() - started
    (run / "stop").touch()
    for proc in procs:
        if proc.wait() != 0:
            sys.exit("a claimer failed")
    data = [json.loads((run / f"out{i}").read_text()) for i in range(claimers)]
    shutil.rmtree(run)
    return result, seconds, {key: [x for d in data for x in d[key]] if key != "empty" else sum(d[key] for d in data)
                             for key in ("claims", "completes", "empty", "slow")}


def watch(wal, done, seconds=None):
    """Wait until done() returns something other than None (or `seconds` pass); returns the WAL's largest size."""
    deadline = time.monotonic() + seconds if seconds else None
    largest = 0
    while done() is None and (deadline is None or time.monotonic() < deadline):
        try:
            largest = max(largest, wal.stat().st_size)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return largest


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def latency_line(label, seconds, lat):
    claims = lat["claims"]
    return (f"  {label:<28} {len(claims):>7,} claims in {seconds:5.1f}s ({len(claims) / seconds:6,.0f}/s, {lat['empty']:,} found nothing): "
            f"p50 {statistics.median(claims):5.1f} ms  p99 {percentile(claims, 99):6.1f} ms  max {max(claims):6.1f} ms  "
            f"(complete p99 {percentile(lat['completes'], 99):.1f} ms)")


# The run ------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="finished tasks to archive")
    # As many claimers as this machine has cores: more, and they queue for the CPU, not for the lock.
    parser.add_argument("--claimers", type=int, default=2, help="claiming processes")
    parser.add_argument("--pending", type=int, default=None, help="pending tasks (default: enough for the run)")
    parser.add_argument("--batch-size", default=None, help="archive_tasks --batch-size; a comma list to compare")
    parser.add_argument("--baseline-seconds", type=float, default=15)
    args, _ = parser.parse_known_args()  # BENCH_ARGS go to every benchmark
    sizes = [int(s) for s in args.batch_size.split(",")] if args.batch_size else [None]
    pending = args.pending or 60_000 * args.claimers

    home = Path(tempfile.mkdtemp(prefix="adt-bench-archive-"))
    try:
        manage(home, "migrate", "-v0")
        for i in range(args.claimers):
            manage(home, "register_project", f"bench{i}", f"/srv/bench{i}")
        started = time.monotonic()
        load(home, args.rows, args.claimers, pending)
        size = (home / "data" / "tasks.db").stat().st_size
        print(f"loaded {args.rows:,} finished and {pending:,} pending tasks in {time.monotonic() - started:.1f}s "
              f"(tasks.db {size / 2**20:,.0f} MiB); {args.claimers} claimer processes", flush=True)
        template = home.parent / (home.name + "-loaded")
        shutil.copytree(home / "data", template)

        wal = home / "data" / "tasks.db-wal"
        largest, seconds, base = measure(home, args.claimers, lambda: watch(wal, lambda: None, args.baseline_seconds))
        print(latency_line("baseline, no archiving", seconds, base) + f", WAL up to {largest / 2**20:.1f} MiB", flush=True)

        for size in sizes:
            shutil.rmtree(home / "data")
            shutil.copytree(template, home / "data")
            command = [sys.executable, "manage.py", "archive_tasks", "--older-than", "30", "--json"]
            if size:
                command += ["--batch-size", str(size)]

            def archive(command=command):
                proc = subprocess.Popen(command, cwd=ROOT, env=env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                largest = watch(wal, proc.poll)
                out, err = proc.communicate()
                if proc.returncode:
                    sys.exit(f"archive_tasks failed: {err}")
                return json.loads(out), largest

            (summary, largest), seconds, during = measure(home, args.claimers, archive)
            with sqlite3.connect(home / "data" / "tasks.db") as conn:
                left = conn.execute("SELECT count(*) FROM tasks WHERE status IN ('completed', 'failed', 'cancelled') "
                                    "AND COALESCE(completed_at, created_at) < datetime('now', '-31 days')").fetchone()[0]
            label = f"archiving, batch {size or 'default'}"
            print(latency_line(label, seconds, during) + f", WAL up to {largest / 2**20:.1f} MiB")
            p99 = percentile(during["claims"], 99)
            print(f"    archive_tasks: {summary['archived']:,} rows in {summary['seconds']:.1f}s = {summary['rows_per_second']:,} rows/s, "
                  f"{summary['batches']:,} batches (longest held the lock {summary['longest_batch_ms']:.0f} ms), {len(summary['files'])} files, {summary['freed_bytes'] / 2**20:,.0f} MiB given back; "
                  f"{left} old finished rows left behind; p99 {p99 / percentile(base['claims'], 99):.1f}x baseline, "
                  f"goal p99 < {GOAL_P99_MS} ms {'met' if p99 < GOAL_P99_MS else 'MISSED'}", flush=True)
            if summary["archived"] != args.rows or left:
                sys.exit("archive_tasks did not move every old finished task")
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(home.parent / (home.name + "-loaded"), ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["claimer"]:
        claimer(*sys.argv[2:])
    else:
        main()
