"""archive_tasks: old finished tasks move to monthly files, nothing else moves, a killed run loses nothing."""

import os
import pty
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from common.errors import Conflict
from storage import localdb
from tasks import archive, queue
from tasks.models import FINISHED
from tests import factories
from tests.lifecycle import TASK_COLUMNS, all_tasks, insert_tasks, task_row


def archived_rows(adt):
    """Every row of every archive file, duplicates kept."""
    rows = []
    for file in sorted((adt.home / "data" / "archive").glob("tasks-*.db")):
        with sqlite3.connect(file) as conn:
            rows += conn.execute(f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks").fetchall()
    return rows


def archive_files(adt):
    return sorted(p.name for p in (adt.home / "data" / "archive").glob("*.db"))


def schema(path):
    with sqlite3.connect(path) as conn:
        return (
            [r[1:] for r in conn.execute("PRAGMA table_info(tasks)")],
            sorted(r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name='tasks' AND type='index' AND sql IS NOT NULL")),
        )


@pytest.fixture
def mixed(adt):
    """Tasks of every status and age; returns {name: row} for the ones the tests talk about."""
    rows = {
        "old_completed": task_row("completed", completed_days_ago=100),
        "old_failed": task_row("failed", completed_days_ago=200),
        "old_cancelled_no_completed_at": task_row("cancelled", created_days_ago=300, completed_at=None),
        "recent_cancelled_no_completed_at": task_row("cancelled", created_days_ago=2, completed_at=None),
        "recent_completed": task_row("completed", completed_days_ago=5, created_days_ago=200),
        "old_pending": task_row("pending", created_days_ago=400),
        "old_in_progress": task_row("in_progress", created_days_ago=400),
    }
    insert_tasks(adt.path("tasks"), rows.values())
    return rows


def month_file(row):
    """tasks-YYYY-MM.db of completed_at, or of created_at when completed_at is NULL."""
    completed_at, created_at = row[TASK_COLUMNS.index("completed_at")], row[TASK_COLUMNS.index("created_at")]
    return f"tasks-{(completed_at or created_at)[:7]}.db"


def test_archive_moves_old_finished_tasks_into_monthly_files_and_leaves_the_rest(adt, mixed):
    before = sorted(all_tasks(adt.path("tasks")))
    result = adt.manage("archive_tasks", "--older-than", "30", "--json")
    assert result.returncode == 0, result
    summary = result.json()
    assert (summary["matched"], summary["archived"], summary["deleted"]) == (3, 3, 0)
    # By completed_at's month, or created_at's when completed_at is NULL.
    old = ("old_completed", "old_failed", "old_cancelled_no_completed_at")
    assert summary["files"] == {month_file(mixed[name]): 1 for name in old}
    assert archive_files(adt) == sorted(month_file(mixed[name]) for name in old)
    for name in old:
        with sqlite3.connect(adt.home / "data" / "archive" / month_file(mixed[name])) as conn:
            assert conn.execute(f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks").fetchall() == [mixed[name]]

    live = {row[0] for row in all_tasks(adt.path("tasks"))}
    assert live == {mixed[name][0] for name in ("recent_cancelled_no_completed_at", "recent_completed", "old_pending", "old_in_progress")}
    assert sorted(archived_rows(adt) + all_tasks(adt.path("tasks"))) == before
    # One summary event, not one per task.
    events = adt.sql("logs", "SELECT type, json_extract(data, '$.archived') FROM events WHERE type LIKE 'tasks.%'")
    assert events == [("tasks.archived", 3)]


def test_archive_files_have_the_tasks_schema_and_open_with_plain_sqlite(adt, mixed):
    assert adt.manage("archive_tasks", "--older-than", "30").returncode == 0
    for name in archive_files(adt):
        path = adt.home / "data" / "archive" / name
        assert schema(path) == schema(adt.path("tasks"))
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not list((adt.home / "data" / "archive").glob("*-wal"))


def test_pending_and_in_progress_tasks_are_never_moved_however_old(adt, mixed):
    assert adt.manage("archive_tasks", "--older-than", "0", "--json").json()["archived"] == 5
    assert adt.sql("tasks", "SELECT status FROM tasks ORDER BY status") == [("in_progress",), ("pending",)]
    assert adt.manage("archive_tasks", "--older-than", "0", "--delete", "--json").json()["deleted"] == 0
    assert adt.sql("tasks", "SELECT count(*) FROM tasks") == [(2,)]


def test_status_option_takes_only_the_statuses_named(adt, mixed):
    summary = adt.manage("archive_tasks", "--older-than", "30", "--status", "failed,cancelled", "--json").json()
    assert summary["archived"] == 2
    assert adt.sql("tasks", "SELECT count(*) FROM tasks WHERE id = ?", (mixed["old_completed"][0],)) == [(1,)]


def test_dry_run_counts_per_file_and_changes_nothing(adt, mixed):
    before = adt.snapshot()
    result = adt.manage("archive_tasks", "--older-than", "30", "--dry-run")
    assert result.returncode == 0, result
    assert result.stdout.startswith("would archive 3 completed/failed/cancelled task(s) older than 30 days")
    assert f"{month_file(mixed['old_failed'])} (1)" in result.stdout
    assert adt.snapshot() == before
    assert not (adt.home / "data" / "archive").exists()
    assert adt.manage("archive_tasks", "--older-than", "30", "--dry-run", "--delete", "--json").json()["matched"] == 3
    assert adt.snapshot() == before


def test_delete_drops_old_finished_tasks_without_archiving_them(adt, mixed):
    result = adt.manage("archive_tasks", "--older-than", "30", "--delete", "--batch-size", "2")
    assert result.returncode == 0, result
    assert result.stdout.startswith("deleted 3 ")
    assert archive_files(adt) == []
    assert adt.sql("tasks", "SELECT count(*) FROM tasks") == [(4,)]
    assert adt.sql("logs", "SELECT json_extract(data, '$.mode'), json_extract(data, '$.deleted') FROM events WHERE type = 'tasks.archived'") == [("delete", 3)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--older-than", "-3"], "error: --older-than must be zero or more days, not '-3'"),
        (["--older-than", "soon"], "error: --older-than must be a number of days, not 'soon'"),
        (["--older-than", "30", "--status", "completed,done"], "error: unknown status 'done' (choose from completed, failed, cancelled)"),
        (["--older-than", "30", "--status", "in_progress"], "error: in_progress tasks are never archived"),
        (["--older-than", "30", "--status", ","], "error: --status needs at least one of"),
        (["--older-than", "30", "--batch-size", "0"], "error: --batch-size must be a whole number of rows, 1 or more"),
    ],
)
def test_bad_input_is_one_line_a_nonzero_exit_and_changes_nothing(adt, mixed, args, message):
    before = adt.snapshot()
    result = adt.manage("archive_tasks", *args)
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)
    assert result.stdout == ""
    assert adt.snapshot() == before
    assert not (adt.home / "data" / "archive").exists()


def test_an_archive_run_killed_at_random_moments_then_rerun_loses_nothing_and_duplicates_nothing(adt):
    rng = random.Random(6)
    rows = [task_row(rng.choice(FINISHED), completed_days_ago=rng.randint(31, 400)) for _ in range(3000)]
    rows += [task_row("pending", created_days_ago=500) for _ in range(20)]
    insert_tasks(adt.path("tasks"), rows)
    original = sorted(all_tasks(adt.path("tasks")))
    journal = adt.home / "data" / "archive" / archive.JOURNAL

    kills, mid_batch = 0, 0
    while kills < 6:
        proc = adt.popen("manage.py", "archive_tasks", "--older-than", "30", "--batch-size", "25",
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Wait until it is moving rows, then kill it a random moment later.
        start = adt.scalar("tasks", "SELECT count(*) FROM tasks")
        deadline = time.monotonic() + 60
        while adt.scalar("tasks", "SELECT count(*) FROM tasks") == start and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.15))
        if proc.poll() is not None:
            break  # it finished first: nothing left to interrupt
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        mid_batch += journal.exists()
        # Whatever the moment, no task is lost and none is in two places.
        now = all_tasks(adt.path("tasks")) + archived_rows(adt)
        assert {r[0] for r in now} == {r[0] for r in original}

    assert kills >= 3, "the archive finished before it could be killed three times; load more rows"
    assert mid_batch >= 1, "no kill landed inside a batch"
    final = adt.manage("archive_tasks", "--older-than", "30", "--json")
    assert final.returncode == 0, final
    live, archived = all_tasks(adt.path("tasks")), archived_rows(adt)
    assert Counter(r[0] for r in live + archived).most_common(1)[0][1] == 1
    assert sorted(live + archived) == original
    assert {r[4] for r in live} == {"pending"}
    assert not journal.exists()


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_task_retried_while_its_batch_was_in_flight_stays_live_and_leaves_the_archive(settings, tmp_path):
    settings.ADT_ARCHIVE_DIR = tmp_path / "archive"
    factories.project()
    failed = task_row("failed", completed_days_ago=60)
    kept = [task_row("completed", completed_days_ago=60), task_row("cancelled", completed_days_ago=61)]
    insert_tasks(connections["tasks"].settings_dict["NAME"], [failed, *kept])

    # A run copies the batch into the archive and is killed before deleting it from tasks.db ...
    conn = localdb.connect("tasks")
    run = archive._Run(conn, archive.check_statuses(FINISHED), timezone.now() - timedelta(days=30))
    with run.locked():
        run.copy(next(run.rounds(10)))
    conn.close()
    # ... and meanwhile someone puts the failed task back in the queue.
    queue.retry(failed[0], by="operator")

    summary = archive.archive(30)
    assert (summary["recovered"], summary["skipped"], summary["archived"]) == (2, 1, 0)
    assert queue.get(failed[0]).status == "pending"
    names = [p.name for p in settings.ADT_ARCHIVE_DIR.glob("tasks-*.db")]
    ids = []
    for name in names:
        with sqlite3.connect(settings.ADT_ARCHIVE_DIR / name) as db:
            ids += [r[0] for r in db.execute("SELECT id FROM tasks")]
    assert sorted(ids) == sorted(row[0] for row in kept)


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_only_one_archive_run_at_a_time(settings, tmp_path):
    settings.ADT_ARCHIVE_DIR = tmp_path / "archive"
    conn = localdb.connect("tasks")
    run = archive._Run(conn, archive.check_statuses(FINISHED), timezone.now())
    try:
        with run.locked(), pytest.raises(Conflict, match="another archive_tasks run"):
            archive.archive(30)
    finally:
        conn.close()


