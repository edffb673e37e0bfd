"""Wake-ups: enqueue-commit-to-claim latency and the idle cost of waiting agents, with Redis and without, in one run.

Latency: two agents wait in their own processes (agents.lifecycle.claim_waiting,
wait=30, their own project as the API's claim does), one with ADT_REDIS_URL
and one without. This process enqueues for each in turn, after a random
0.2-1.5 s pause, so an enqueue lands at any point of the poll cycle; the
latency is the agent's time.time() when claim_waiting returns minus ours
when tasks.db's COMMIT inside tasks.queue.add returned (add itself returns
later, after its on-commit hooks: the publish, the event's copy to logs.db).

Idle cost: --idle-agents agents per mode wait with no task at all for
--idle-seconds, both fleets at once. Each counts, through an execute_wrapper
on every database alias, the statements it ran (and the writes among them),
its claims and its reaper sweeps, and prints one JSON line at the end.

    python bench/wakeup.py [--rounds 50] [--idle-agents 8] [--idle-seconds 30] [--redis URL] [--quick]
    python bench/wakeup.py --agent NAME --mode latency|idle [--seconds S]   (the waiting agent, run by the above)
"""

import argparse
import json
import math
import os
import queue as queues
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.claim import setup_ours  # noqa: E402

GOALS = {"p50_ms": 25, "p99_ms": 100}
MODES = ("redis", "polling")
WRITES = ("UPDATE", "INSERT", "DELETE", "BEGIN", "REPLACE")
# Statements less than this far apart are one look at the database.
LOOK_GAP = 0.1


# The waiting agent ---------------------------------------------------------


def agent_main(args):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adt_admin.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from agents import lifecycle
    from storage import hub
    from tasks import queue

    counts = {"statements": {}, "writes": {}, "transactions": {}}
    stamps = []  # monotonic time of every statement

    def counter(alias):
        def count(execute, sql, params, many, context):
            verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
            counts["statements"][alias] = counts["statements"].get(alias, 0) + 1
            if verb in WRITES:
                counts["writes"][alias] = counts["writes"].get(alias, 0) + 1
            # A transaction: an explicit BEGIN, or a write on its own (autocommit).
            if verb == "BEGIN" or (verb in WRITES and not context["connection"].in_atomic_block):
                counts["transactions"][alias] = counts["transactions"].get(alias, 0) + 1
            stamps.append(time.monotonic())
            return execute(sql, params, many, context)

        return count

    # Installed for the process's life (execute_wrapper() is a with-block);
    # with a wrapper, storage.statements.fetch_one goes through Django's cursor too.
    if args.mode == "idle":  # the latency line keeps the plain driver call of the claim
        for alias in settings.DATABASES:
            connections[alias].execute_wrappers.append(counter(alias))

    calls = {"claims": 0, "sweeps": 0}
    claim, sweep = lifecycle.claim, lifecycle.sweep

    def counted_claim(*a, **kw):
        calls["claims"] += 1
        return claim(*a, **kw)

    def counted_sweep(*a, **kw):
        calls["sweeps"] += 1
        return sweep(*a, **kw)

    lifecycle.claim, lifecycle.sweep = counted_claim, counted_sweep  # claim_waiting looks both up at call time

    # What came before each look: a claim_waiting call starting, or a Redis wait ending
    # (ran its full time with no message: a safety-net poll, or the call's deadline).
    marks = []  # (monotonic, kind)
    wakes = []  # time.time() when a wait returned with a message
    wait = hub.Listener.wait

    def timed_wait(self, seconds):
        asked = time.monotonic()
        messages = wait(self, seconds)
        timed_out = not messages and time.monotonic() - asked >= seconds - 0.01
        marks.append((time.monotonic(), "timeout" if timed_out else "woken"))
        wakes.append(time.time() if messages else None)
        return messages

    hub.Listener.wait = timed_wait

    def waiting(wait):
        marks.append((time.monotonic(), "call"))
        wakes.clear()  # a hint belongs to the call that heard it
        return lifecycle.claim_waiting(args.agent, args.agent, wait=wait)

    print("ready", flush=True)
    started = time.monotonic()
    if args.mode == "latency":
        while True:
            task = waiting(30)
            at = time.time()
            if task is not None:
                woke = wakes[-1] if wakes else None  # when the Redis wait returned with the hint
                print(json.dumps({"task": task.id, "at": at, "woke": woke}), flush=True)
                queue.complete(task.id, args.agent, lease=task.started_at)
    while (left := args.seconds - (time.monotonic() - started)) > 0:
        waiting(min(30, left))
    seconds = time.monotonic() - started
    looks = looks_of(stamps)
    gaps = [b[0] - a[1] for a, b in zip(looks, looks[1:], strict=False)]
    after = [max((m for m in marks if m[0] <= first), default=(0, "call"))[1] for first, _, _ in looks]
    # Looks between safety-net polls: neither a call's opening nor after a wait that ran out.
    extra = [i for i, kind in enumerate(after) if kind not in ("call", "timeout")]
    print(json.dumps({
        "agent": args.agent, "seconds": seconds, **calls, **counts,
        "looks": len(looks), "median_gap": statistics.median(gaps) if gaps else None,
        "min_gap": min(gaps) if gaps else None,
        "safety_polls": sum(kind == "timeout" for _, kind in marks), "waits": sum(kind != "call" for _, kind in marks),
        "extra_looks": len(extra), "extra_statements": sum(looks[i][2] for i in extra),
        "timeline": [(round(a - started, 3), round(b - a, 3), k, kind) for (a, b, k), kind in zip(looks, after, strict=True)],
    }), flush=True)


