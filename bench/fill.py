"""Fill a migrated ADT_HOME with many projects, tasks, events and runs, fast.

Raw sqlite3 executemany into the files `manage.py migrate` made. Each
table's indexes are dropped first and rebuilt after with exactly the SQL the
migrations wrote (one sorted build is several times faster than keeping them
up to date row by row). Used by bench/pages.py; never by the test suite.

The data looks like a queue that has run for DAYS days: most tasks finished,
a few percent pending, about ten events per task.
"""

import json
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta

PRIORITIES = ["urgent", "high", "normal", "low"]
PRIORITY_WEIGHTS = [5, 20, 60, 15]
STATUSES = ["completed", "failed", "cancelled", "pending", "in_progress"]
STATUS_WEIGHTS = [90, 4, 3, 2.9, 0.1]
EVENT_TYPES = [
    "task.created", "task.claimed", "task.completed", "task.failed", "task.retried", "task.cancelled",
    "task.requeued", "task.reprioritized", "agent.started", "agent.stopped", "agent.error", "agent.stale",
]
EVENT_TYPE_WEIGHTS = [25, 25, 22, 1, 2, 1, 1, 1, 10, 10, 1, 1]
LEVELS = ["info", "warn", "error"]
LEVEL_WEIGHTS = [94, 5, 1]
WORDS = (
    "fix refactor flaky test parser cache login billing export import search index migration docs api "
    "timeout retry queue worker upgrade dependency crash report memory leak"
).split()
DAYS = 60
CHUNK = 100_000


def stamp(dt):
    """Django's SQLite text form of an aware UTC datetime."""
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def stamps(start, step, count):
    """`count` timestamps from `start`, `step` seconds apart, formatted fast."""
    base = start.timestamp()
    last, prefix = None, ""
    for i in range(count):
        t = base + i * step
        second = int(t)
        if second != last:
            prefix, last = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second)), second
        yield f"{prefix}.{int((t - second) * 1e6):06d}"


def _bulk(path, table, columns, rows):
    """Insert `rows` into `table` with its indexes dropped, then rebuild them."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL", (table,)
    ).fetchall()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    marks = ", ".join("?" * len(columns))
    conn.executemany(f'INSERT INTO {table} ({", ".join(columns)}) VALUES ({marks})', rows)
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def projects(home, count):
    names = [f"project-{i:02d}" for i in range(count)]
    now = datetime.now(UTC)
    conn = sqlite3.connect(home / "data" / "main.db")
    with conn:
        conn.executemany(
            "INSERT INTO projects (name, path, created_at) VALUES (?, ?, ?)", [(n, f"/srv/{n}", stamp(now)) for n in names]
        )
        conn.executemany(
            "INSERT INTO agents (project, provider, status, last_heartbeat) VALUES (?, 'cursor', ?, ?)",
            [(n, "working" if i % 3 else "idle", stamp(now - timedelta(seconds=i * 7))) for i, n in enumerate(names)],
        )
    conn.close()
    return names


def tasks(home, count, names, seed=1):
    """`count` tasks created over the last DAYS days, oldest first; returns their ids."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    step = (now - start).total_seconds() / max(count, 1)
    ids = [f"{rnd.getrandbits(64):016x}" for _ in range(count)]

    def rows():
        created_at = stamps(start, step, count)
        for i, (task_id, status, priority) in enumerate(
            zip(ids, rnd.choices(STATUSES, STATUS_WEIGHTS, k=count), rnd.choices(PRIORITIES, PRIORITY_WEIGHTS, k=count), strict=True)
        ):
            created = next(created_at)
            project = names[i % len(names)]
            started = completed = agent = None
            if status != "pending":
                begun = start + timedelta(seconds=step * i + rnd.randint(1, 600))
                started, agent = stamp(begun), project
                if status != "in_progress":
                    completed = stamp(min(begun + timedelta(seconds=rnd.randint(10, 3600)), now))
            yield (
                task_id, project, " ".join(rnd.choices(WORDS, k=5)) + f" #{i}", priority, status, agent, created,
                started, completed, "ok" if status == "completed" else None, "boom" if status == "failed" else None, 0,
                None,
            )

    _bulk(home / "data" / "tasks.db", "tasks",
          ["id", "project", "description", "priority", "status", "assigned_to", "created_at", "started_at",
           "completed_at", "result", "error", "retry_count", "metadata"], rows())
    return ids


def events(home, count, names, task_ids, seed=2):
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    datas = [json.dumps({"status": s}) for s in STATUSES]

    def rows():
        timestamps = stamps(start, (now - start).total_seconds() / max(count, 1), count)
        for offset in range(0, count, CHUNK):
            n = min(CHUNK, count - offset)
            projects = [names[(offset + i) % len(names)] for i in range(n)]
            yield from zip(
                (next(timestamps) for _ in range(n)),
                rnd.choices(EVENT_TYPES, EVENT_TYPE_WEIGHTS, k=n),
                projects,
                projects,
                rnd.choices(task_ids, k=n),
                rnd.choices(datas, k=n),
                rnd.choices(LEVELS, LEVEL_WEIGHTS, k=n),
                strict=True,
            )

    _bulk(home / "data" / "logs.db", "events", ["timestamp", "type", "project", "agent", "task_id", "data", "level"],
          rows())


def runs(home, count, names, task_ids, seed=3):
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    step = (now - start).total_seconds() / max(count, 1)

    def rows():
        for i, started in enumerate(stamps(start, step, count)):
            ended = stamp(start + timedelta(seconds=step * i + 300))
            yield (names[i % len(names)], "cursor", rnd.choice(task_ids), started, ended, 0, "completed")

    _bulk(home / "data" / "logs.db", "agent_runs",
          ["project", "provider", "task", "started_at", "ended_at", "exit_code", "status"], rows())


def fill(home, n_tasks, n_events, n_projects=20, n_runs=None, say=print):
    began = time.monotonic()
    names = projects(home, n_projects)
    ids = tasks(home, n_tasks, names) or ["0" * 16]
    say(f"  {n_tasks:,} tasks in {time.monotonic() - began:.0f} s")
    events(home, n_events, names, ids)
    say(f"  {n_events:,} events in {time.monotonic() - began:.0f} s")
    runs(home, n_runs if n_runs is not None else max(n_tasks // 10, 1), names, ids)
    say(f"  runs in {time.monotonic() - began:.0f} s")
    return ids
