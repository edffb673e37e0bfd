"""How this project's queue compares with the queues people would otherwise pick.

Every line does the same work on SQLite files in a temporary folder: a
producer process enqueues --tasks small tasks one by one (timed), on top of
`size - tasks` pending ones loaded in bulk (untimed); then --workers
processes claim and complete them, until the queue is empty (when nothing
was preloaded) or --tasks have been done. Each line calls the storage
operations its own workers use (see bench/peer_lines.py), not task execution.
Timings on a shared machine are noisy: read the ratios within one run.

    python bench/peers.py [--quick] [--sizes 20000,1000000] [--tasks 20000] [--workers 8]
                          [--lines adt,raw,...] [--rounds 1] [--max-seconds 900] [--profile]

The peers come from requirements-bench.txt (`make bench` installs it).
"""

import argparse
import multiprocessing as mp
import os
import queue as stdqueue
import resource
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peer_lines import LINES  # noqa: E402

BEST_DJANGO = ("q2-default", "q2-persistent", "tasksdb-default", "tasksdb-persistent")
# Lines that compare versions of ADT itself, run only when asked for with --lines.
VARIANTS = ("adt-every-commit", "adt-relay-1s", "adt-baseline")
PEER_MODULES = {"huey": "huey", "q2": "django_q", "tasksdb": "django_tasks_db"}
SETUP_SECONDS = 600  # a producer loading 1,000,000 rows, or 8 workers importing Django


# Processes ------------------------------------------------------------------


def producer(key, folder, preload, tasks, seconds, out):
    try:
        line = LINES[key](folder)
        line.open()
        line.create()
        started = time.perf_counter()
        if preload:
            line.preload(preload)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        deadline = started + seconds
        enqueued = 0
        for i in range(tasks):
            line.enqueue(i)
            enqueued += 1
            if time.perf_counter() > deadline:
                break
        out.put({"enqueued": enqueued, "enqueue_seconds": time.perf_counter() - started, "preload_seconds": loaded})
    except BaseException:
        out.put({"crash": traceback.format_exc()})


def worker(key, folder, number, quota, seconds, start, out, profile=False):
    try:
        line = LINES[key](folder)
        line.open()
        start.wait(timeout=SETUP_SECONDS)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        began = time.monotonic()
        deadline = began + seconds
        done, failed, latencies, retries, capped = [], [], [], 0, False
        while len(done) + len(failed) < quota:
            if time.monotonic() > deadline:
                capped = True
                break
            t = time.perf_counter()
            try:
                got = line.claim(number)
            except Exception as e:
                # Every peer's worker logs a failed read of its queue and tries
                # again (huey's consumer, django-q2's pusher via its sentinel);
                # here it counts as a retry.
                if "database is locked" not in str(e):
                    raise
                got = []
            took = time.perf_counter() - t
            if got is None:
                break
            if not got:
                retries += 1
                continue
            latencies.append(took)
            for task_id, handle in got:
                try:
                    line.complete(handle, number)
                    done.append(task_id)
                except Exception:
                    failed.append(task_id)
        ended = time.monotonic()
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(Path(folder) / f"worker{number}.prof"))
        out.put({
            "number": number, "done": done, "failed": failed, "latencies": latencies, "retries": retries, "capped": capped,
            "began": began, "ended": ended, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        })
    except BaseException:
        start.abort()
        out.put({"crash": traceback.format_exc()})


def census(key, folder, out):
    try:
        line = LINES[key](folder)
        line.open()
        result = {"census": line.census()}
        if hasattr(line, "events"):
            result["events"] = line.events()
        out.put(result)
    except BaseException:
        out.put({"crash": traceback.format_exc()})


def explain(key, folder, out):
    try:
        line = LINES[key](folder)
        line.open()
        out.put({"queries": line.queries()})
    except BaseException:
        out.put({"crash": traceback.format_exc()})


def run_child(ctx, target, *args, timeout):
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    try:
        result = out.get(timeout=timeout)
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    if "crash" in result:
        raise RuntimeError(f"{target.__name__} failed:\n{result['crash']}")
    return result


# One measurement -------------------------------------------------------------


