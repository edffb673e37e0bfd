"""ClickHouse, the long-term copy of the events: ship_events exactly once, and the pages that read it.

Against a real clickhouse-server the tests start themselves (the
clickhouse_server fixture), a database of its own per test. Rows in
ClickHouse are checked with a client of the test's own.
"""

import json
import random
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.clickhouse_server import execute
from tests.support import ADT

TYPES = ["task.created", "task.claimed", "task.completed", "task.failed", "agent.started"]


def add_events(adt, count, *, start=None, step_seconds=1.0, project="demo"):
    """`count` events appended to logs.db in one transaction, the oldest `start` (default: a day ago)."""
    start = start or datetime.now(UTC) - timedelta(days=1)
    rows = [
        (
            (start + timedelta(seconds=i * step_seconds)).strftime("%Y-%m-%d %H:%M:%S.%f"),
            TYPES[i % len(TYPES)], project, project, f"{i:016x}", json.dumps({"i": i}), "info",
        )
        for i in range(count)
    ]
    with sqlite3.connect(adt.path("logs"), timeout=30) as conn:
        conn.executemany(
            "INSERT INTO events (timestamp, type, project, agent, task_id, data, level) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
        )


def logs_ids(adt):
    return [row[0] for row in adt.sql("logs", "SELECT id FROM events ORDER BY id")]


def clickhouse_count(server, url):
    """Rows in the events table, 0 before the first ship made it."""
    database = url.rsplit("/", 1)[1]
    if not execute(server, "SELECT count() FROM system.tables WHERE database = %(d)s AND name = 'events'", {"d": database})[0][0]:
        return 0
    return execute(server, f"SELECT count() FROM {database}.events")[0][0]


def clickhouse_rows(server, url):
    """(count, distinct ids, sorted ids) of the events table of `url`'s database."""
    database = url.rsplit("/", 1)[1]
    count, distinct = execute(server, f"SELECT count(), uniqExact(id) FROM {database}.events")[0]
    ids = [row[0] for row in execute(server, f"SELECT id FROM {database}.events ORDER BY id")]
    return count, distinct, ids


@pytest.fixture
def shipper(adt, clickhouse_url):
    """An ADT_HOME whose commands ship to this test's ClickHouse database."""
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    return ADT(adt.home, env={"ADT_CLICKHOUSE_URL": clickhouse_url})


def test_ship_copies_every_event_once(shipper, clickhouse_server, clickhouse_url):
    assert shipper.manage("add_task", "--project", "demo", "--description", "a real one").returncode == 0
    add_events(shipper, 25_000)
    ids = logs_ids(shipper)

    result = shipper.manage("ship_events")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"shipped {len(ids):,} event(s) in 3 batch(es), up to id {ids[-1]} (")
    count, distinct, shipped = clickhouse_rows(clickhouse_server, clickhouse_url)
    assert count == distinct == len(ids)
    assert shipped == ids
    # What was copied is the event, column for column (timestamps to the second).
    database = clickhouse_url.rsplit("/", 1)[1]
    first = shipper.sql("logs", "SELECT id, type, project, agent, task_id, data, level, timestamp FROM events "
                                "WHERE type = 'task.created' ORDER BY id LIMIT 1")[0]
    copied = execute(clickhouse_server, f"SELECT id, type, project, agent, task_id, data, level, timestamp FROM "
                                        f"{database}.events WHERE id = {first[0]}")[0]
    assert copied[:7] == first[:7]
    assert copied[7].strftime("%Y-%m-%d %H:%M:%S") == first[7][:19]


def test_a_second_ship_copies_only_the_new_events(shipper, clickhouse_server, clickhouse_url):
    add_events(shipper, 12_000)
    assert shipper.manage("ship_events").returncode == 0
    add_events(shipper, 3_000)

    again = shipper.manage("ship_events", "--json")

    assert again.returncode == 0, again.stderr
    summary = again.json()
    assert summary["shipped"] == 3_000 and summary["batches"] == 1 and summary["up_to"] == logs_ids(shipper)[-1]
    count, distinct, shipped = clickhouse_rows(clickhouse_server, clickhouse_url)
    assert count == distinct == len(logs_ids(shipper)) and shipped == logs_ids(shipper)
    nothing = shipper.manage("ship_events")
    assert nothing.returncode == 0
    assert nothing.stdout.startswith("shipped 0 event(s) in 0 batch(es), up to id ")