def looks_of(stamps):
    """Group statement times into looks: (first, last, statements)."""
    looks = []
    for t in stamps:
        if looks and t - looks[-1][1] < LOOK_GAP:
            looks[-1] = (looks[-1][0], t, looks[-1][2] + 1)
        else:
            looks.append((t, t, 1))
    return looks


# The bench -----------------------------------------------------------------


def env_for(home, mode, redis_url, prefix):
    env = {**os.environ, "ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings", "PYTHONUNBUFFERED": "1"}
    env.pop("ADT_REDIS_URL", None)
    if mode == "redis":
        env |= {"ADT_REDIS_URL": redis_url, "ADT_REDIS_PREFIX": prefix}
    return env


class Agent:
    """A waiting agent's process, its stdout read line by line by a thread."""

    def __init__(self, name, mode, env, kind, seconds=0):
        self.name, self.mode = name, mode
        self.lines = queues.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--agent", name, "--mode", kind, "--seconds", str(seconds)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self, timeout):
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise SystemExit(f"agent {self.name} ({self.mode}) exited with {self.proc.wait()}")
        return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def measure_latency(home, names, redis_url, prefix, rounds):
    from django.conf import settings
    from django.db import connections

    from tasks import queue

    # The instant tasks.db's COMMIT returns: add() returns later, after its
    # on-commit hooks (the publish, the copy of its event to logs.db).
    commits = []
    tasks_db = connections["tasks"]
    commit = tasks_db._commit

    def timed_commit():
        done = commit()
        commits.append(time.time())
        return done

    tasks_db._commit = timed_commit
    agents = {mode: Agent(names[mode], mode, env_for(home, mode, redis_url, prefix), "latency") for mode in MODES}
    try:
        for agent in agents.values():
            if agent.next_line(120) != "ready":
                raise SystemExit(f"agent {agent.name}: no ready line")
        time.sleep(1.0)  # both in claim_waiting
        latencies = {mode: [] for mode in MODES}
        after_commit = {mode: [] for mode in MODES}  # add() returning after its commit
        hints = []  # redis: from the commit to the agent's wait returning with the hint
        rng = random.Random(23)
        for i in range(rounds):
            order = list(MODES)
            rng.shuffle(order)  # neither mode always goes first
            for mode in order:
                agent = agents[mode]
                time.sleep(rng.uniform(0.2, 1.5))
                # Only the Redis line's enqueue publishes (hub reads the setting on each call).
                settings.ADT_REDIS_URL = redis_url if mode == "redis" else None
                commits.clear()
                task, _ = queue.add(agent.name, f"wake-up {mode} {i}")
                returned = time.time()
                enqueued = commits[-1]
                after_commit[mode].append(returned - enqueued)
                while True:
                    claimed = json.loads(agent.next_line(60))
                    if claimed["task"] == task.id:
                        break
                latencies[mode].append(claimed["at"] - enqueued)
                if mode == "redis":
                    hints.append(None if claimed["woke"] is None else claimed["woke"] - enqueued)
            if (i + 1) % 10 == 0:
                print(f"  {i + 1}/{rounds} rounds: p50 redis {statistics.median(latencies['redis']) * 1000:.1f} ms, "
                      f"polling {statistics.median(latencies['polling']) * 1000:.1f} ms", flush=True)
        for mode in MODES:
            print(f"  {mode}: add() returned {ms(statistics.median(after_commit[mode]))} ms after its commit (median)")
        return latencies, hints
    finally:
        for agent in agents.values():
            agent.stop()


