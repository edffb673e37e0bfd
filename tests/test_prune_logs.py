"""prune_logs: old events and finished runs go in batches, running runs stay, the space comes back."""

import sqlite3

import pytest

from tests.lifecycle import stamp


def add_events(adt, days_ago, count=1, size=10):
    with sqlite3.connect(adt.path("logs")) as conn:
        conn.executemany(
            "INSERT INTO events (timestamp, type, project, data, level) VALUES (?, 'task.created', 'demo', ?, 'info')",
            [(stamp(days_ago), '{"pad": "%s"}' % ("x" * size)) for _ in range(count)],
        )


def add_run(adt, name, started_days_ago, ended_days_ago, status):
    with sqlite3.connect(adt.path("logs")) as conn:
        conn.execute(
            "INSERT INTO agent_runs (project, provider, task, started_at, ended_at, status, error) VALUES ('demo', 'cursor', NULL, ?, ?, ?, ?)",
            (stamp(started_days_ago), stamp(ended_days_ago) if ended_days_ago is not None else None, status, name),
        )


def runs_left(adt):
    return sorted(r[0] for r in adt.sql("logs", "SELECT error FROM agent_runs"))


@pytest.fixture
def logs(adt):
    add_events(adt, 40, count=25)
    add_events(adt, 20, count=3)
    add_run(adt, "old completed", 40, 40, "completed")
    add_run(adt, "old error", 50, 45, "error")
    add_run(adt, "old but still running", 40, None, "running")
    add_run(adt, "long run that ended lately", 40, 10, "stopped")
    add_run(adt, "recent", 5, 5, "completed")
    add_run(adt, "old, no status, never ended", 40, None, None)
    add_run(adt, "old, no status, ended", 40, 39, None)
    with sqlite3.connect(adt.path("logs")) as conn:
        conn.executemany("INSERT INTO event_relay_receipts (key, relayed_at) VALUES (?, ?)",
                         [("tasks:1", stamp(2)), ("tasks:2", stamp(0.5))])
    return adt


def test_prune_deletes_old_events_and_finished_runs_and_keeps_running_ones(logs):
    result = logs.manage("prune_logs", "--older-than", "30", "--batch-size", "4", "--json")
    assert result.returncode == 0, result
    summary = result.json()
    assert (summary["events"], summary["runs"], summary["receipts"]) == (25, 3, 1)
    assert summary["batches"] == 8  # 7 of events, 1 of runs
    assert logs.scalar("logs", "SELECT count(*) FROM events WHERE type = 'task.created'") == 3
    assert runs_left(logs) == ["long run that ended lately", "old but still running", "old, no status, never ended", "recent"]
    assert logs.sql("logs", "SELECT key FROM event_relay_receipts") == [("tasks:2",)]
    pruned = logs.sql("logs", "SELECT json_extract(data, '$.events'), json_extract(data, '$.runs') FROM events WHERE type = 'logs.pruned'")
    assert pruned == [(25, 3)]


def test_prune_keeps_ADT_LOG_RETENTION_DAYS_by_default(logs):
    logs.extra_env["ADT_LOG_RETENTION_DAYS"] = "15"
    summary = logs.manage("prune_logs", "--json").json()
    assert (summary["older_than_days"], summary["events"]) == (15, 28)
    assert logs.scalar("logs", "SELECT count(*) FROM events WHERE type = 'task.created'") == 0


def test_dry_run_counts_and_changes_nothing(logs):
    before = logs.snapshot()
    result = logs.manage("prune_logs", "--older-than", "30", "--dry-run")
    assert result.returncode == 0, result
    assert result.stdout.startswith("would prune 25 event(s), 3 finished run(s) older than 30 days and 1 relay receipt(s)")
    assert logs.snapshot() == before


def test_prune_gives_the_space_back_in_steps(adt):
    add_events(adt, 100, count=4000, size=2000)
    assert adt.scalar("logs", "PRAGMA auto_vacuum") == 2  # incremental, as the files are created
    pages = adt.scalar("logs", "PRAGMA page_count")
    summary = adt.manage("prune_logs", "--older-than", "30", "--json").json()
    assert summary["events"] == 4000
    assert summary["freed_bytes"] > 4000 * 2000 * 0.9
    assert adt.scalar("logs", "PRAGMA freelist_count") == 0
    assert adt.scalar("logs", "PRAGMA page_count") < pages / 5


def test_vacuum_rewrites_the_file(adt):
    add_events(adt, 100, count=2000, size=2000)
    summary = adt.manage("prune_logs", "--older-than", "30", "--vacuum", "--json").json()
    assert summary["vacuum"] and summary["freed_bytes"] > 2000 * 2000 * 0.9
    assert adt.scalar("logs", "PRAGMA freelist_count") == 0
    assert adt.scalar("logs", "PRAGMA integrity_check") == "ok"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--older-than", "-1"], "error: --older-than must be zero or more days, not '-1'"),
        (["--older-than", "nan"], "error: --older-than must be zero or more days, not 'nan'"),
        (["--batch-size", "many"], "error: --batch-size must be a whole number of rows"),
        (["--vacuum", "--dry-run"], "error: --vacuum and --dry-run do not go together"),
    ],
)
def test_bad_input_is_one_line_a_nonzero_exit_and_changes_nothing(logs, args, message):
    before = logs.snapshot()
    result = logs.manage("prune_logs", *args)
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)
    assert logs.snapshot() == before