def test_a_sigkill_at_random_moments_leaves_exactly_one_row_per_event(shipper, clickhouse_server, clickhouse_url):
    add_events(shipper, 400_000, step_seconds=20)  # over three months: runs cut at month ends too
    ids = logs_ids(shipper)
    rnd = random.Random()
    seed = rnd.randrange(10**6)
    rnd.seed(seed)
    seen = [0]
    for _ in range(5):
        proc = shipper.popen("manage.py", "ship_events", "--batch-size", "10000",
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Once this process has shipped something, at a random moment after.
        deadline = time.monotonic() + 60
        while proc.poll() is None and clickhouse_count(clickhouse_server, clickhouse_url) == seen[-1]:
            assert time.monotonic() < deadline, "the ship never started"
            time.sleep(0.02)
        time.sleep(rnd.uniform(0, 0.4))
        assert proc.poll() is None, f"the ship finished before the kill (seed {seed})"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        count, distinct = execute(clickhouse_server, f"SELECT count(), uniqExact(id) FROM {clickhouse_url.rsplit('/', 1)[1]}.events")[0]
        assert count == distinct, f"a row doubled after a kill (seed {seed})"
        assert seen[-1] < count < len(ids)
        seen.append(count)

    result = shipper.manage("ship_events")

    assert result.returncode == 0, result.stderr
    count, distinct, shipped = clickhouse_rows(clickhouse_server, clickhouse_url)
    assert count == distinct == len(ids), f"seed {seed}, counts after each kill {seen}"
    assert shipped == ids


def test_two_shippers_at_once_double_nothing(shipper, clickhouse_server, clickhouse_url):
    add_events(shipper, 200_000)
    ids = logs_ids(shipper)
    shipped_by_each = []
    for _ in range(3):
        procs = [
            shipper.popen("manage.py", "ship_events", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            shipped_by_each.append(json.loads(out))
        add_events(shipper, 50_000)
    ids = logs_ids(shipper)
    procs = [shipper.popen("manage.py", "ship_events", "--json", stdout=subprocess.PIPE, text=True) for _ in range(2)]
    shipped_by_each += [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]

    count, distinct, shipped = clickhouse_rows(clickhouse_server, clickhouse_url)
    assert count == distinct == len(ids)
    assert shipped == ids
    # Between them they shipped each event once; one that found the lease taken said so and shipped nothing.
    assert sum(s["shipped"] for s in shipped_by_each) == len(ids)
    for summary in shipped_by_each:
        assert summary["busy"] is None or summary["shipped"] == 0


def test_ship_events_refuses_a_bad_batch_size_and_a_missing_setting_in_one_line(shipper):
    for value, message in [("5", "between 10,000 and 1,000,000"), ("lots", "whole number")]:
        result = shipper.manage("ship_events", "--batch-size", value)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --batch-size") and message in result.stderr
    unset = ADT(shipper.home).manage("ship_events")
    assert unset.returncode == 1
    assert unset.stderr == "error: ADT_CLICKHOUSE_URL is not set; nothing to ship to\n"


def test_clickhouse_stopped_the_ship_fails_in_one_line_and_catches_up_once_it_is_back(adt, private_clickhouse):
    url = private_clickhouse.url()
    shipper = ADT(adt.home, env={"ADT_CLICKHOUSE_URL": url})
    add_events(shipper, 10_000)
    assert shipper.manage("ship_events").returncode == 0
    private_clickhouse.stop()
    add_events(shipper, 10_000)

    down = shipper.manage("ship_events")

    assert down.returncode == 1
    assert down.stderr.count("\n") == 1 and down.stderr.startswith(f"error: ClickHouse at 127.0.0.1:{private_clickhouse.tcp_port}/")
    assert "Traceback" not in down.stderr and down.stdout == ""

    private_clickhouse.start()
    back = shipper.manage("ship_events", "--json")
    assert back.returncode == 0, back.stderr
    assert back.json()["shipped"] == 10_000
    count, distinct, shipped = clickhouse_rows(private_clickhouse, url)
    assert count == distinct == 20_000 and shipped == logs_ids(shipper)


def test_the_cron_reaper_ships_too_and_a_clickhouse_down_fails_nothing_else(adt, private_clickhouse):
    url = private_clickhouse.url()
    reaper = ADT(adt.home, env={"ADT_CLICKHOUSE_URL": url})
    add_events(reaper, 1_000)
    swept = reaper.manage("reap_stale_agents")
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.splitlines() == ["reaped no agents", f"shipped {len(logs_ids(reaper)):,} event(s) to ClickHouse"]
    private_clickhouse.stop()
    down = reaper.manage("reap_stale_agents")
    assert down.returncode == 0 and "Traceback" not in down.stderr, down
    assert down.stdout.splitlines()[0] == "reaped no agents"
    assert down.stdout.splitlines()[1].startswith(f"ClickHouse: ClickHouse at 127.0.0.1:{private_clickhouse.tcp_port}/")


def test_ship_events_held_by_another_machine_is_skipped(shipper):
    import uuid

    from tests.servers import MACHINE_REDIS, machine_redis

    client, prefix = machine_redis(), f"test-{uuid.uuid4().hex[:10]}:"
    client.set(f"{prefix}lock:ship_events", "other-host:7:abc", px=60_000)
    try:
        held = ADT(shipper.home, env={**shipper.extra_env, "ADT_REDIS_URL": MACHINE_REDIS, "ADT_REDIS_PREFIX": prefix})
        result = held.manage("ship_events")
        assert result.returncode == 0, result
        assert result.stdout.strip() == "skipped: ship_events is already running (other-host:7:abc, Redis lock); nothing done"
    finally:
        client.delete(f"{prefix}lock:ship_events")
