"""`make bench BENCH=events_store`: the events' history read from ClickHouse and from logs.db, side by side.

Fills logs.db of a temporary ADT_HOME with --events events over 60 days
(bench/fill.py's raw bulk load), ships them all to ClickHouse with
`manage.py ship_events` (the ship rate is printed), then in a separate
process, once ClickHouse's background merges have finished, times each
read both ways, with ADT_CLICKHOUSE_URL set and unset, and prints the
median of --repeat runs (after one that warms the caches):

- the events page's search: type + project over the last 7 days (the whole request);
- counts of events by type, over every event and over a project's last 7 days;
- the dashboard's 24 h chart (tasks finished per hour, from their events).

ClickHouse is the one at --clickhouse, or else a private clickhouse-server
started in the temporary folder (tests/clickhouse_server.py), never the
machine's service.

    python bench/events_store.py                    # 10,000,000 events (several minutes)
    python bench/events_store.py --events 200000    # a quick run
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROJECT = "project-03"
TYPE = "task.completed"


def environment(home, clickhouse_url=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADT_", "DJANGO_"))}
    env.update(
        ADT_HOME=str(home), ADT_STATIC_ROOT=str(Path(home).parent / "static"), DJANGO_SETTINGS_MODULE="adt_admin.settings",
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    if clickhouse_url:
        env["ADT_CLICKHOUSE_URL"] = clickhouse_url
    return env


def fill(home, n_events):
    """A migrated ADT_HOME whose logs.db holds `n_events` events of 20 projects."""
    import random

    from bench import fill

    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=environment(home), check=True)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=environment(home), check=True)
    names = fill.projects(home, 20)
    rnd = random.Random(4)
    task_ids = [f"{rnd.getrandbits(64):016x}" for _ in range(max(n_events // 10, 1))]
    began = time.monotonic()
    fill.events(home, n_events, names, task_ids)
    print(f"  {n_events:,} events into logs.db in {time.monotonic() - began:.0f} s", flush=True)


def ship(home, url):
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "ship_events", "--batch-size", "100000", "--json"],
        cwd=ROOT, env=environment(home, url), capture_output=True, text=True,
    )
    if result.returncode:
        sys.exit(f"ship_events failed:\n{result.stderr}")
    summary = json.loads(result.stdout)
    wall = time.monotonic() - began
    print(f"  shipped {summary['shipped']:,} events in {summary['batches']} batches of 100,000 in {wall:.1f} s "
          f"({summary['shipped'] / wall:,.0f} events/s, the process's start included)", flush=True)
    return summary, wall


def settle(url, timeout=900):
    """Wait for ClickHouse's background merges of the shipped parts to finish:
    the reads are measured in the steady state, not competing with merges for the cores."""
    from clickhouse_driver import Client

    database = url.rsplit("/", 1)[1]
    client = Client.from_url(url.rsplit("/", 1)[0] + "/default")
    began, quiet = time.monotonic(), 0
    while quiet < 3 and time.monotonic() - began < timeout:
        busy = client.execute("SELECT count() FROM system.merges WHERE database = %(d)s", {"d": database})[0][0]
        quiet = 0 if busy else quiet + 1
        time.sleep(1)
    parts = client.execute("SELECT count() FROM system.parts WHERE database = %(d)s AND active", {"d": database})[0][0]
    client.disconnect()
    print(f"  merges settled after {time.monotonic() - began:.0f} s: {parts} active parts", flush=True)


def measure(repeat):
    """In the child process: every read with ClickHouse and with logs.db alone; prints JSON."""
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.test import Client, override_settings
    from django.utils import timezone

    from events import history

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", password="bench")
    client = Client(headers={"X-Forwarded-Proto": "https", "Host": "testserver"})
    client.force_login(user)
    url = os.environ["ADT_CLICKHOUSE_URL"]

    def page():
        response = client.get(f"/events/?type={TYPE}&project={PROJECT}&days=7")
        assert response.status_code == 200, response.status_code
        assert b"message warning" not in response.content, "ClickHouse fell back to logs.db"

    def week():
        return timezone.now() - timedelta(days=7)

    reads = [
        ("events page: type+project, 7 days", page),
        ("search alone: type+project, 7 days", lambda: history.search({"type": TYPE, "project": PROJECT}, week())),
        ("counts by type, every event", lambda: history.counts_by_type({})),
        ("counts by type, project, 7 days", lambda: history.counts_by_type({"project": PROJECT}, week())),
        ("24 h chart", None),
    ]
    out = {}
    for label, read in reads:
        out[label] = {}
        for store in ("clickhouse", "logs.db"):
            if read is None:  # the chart: ClickHouse, or the same events counted in logs.db
                def read_now(store=store):
                    return history.finished_per_hour(timezone.now(), store=None if store == "clickhouse" else "logs")
            else:
                read_now = read
            with override_settings(ADT_CLICKHOUSE_URL=url if store == "clickhouse" else None):
                times = []
                for i in range(repeat + 1):
                    began = time.perf_counter()
                    result = read_now()
                    elapsed = (time.perf_counter() - began) * 1000
                    if store == "clickhouse" and getattr(result, "store", "clickhouse") != "clickhouse":
                        raise SystemExit(f"{label}: read {result.store}, not ClickHouse: {result.notice}")
                    if i:
                        times.append(elapsed)
            out[label][store] = statistics.median(times)
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7, help="runs per read (the median is printed)")
    parser.add_argument("--clickhouse", help="clickhouse://host:9000/db of a server to use (its database is dropped after)")
    parser.add_argument("--keep", type=Path, help="work under this directory and keep it")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.repeat)
    if args.events < 1000:
        sys.exit("error: --events must be at least 1000")

    base = args.keep or Path(tempfile.mkdtemp(prefix="adt-bench-events-store-"))
    base.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        url = args.clickhouse
        if not url:
            from tests.clickhouse_server import ClickHouse, find_binary, new_database

            binary = find_binary()
            if not binary:
                sys.exit("error: no clickhouse-server on this machine (apt-get install clickhouse-server), and no --clickhouse URL")
            server = ClickHouse(binary, base / "clickhouse")
            url = server.url(new_database())
        home = base / "home"
        print(f"\n{args.events:,} events:", flush=True)
        fill(home, args.events)
        summary, wall = ship(home, url)
        settle(url)
        result = subprocess.run(
            [sys.executable, __file__, "--measure", "--repeat", str(args.repeat)],
            cwd=ROOT, env=environment(home, url), capture_output=True, text=True,
        )
        if result.returncode:
            sys.exit(f"measuring failed:\n{result.stderr[-3000:]}")
        times = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        if server:
            server.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print(f"\n{args.events:,} events; ship_events: {summary['shipped'] / wall:,.0f} events/s. "
          f"Median of {args.repeat} runs (ms):")
    print(f"{'read':38} {'ClickHouse':>11} {'logs.db':>9} {'ratio':>7}")
    for label, by in times.items():
        ch, logs = by["clickhouse"], by["logs.db"]
        print(f"{label:38} {ch:11.1f} {logs:9.1f} {logs / ch:6.1f}x")


if __name__ == "__main__":
    main()