def test_a_terminal_gets_a_progress_bar_and_anything_else_one_summary_line(adt, mixed):
    insert_tasks(adt.path("tasks"), [task_row("completed", completed_days_ago=40) for _ in range(50)])
    plain = adt.manage("archive_tasks", "--older-than", "30", "--batch-size", "5", "--dry-run")
    assert (len(plain.stdout.splitlines()), plain.stderr) == (1, "")

    main, replica = pty.openpty()
    proc = adt.popen("manage.py", "archive_tasks", "--older-than", "30", "--batch-size", "5",
                     stdout=subprocess.PIPE, stderr=replica, text=True)
    os.close(replica)
    out, _ = proc.communicate(timeout=60)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    assert proc.returncode == 0
    assert out.startswith("archived 53 ")
    assert b"\rarchiving [" in drawn and b"53/53 100%" in drawn


def test_a_finished_task_that_a_waiting_task_still_needs_stays_and_edges_leave_with_their_task(adt):
    """A blocked task waits for a completed one and a pending one: the completed one is not archived
    while the other still waits; once the waiter has finished too, all go, their dependencies with them."""
    done, still, waiter = task_row("completed", completed_days_ago=100), task_row("pending", created_days_ago=100), task_row("blocked", created_days_ago=100)
    waiter_done = task_row("completed", completed_days_ago=100)
    insert_tasks(adt.path("tasks"), [done, still, waiter, waiter_done])
    adt.sql("tasks", "INSERT INTO task_dependencies (task_id, after_id) VALUES (?, ?), (?, ?), (?, ?)",
            [waiter[0], done[0], waiter[0], still[0], waiter_done[0], done[0]])
    summary = adt.manage("archive_tasks", "--older-than", "30", "--json").json()
    assert summary["archived"] == 1  # waiter_done only: `done` is still needed by `waiter`
    assert sorted(r[0] for r in adt.sql("tasks", "SELECT id FROM tasks")) == sorted([done[0], still[0], waiter[0]])
    assert adt.sql("tasks", "SELECT task_id FROM task_dependencies ORDER BY id") == [(waiter[0],), (waiter[0],)]
    adt.sql("tasks", "UPDATE tasks SET status = 'cancelled', completed_at = ? WHERE id IN (?, ?)",
            [done[TASK_COLUMNS.index("completed_at")], waiter[0], still[0]])
    assert adt.manage("archive_tasks", "--older-than", "30", "--json").json()["archived"] == 3
    assert adt.sql("tasks", "SELECT COUNT(*) FROM task_dependencies") == [(0,)]
