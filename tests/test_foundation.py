"""The three databases: where each table lives, the seed's schema, connection settings."""

import re
import sqlite3

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connections

from agents.models import Agent
from events.models import AgentRun, Event
from projects.models import Project
from schedules.models import Schedule
from tasks.models import Task

SEED_DDL = {
    "main": """
        CREATE TABLE projects (name TEXT PRIMARY KEY, path TEXT NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, config JSON);
        CREATE TABLE agents (project TEXT PRIMARY KEY REFERENCES projects(name), provider TEXT DEFAULT 'cursor', preferred_worktree TEXT, config JSON);
    """,
    "tasks": """
        CREATE TABLE tasks (id TEXT PRIMARY KEY, project TEXT NOT NULL, description TEXT NOT NULL, priority TEXT DEFAULT 'normal', status TEXT DEFAULT 'pending', assigned_to TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, started_at TIMESTAMP, completed_at TIMESTAMP, result TEXT, error TEXT, retry_count INTEGER DEFAULT 0, metadata JSON);
        CREATE INDEX idx_tasks_status ON tasks(status);
        CREATE INDEX idx_tasks_project ON tasks(project);
        CREATE INDEX idx_tasks_created ON tasks(created_at);
    """,
    "logs": """
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, type TEXT NOT NULL, project TEXT, agent TEXT, task_id TEXT, data JSON, level TEXT DEFAULT 'info');
        CREATE INDEX idx_events_time ON events(timestamp);
        CREATE INDEX idx_events_project ON events(project);
        CREATE INDEX idx_events_type ON events(type);
        CREATE TABLE agent_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, provider TEXT, task TEXT, started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, exit_code INTEGER, status TEXT, error TEXT, log_path TEXT);
        CREATE INDEX idx_runs_project ON agent_runs(project);
        CREATE INDEX idx_runs_time ON agent_runs(started_at);
    """,
}


def tables(path):
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}


def columns(conn, table):
    """name -> (notnull, default, pk), defaults without the parentheses SQLite keeps."""
    out = {}
    for _, name, _, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})"):
        if default is not None:
            default = re.sub(r"^\((.*)\)$", r"\1", default)
        out[name] = (notnull, default, pk)
    return out


def indexes(conn, table):
    return {r[1]: [c[2] for c in conn.execute(f"PRAGMA index_info({r[1]})")] for r in conn.execute(f"PRAGMA index_list({table})")}


def test_each_model_reads_and_writes_its_own_database():
    assert Project.objects.db == "default"
    assert Agent.objects.db == "default"
    assert User.objects.db == "default"
    assert Session.objects.db == "default"
    assert Task.objects.db == "tasks"
    assert Schedule.objects.db == "tasks"
    assert Event.objects.db == "logs"
    assert AgentRun.objects.db == "logs"


def test_migrate_puts_each_table_in_exactly_one_file(adt):
    main, tasks, logs = (tables(adt.path(db)) for db in ("main", "tasks", "logs"))
    assert {"projects", "agents", "auth_user", "django_session", "django_admin_log"} <= main
    assert tasks == {"tasks", "task_dependencies", "paused_projects", "schedules", "task_event_outbox", "django_migrations"}
    assert logs == {"events", "agent_runs", "event_relay_receipts", "event_counts", "event_ship_lease", "django_migrations"}
    assert not (main - {"django_migrations"}) & (tasks | logs)
    assert not (tasks - {"django_migrations"}) & logs


@pytest.mark.parametrize("db", ["main", "tasks", "logs"])
def test_schema_matches_the_seed(adt, db):
    seed = sqlite3.connect(":memory:")
    seed.executescript(SEED_DDL[db])
    ours = sqlite3.connect(adt.path(db))
    for (table,) in seed.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"):
        expected, actual = columns(seed, table), columns(ours, table)
        assert list(actual)[: len(expected)] == list(expected), f"{table}: columns differ"
        for name, (notnull, default, pk) in expected.items():
            got_notnull, got_default, got_pk = actual[name]
            assert got_pk == pk, f"{table}.{name} primary key"
            # SQLite lets a TEXT PRIMARY KEY hold NULL; Django (rightly) refuses.
            assert got_notnull == (notnull or pk > 0), f"{table}.{name} NOT NULL"
            assert got_default == default, f"{table}.{name} default"
        seed_indexes, our_indexes = indexes(seed, table), indexes(ours, table)
        for name, cols in seed_indexes.items():
            assert our_indexes.get(name) == cols, f"index {name}"
    if db == "main":
        assert set(columns(ours, "agents")) - set(columns(seed, "agents")) == {"status", "last_heartbeat"}
        assert ours.execute("PRAGMA foreign_key_list(agents)").fetchone()[2:5] == ("projects", "project", "name")
    if db == "logs":
        assert "AUTOINCREMENT" in ours.execute("SELECT sql FROM sqlite_master WHERE name='events'").fetchone()[0]


def test_migrate_without_database_brings_all_three_up_to_date(tmp_path):
    from tests.support import ADT

    adt = ADT(tmp_path)
    result = adt.manage("migrate")
    assert result.returncode == 0, result.stderr
    for db in ("main", "tasks", "logs"):
        assert adt.path(db).exists()
    assert "tasks" in tables(adt.path("tasks"))
    assert adt.manage("migrate", "--check").returncode == 0


