"""backup: consistent copies of the three files while agents write; a restore that works."""

import shutil
import sqlite3
import subprocess
import time

import pytest
from django.db import connections
from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQL

from common.errors import InvalidInput
from storage import backup
from tasks import archive
from tests.lifecycle import insert_tasks, task_row


def integrity(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def ids(path):
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM tasks")}


def test_a_backup_taken_while_a_writer_inserts_holds_every_row_committed_before_it_began(adt, tmp_path):
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    # Enough rows that the copy takes a while.
    insert_tasks(adt.path("tasks"), [task_row("completed", completed_days_ago=3) for _ in range(50_000)])
    writer = adt.popen("tests/writer.py", "demo", stdout=subprocess.DEVNULL)
    try:
        while adt.scalar("tasks", "SELECT count(*) FROM tasks WHERE status = 'pending'") < 200:
            time.sleep(0.05)
        committed = ids(adt.path("tasks"))
        events = adt.scalar("logs", "SELECT count(*) FROM events")
        result = adt.manage("backup", "--to", tmp_path / "copy", "--json")
        assert writer.poll() is None, "the writer must still be writing"
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 0, result
    summary = result.json()
    assert [f["database"] for f in summary["files"]] == ["default", "tasks", "logs"]
    copy = tmp_path / "copy"
    assert sorted(p.name for p in copy.iterdir()) == ["logs.db", "main.db", "tasks.db"]
    for name in ("main.db", "tasks.db", "logs.db"):
        assert integrity(copy / name) == "ok"
        with sqlite3.connect(copy / name) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert committed <= ids(copy / "tasks.db")
    assert len(ids(adt.path("tasks"))) > len(committed), "the writer kept inserting during the backup"
    with sqlite3.connect(copy / "logs.db") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] >= events
    assert summary["files"][1]["rows"]["tasks"] == len(ids(copy / "tasks.db"))


def test_backup_goes_to_a_dated_directory_under_ADT_HOME_by_default(adt):
    result = adt.manage("backup")
    assert result.returncode == 0, result
    [directory] = list((adt.home / "backups").iterdir())
    assert len(directory.name) == len("20260101-120000") and directory.name[8] == "-"
    assert result.stdout.strip().splitlines()[-1].startswith(f"backed up 3 databases to {directory}")


def test_a_restored_backup_is_a_working_ADT_HOME(adt, tmp_path):
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    added = adt.manage("add_task", "--project", "demo", "--description", "survive the restore", "--json").json()
    assert adt.manage("backup", "--to", tmp_path / "copy").returncode == 0
    # The restore steps of docs/operations.md, into a new home.
    restored = type(adt)(tmp_path / "restored")
    (restored.home / "data").mkdir(parents=True)
    for name in ("main.db", "tasks.db", "logs.db"):
        shutil.copy(tmp_path / "copy" / name, restored.home / "data" / name)
    assert restored.manage("migrate", "-v0").returncode == 0
    claimed = restored.manage("claim_task", "--agent", "demo", "--json")
    assert claimed.returncode == 0, claimed
    assert claimed.json()["id"] == added["id"]


def test_backup_refuses_a_directory_that_already_holds_one_and_leaves_it_alone(adt, tmp_path):
    assert adt.manage("backup", "--to", tmp_path / "copy").returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "copy").iterdir()}
    result = adt.manage("backup", "--to", tmp_path / "copy")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'copy'} already holds main.db, tasks.db, logs.db; back up into a new directory"
    assert {p.name: p.read_bytes() for p in (tmp_path / "copy").iterdir()} == before


def test_backup_of_a_home_never_migrated_is_a_clear_error(tmp_path):
    from tests.support import ADT

    result = ADT(tmp_path / "empty").manage("backup", "--to", tmp_path / "copy")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no database 'default' at ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "copy").exists()


@pytest.fixture
def remote_tasks():
    """The tasks alias pointed at a PostgreSQL server (never contacted): what a later issue's URLs give."""
    local = connections["tasks"]
    connections["tasks"] = PostgreSQL({**local.settings_dict, "ENGINE": "django.db.backends.postgresql", "NAME": "adt"}, alias="tasks")
    yield
    connections["tasks"] = local


def test_backup_and_archive_refuse_a_database_that_is_not_a_local_sqlite_file(remote_tasks, tmp_path):
    with pytest.raises(InvalidInput, match=r"database 'tasks' is not a local SQLite file \(postgresql\)"):
        backup.backup(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    with pytest.raises(InvalidInput, match="not a local SQLite file"):
        archive.archive(30)