def measure_idle(home, names, redis_url, prefix, seconds):
    fleet = [Agent(name, mode, env_for(home, mode, redis_url, prefix), "idle", seconds)
             for mode in MODES for name in names[mode]]
    try:
        results = {mode: [] for mode in MODES}
        for agent in fleet:
            lines = [agent.next_line(seconds + 180) for _ in range(2)]
            results[agent.mode].append(json.loads(lines[1]))
        return results
    finally:
        for agent in fleet:
            agent.stop()


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def latency_table(latencies, hints, rounds):
    print(f"\nEnqueue's commit to claim_waiting returning, {rounds} enqueues per mode, taking turns (ms):\n")
    print("| mode | enqueues | p50 | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode in MODES:
        values = latencies[mode]
        print(f"| {mode} | {len(values)} | {ms(percentile(values, 0.5))} | {ms(percentile(values, 0.9))} | "
              f"{ms(percentile(values, 0.99))} | {ms(max(values))} |")
    ratio = {p: percentile(latencies["polling"], p) / max(percentile(latencies["redis"], p), 1e-6) for p in (0.5, 0.99)}
    print(f"| polling / redis | | {ratio[0.5]:.0f}x | | {ratio[0.99]:.0f}x | |")
    heard = [h for h in hints if h is not None]
    if heard:
        rest = [t - h for t, h in zip(latencies["redis"], hints, strict=True) if h is not None]
        print(f"| redis: commit to hint heard | {len(heard)} | {ms(percentile(heard, 0.5))} | {ms(percentile(heard, 0.9))} | "
              f"{ms(percentile(heard, 0.99))} | {ms(max(heard))} |")
        print(f"| redis: hint heard to claimed | {len(rest)} | {ms(percentile(rest, 0.5))} | {ms(percentile(rest, 0.9))} | "
              f"{ms(percentile(rest, 0.99))} | {ms(max(rest))} |")
    p50, p99 = percentile(latencies["redis"], 0.5) * 1000, percentile(latencies["redis"], 0.99) * 1000
    print(f"\ngoals (redis): p50 < {GOALS['p50_ms']} ms: {p50:.1f} ms, {'met' if p50 < GOALS['p50_ms'] else 'NOT met'}; "
          f"p99 < {GOALS['p99_ms']} ms: {p99:.1f} ms, {'met' if p99 < GOALS['p99_ms'] else 'NOT met'}")


def idle_table(idle, seconds, safety, sweep_interval):
    aliases = sorted({a for rows in idle.values() for r in rows for a in r["statements"]})

    def per_min(rows, value):
        return sum(value(r) for r in rows) / sum(r["seconds"] for r in rows) * 60

    n = len(next(iter(idle.values())))
    print(f"\n{n} idle agents per mode waiting {seconds:g} s with no task, both fleets at once "
          f"(safety-net poll {safety:g} s, sweep interval {sweep_interval:g} s); per agent per minute:\n")
    print("| mode | claims | looks | statements | writes | write transactions | "
          + " | ".join(f"on {a}" for a in aliases)
          + " | median s between looks | looks between safety-net polls, all agents (statements) | sweeps, all agents, whole run |")
    print("|---|" + "---:|" * (8 + len(aliases)))
    for mode in MODES:
        rows = idle[mode]
        cells = [
            per_min(rows, lambda r: r["claims"]),
            per_min(rows, lambda r: r["looks"]),
            per_min(rows, lambda r: sum(r["statements"].values())),
            per_min(rows, lambda r: sum(r["writes"].values())),
            per_min(rows, lambda r: sum(r["transactions"].values())),
            *(per_min(rows, lambda r, a=a: r["statements"].get(a, 0)) for a in aliases),
        ]
        gaps = [r["median_gap"] for r in rows if r["median_gap"] is not None]
        extra = (f"{sum(r['extra_looks'] for r in rows)} ({sum(r['extra_statements'] for r in rows)})"
                 if mode == "redis" else "no safety-net poll")
        print(f"| {mode} | " + " | ".join(f"{c:.1f}" for c in cells)
              + f" | {statistics.median(gaps):.2f} | {extra} | {sum(r['sweeps'] for r in rows)} |")
    redis = idle["redis"]
    extra = sum(r["extra_statements"] for r in redis)
    polls = sum(r["safety_polls"] for r in redis)
    print(f"\ngoal (redis): no database statement between safety-net polls ({polls} polls): "
          f"{extra} statements, {'met' if extra == 0 else 'NOT met'}")


def cleanup_redis(redis_url, prefix):
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="enqueues per mode")
    parser.add_argument("--idle-agents", type=int, default=8, help="idle waiting agents per mode")
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--redis", default=os.environ.get("ADT_REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true", help="10 rounds, 2 idle agents for 12 s")
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["latency", "idle"], help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.agent:
        return agent_main(args)
    if args.quick:
        args.rounds, args.idle_agents, args.idle_seconds = 10, 2, 12

    prefix = f"bench-wakeup-{os.getpid()}:"
    folder = Path(tempfile.mkdtemp(prefix="adt-bench-wakeup-"))
    started = time.monotonic()
    try:
        count = 2 + 2 * args.idle_agents
        home = setup_ours(folder, [count])  # registers agent0 … agent{count-1}
        names = {"redis": "agent0", "polling": "agent1"}
        idle_names = {mode: [f"agent{2 + m * args.idle_agents + i}" for i in range(args.idle_agents)]
                      for m, mode in enumerate(MODES)}
        os.environ.update(env_for(home, "redis", args.redis, prefix))
        import django

        django.setup()
        from django.conf import settings

        from storage import hub

        try:
            hub.client().ping()
        except Exception as e:  # noqa: BLE001 - any failure: no Redis line to measure
            raise SystemExit(f"Redis at {args.redis} does not answer ({e})") from None
        print(f"latency: {args.rounds} enqueues per mode, taking turns", flush=True)
        latencies, hints = measure_latency(home, names, args.redis, prefix, args.rounds)
        print(f"idle: {args.idle_agents} agents per mode for {args.idle_seconds:g} s", flush=True)
        idle = measure_idle(home, idle_names, args.redis, prefix, args.idle_seconds)
        latency_table(latencies, hints, args.rounds)
        idle_table(idle, args.idle_seconds, settings.ADT_REDIS_SAFETY_POLL, settings.ADT_SWEEP_INTERVAL)
        print(f"\n(bench took {time.monotonic() - started:.0f} s)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            cleanup_redis(args.redis, prefix)
        except Exception as e:  # noqa: BLE001 - Redis gone: nothing left to delete there
            print(f"could not delete the {prefix}* keys: {e}")


if __name__ == "__main__":
    main()