def measure(ctx, key, folder, size, tasks, workers, seconds, profile=False):
    preload = max(size - tasks, 0)
    made = run_child(ctx, producer, key, folder, preload, tasks, seconds, timeout=SETUP_SECONDS + seconds)
    enqueued = made["enqueued"]
    total = preload + enqueued
    # Drain when nothing was preloaded; else take `tasks` from the deep queue.
    quotas = [total] * workers if not preload else [tasks // workers + (w < tasks % workers) for w in range(workers)]
    start, out = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(key, folder, w, quotas[w], seconds, start, out, profile and w == 0))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=SETUP_SECONDS)
    except Exception:
        pass  # a worker crashed before starting: its report says why
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=seconds + SETUP_SECONDS))
    except stdqueue.Empty:
        raise RuntimeError(f"{key}: a worker did not report within {seconds + SETUP_SECONDS}s") from None
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    crashes = [r["crash"] for r in results if "crash" in r]
    if crashes:
        raise RuntimeError(f"{key}: worker failed:\n{crashes[0]}")
    counted = run_child(ctx, census, key, folder, timeout=SETUP_SECONDS)

    done = [i for r in results for i in r["done"]]
    failed = [i for r in results for i in r["failed"]]
    latencies = sorted(t for r in results for t in r["latencies"])
    wall = max(r["ended"] for r in results) - min(r["began"] for r in results)
    completed = set(done)
    waiting, finished = counted["census"]
    # Lost: enqueued, yet neither completed by a worker nor still waiting;
    # and, where the peer keeps history, any disagreement with its own record.
    lost = max(total - len(completed) - waiting, 0)
    if finished is not None:
        lost += abs(finished - len(completed))
    row = {
        "key": key,
        "size": size,
        "enqueue_rate": enqueued / made["enqueue_seconds"],
        "enqueue_capped": enqueued < tasks,
        "rate": len(done) / wall if wall else 0.0,
        "done": len(done),
        "p50": quantile(latencies, 0.50),
        "p99": quantile(latencies, 0.99),
        "retries": sum(r["retries"] for r in results) / max(len(done), 1),
        "duplicates": len(done) + len(failed) - len(completed | set(failed)),
        "lost": lost,
        "capped": any(r["capped"] for r in results),
        "maxrss_mb": max(r["maxrss_kb"] for r in results) / 1024,
        "preload_seconds": made["preload_seconds"],
        "worker0_done": sum(len(r["done"]) for r in results if r["number"] == 0),
    }
    if "events" in counted:
        relayed, waiting_events = counted["events"]
        # task.created for each enqueue (preloaded rows have none), then claimed and completed.
        row["events_ok"] = relayed == enqueued + 2 * len(done) and waiting_events == 0
    return row