def test_migrating_an_outbox_off_autoincrement_keeps_its_ids_from_repeating(tmp_path):
    from tests.support import ADT

    adt = ADT(tmp_path)
    assert adt.manage("migrate", "tasks", "0003", "--database", "tasks", "-v0").returncode == 0
    with sqlite3.connect(adt.path("tasks")) as conn:  # 41 events written, all relayed away
        for _ in range(41):
            conn.execute("INSERT INTO task_event_outbox (created_at, type, level) VALUES ('2026-01-01', 'task.created', 'info')")
        conn.execute("DELETE FROM task_event_outbox")
    result = adt.manage("migrate", "-v0")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(adt.path("tasks")) as conn:
        create = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'task_event_outbox'").fetchone()[0]
        assert "AUTOINCREMENT" not in create
        assert conn.execute("SELECT id, relayed FROM task_event_outbox").fetchall() == [(41, 1)]
        conn.execute("INSERT INTO task_event_outbox (created_at, type, level) VALUES ('2026-01-02', 'task.created', 'info')")
        assert conn.execute("SELECT MAX(id) FROM task_event_outbox WHERE NOT relayed").fetchone()[0] == 42
    # The claim and completion triggers still write there.
    assert adt.manage("register_project", "demo", str(tmp_path)).returncode == 0
    assert adt.manage("add_task", "--project", "demo", "--description", "one").returncode == 0
    assert adt.manage("claim_task", "--agent", "demo").returncode == 0
    types = [t for (t,) in adt.sql("logs", "SELECT type FROM events WHERE task_id IS NOT NULL ORDER BY id")]
    assert types == ["task.created", "task.claimed"]
    # And back: AUTOINCREMENT again, counting on from the highest id given.
    highest = adt.scalar("tasks", "SELECT MAX(id) FROM task_event_outbox")
    result = adt.manage("migrate", "tasks", "0003", "--database", "tasks", "-v0")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(adt.path("tasks")) as conn:
        assert "AUTOINCREMENT" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'task_event_outbox'").fetchone()[0]
        conn.execute("DELETE FROM task_event_outbox")
        conn.execute("INSERT INTO task_event_outbox (created_at, type, level) VALUES ('2026-01-03', 'task.created', 'info')")
        assert conn.execute("SELECT id FROM task_event_outbox").fetchone()[0] == highest + 1


def test_a_new_tasks_db_has_small_pages_and_keeps_them(tmp_path):
    from tests.support import ADT

    adt = ADT(tmp_path)
    assert adt.manage("migrate", "-v0").returncode == 0
    page_size = {db: sqlite3.connect(adt.path(db)).execute("PRAGMA page_size").fetchone()[0] for db in ("main", "tasks", "logs")}
    assert page_size == {"main": 4096, "tasks": 2048, "logs": 4096}
    assert adt.manage("claim_task", "--agent", "nobody").returncode != 0  # a later connection changes nothing
    assert sqlite3.connect(adt.path("tasks")).execute("PRAGMA page_size").fetchone()[0] == 2048


def test_migrate_with_database_does_only_that_one(tmp_path):
    from tests.support import ADT

    adt = ADT(tmp_path)
    assert adt.manage("migrate", "--database", "logs", "-v0").returncode == 0
    assert "events" in tables(adt.path("logs"))
    assert "tasks" not in tables(adt.path("tasks"))
    assert "projects" not in tables(adt.path("main"))


def test_env_vars_move_each_database(tmp_path):
    from tests.support import ADT

    elsewhere = tmp_path / "elsewhere"
    adt = ADT(tmp_path / "home", env={"ADT_TASKS_DB": elsewhere / "queue.sqlite3", "ADT_LOGS_DB": elsewhere / "deep" / "logs.sqlite3"})
    assert adt.manage("migrate", "-v0").returncode == 0
    assert "tasks" in tables(elsewhere / "queue.sqlite3")
    assert "events" in tables(elsewhere / "deep" / "logs.sqlite3")
    assert not adt.path("tasks").exists()
    assert "projects" in tables(adt.path("main"))


def test_a_bad_database_url_is_a_one_line_error(tmp_path):
    from tests.support import ADT

    result = ADT(tmp_path, env={"ADT_TASKS_DB": "mysql://db/tasks"}).manage("migrate")
    assert result.returncode != 0
    assert "unsupported database URL scheme 'mysql'" in result.stderr


@pytest.mark.django_db(databases="__all__", transaction=True)
@pytest.mark.parametrize("alias", ["default", "tasks", "logs"])
def test_connections_use_wal_normal_sync_foreign_keys_and_a_busy_timeout(alias):
    connection = connections[alias]
    with connection.cursor() as cursor:
        pragma = lambda name: cursor.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 30_000
    assert connection.transaction_mode == "IMMEDIATE"


PROBE = '''
from django.test import TestCase

from agents import lifecycle
from tasks import queue


class TestThatWritesEverywhere(TestCase):
    databases = "__all__"

    def test_it_writes_a_project_a_task_and_events(self):
        lifecycle.register("probe", "/srv/probe")
        queue.enqueue("probe", "made by a test")
'''


def test_django_test_runner_uses_throw_away_databases_and_leaves_live_data_in_place(adt, tmp_path):
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    assert adt.manage("add_task", "--project", "demo", "--description", "keep me").returncode == 0
    before = adt.snapshot()
    assert before["tasks.tasks"] and before["logs.events"]
    suite = tmp_path / "probe"
    suite.mkdir()
    (suite / "test_probe.py").write_text(PROBE)
    result = adt.manage("test", str(suite), "--top-level-directory", str(suite), "--noinput", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Ran 1 test" in result.stderr and "OK" in result.stderr
    assert adt.snapshot() == before