def median_row(rows):
    """The round with the median claim+complete rate; its duplicates and losses are the worst of all rounds."""
    row = dict(sorted(rows, key=lambda r: r["rate"])[len(rows) // 2])
    row["duplicates"] = max(r["duplicates"] for r in rows)
    row["lost"] = max(r["lost"] for r in rows)
    if "events_ok" in row:
        row["events_ok"] = all(r["events_ok"] for r in rows)
    return row


def quantile(values, q):
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


# Report ------------------------------------------------------------------------


def print_table(rows, size, workers):
    ours = next((r for r in rows if r["key"] == "adt"), None)
    print(f"\n{size:,} pending, {workers} workers")
    header = (
        f"{'line':<36} {'enqueue/s':>9} {'claim+complete/s':>16} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'retry/task':>10} {'dup':>4} {'lost':>5} {'peak MB':>7} {'ADT x':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        label = LINES[r["key"]].label
        rate = f"{r['rate']:.0f}" + ("*" if r["capped"] else "")
        ratio = f"{ours['rate'] / r['rate']:.2f}" if ours and r["rate"] else "-"
        print(
            f"{label:<36} {r['enqueue_rate']:>9.0f} {rate:>16} {r['p50'] * 1000:>7.2f} {r['p99'] * 1000:>7.2f} "
            f"{r['retries']:>10.2f} {r['duplicates']:>4} {r['lost']:>5} {r['maxrss_mb']:>7.0f} {ratio:>6}"
        )
    if any(r["capped"] for r in rows):
        print("* stopped at --max-seconds before the work was done: the rate is over the tasks it did")


def check_goal(size, rows, name, others, factor):
    present = [rows[k] for k in others if k in rows and rows[k]["rate"]]
    if not present:
        return
    best = max(present, key=lambda r: r["rate"])
    ratio = rows["adt"]["rate"] / best["rate"]
    verdict = "met" if ratio >= factor else "NOT met"
    print(f"  {size:>9,}: ADT / {name} ({LINES[best['key']].label}) = {ratio:.2f}x, goal {factor}x: {verdict}")


def print_goals(by_size, sizes):
    print("\nGoals (claim+complete/s, same run):")
    for size in sizes:
        rows = {r["key"]: r for r in by_size.get(size, [])}
        ours = rows.get("adt")
        if not ours:
            continue
        check_goal(size, rows, "best Django peer", BEST_DJANGO, 3)
        check_goal(size, rows, "huey NORMAL", ["huey-normal"], 0.5)
        check_goal(size, rows, "raw sqlite3", ["raw"], 0.5)
        schema, raw = rows.get("raw-adt-schema"), rows.get("raw")
        if schema and raw and schema["rate"] and raw["rate"]:
            print(
                f"  {size:>9,}: of the distance to raw sqlite3, the schema (its SQL on ADT's tables) runs at "
                f"{schema['rate'] / raw['rate']:.2f}x raw, and tasks.queue on it at {ours['rate'] / schema['rate']:.2f}x that"
            )
        bad = [r for r in rows.values() if r["duplicates"] or r["lost"]]
        print(f"  {size:>9,}: duplicates or losses: {', '.join(r['key'] for r in bad) or 'none'}")
        if "events_ok" in ours:
            print(f"  {size:>9,}: ADT wrote and relayed one event per change: {'yes' if ours['events_ok'] else 'NO'}")
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        keys = [r["key"] for r in by_size.get(small, [])]
        print(f"\nFlat: claim+complete/s at {large:,} pending / at {small:,} (goal for ADT: >= 0.8x)")
        for key in keys:
            a = next((r for r in by_size.get(small, []) if r["key"] == key), None)
            b = next((r for r in by_size.get(large, []) if r["key"] == key), None)
            if a and b and a["rate"]:
                print(f"  {LINES[key].label:<36} {b['rate'] / a['rate']:.2f}x")


def print_profile(folder, workers, done):
    import pstats

    path = Path(folder) / "worker0.prof"
    stats = pstats.Stats(str(path))
    print(f"\nProfile of one ADT worker of {workers} ({done} claim+complete), by cumulative time:")
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(15)


def print_queries(queries):
    print("\nSQL per operation (COMMIT is not captured; BEGIN starts a transaction, a write outside one is its own):")
    for operation, by_alias in queries.items():
        total = sum(len(q) for q in by_alias.values())
        begins = sum(1 for q in by_alias.values() for sql in q if sql.startswith("BEGIN"))
        print(f"  {operation}: {total} statements, {begins} BEGIN")
        for alias, statements in by_alias.items():
            for sql in statements:
                print(f"    {alias:<8} {sql[:110]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--sizes", default="20000,1000000", help="queue depths when the workers start")
    parser.add_argument("--tasks", type=int, default=20000, help="tasks enqueued (timed) and then done")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--lines", default=",".join(k for k in LINES if k not in VARIANTS),
                        help=f"any of {','.join(LINES)} (adt-baseline runs the checkout at $BENCH_BASELINE)")
    parser.add_argument("--rounds", type=int, default=1, help="run every line this many times, taking turns; report the median")
    parser.add_argument("--max-seconds", type=int, default=900, help="cap on each timed phase of one line")
    parser.add_argument("--profile", action="store_true", help="profile one ADT worker (cProfile) and stop")
    args, _ = parser.parse_known_args()  # make bench passes every benchmark the same arguments
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        sys.exit(f"error: --sizes must be numbers separated by commas, not {args.sizes!r}")
    tasks = args.tasks
    if args.quick:
        sizes, tasks = [2000, 50000], 2000
    keys = [k for k in args.lines.split(",") if k]
    unknown = [k for k in keys if k not in LINES]
    if unknown or args.workers < 1 or tasks < 1 or args.rounds < 1 or any(s < 1 for s in sizes):
        sys.exit(f"error: unknown line(s) {unknown}" if unknown else "error: sizes, --tasks, --workers and --rounds must be positive")
    if "adt-baseline" in keys and not os.environ.get("BENCH_BASELINE"):
        sys.exit("error: the adt-baseline line needs BENCH_BASELINE=<path of another checkout>")
    needed = {module for prefix, module in PEER_MODULES.items() for k in keys if k.startswith(prefix)}
    missing = [name for name in sorted(needed) if not has_module(name)]
    if missing and not args.profile:
        sys.exit(f"error: {', '.join(missing)} not installed: pip install -r requirements-bench.txt")

    ctx = mp.get_context("spawn")
    base = Path(tempfile.mkdtemp(prefix="adt-bench-peers-"))
    try:
        if args.profile:
            for workers in sorted({1, args.workers}):
                folder = base / f"profile-{workers}"
                folder.mkdir()
                row = measure(ctx, "adt", folder, tasks, tasks, workers, args.max_seconds, profile=True)
                print_table([row], tasks, workers)
                print_profile(folder, workers, row["worker0_done"])
            print_queries(run_child(ctx, explain, "adt", folder, timeout=SETUP_SECONDS)["queries"])
            return
        by_size = {}
        for size in sizes:
            runs = {key: [] for key in keys}
            for round_ in range(args.rounds):
                # The lines take turns, each round starting one further on:
                # a shared machine drifts, and no line always runs first.
                for key in keys[round_ % len(keys):] + keys[: round_ % len(keys)]:
                    folder = base / f"{key}-{size}-{round_}"
                    folder.mkdir()
                    row = measure(ctx, key, folder, size, min(tasks, size), args.workers, args.max_seconds)
                    runs[key].append(row)
                    print(
                        f"  {key:<20} {size:>9,} pending: enqueue {row['enqueue_rate']:7.0f}/s, "
                        f"claim+complete {row['rate']:7.0f}/s (preload {row['preload_seconds']:.0f}s)",
                        flush=True,
                    )
                    shutil.rmtree(folder, ignore_errors=True)
            by_size[size] = [median_row(runs[key]) for key in keys]
        print(f"\nCommand: python bench/peers.py {' '.join(sys.argv[1:])}".rstrip())
        for size in sizes:
            print_table(by_size[size], size, args.workers)
        print_goals(by_size, sizes)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def has_module(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    main()
