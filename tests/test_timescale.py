"""TimescaleDB where the logs database's PostgreSQL server has it, and nothing changed where it has not.

The PostgreSQL of ADT_TEST_POSTGRES (tests/servers.py) does not offer the
extension on these machines (it is neither in Debian's archive nor on
PyPI), so the hypertable test skips there, saying so, and runs for real
against a server that has it.
"""

from datetime import UTC, datetime, timedelta

import pytest

from tests.servers import postgres_for_tests
from tests.support import ADT

pytestmark = pytest.mark.slow

NOT_IN_USE = ("TimescaleDB is not in use on the logs database (the extension is not offered by this server); "
              "events stay a plain table")


class PostgresADT(ADT):
    """An ADT_HOME whose three databases are fresh ones on the test PostgreSQL."""

    def __init__(self, home, databases):
        super().__init__(home, env=databases.env())
        self.databases = databases
        self.logs_url = f"{databases.base}/{databases.names['logs']}"

    def pg(self, query, params=()):
        import psycopg

        with psycopg.connect(self.logs_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    def pg_scalar(self, query, params=()):
        return self.pg(query, params)[0][0]

    def offers_timescaledb(self):
        return self.pg_scalar("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'") > 0

    def primary_key(self, table):
        return self.pg("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (table,))

    def nullable(self, table, column):
        return self.pg_scalar("SELECT is_nullable FROM information_schema.columns "
                              "WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s", (table, column))

    def add_events(self, days_ago, count):
        when = datetime.now(UTC) - timedelta(days=days_ago)
        self.pg("INSERT INTO events (timestamp, type, project, level) "
                "SELECT %s, 'task.created', 'demo', 'info' FROM generate_series(1, %s)", (when, count))


@pytest.fixture
def pg(tmp_path):
    databases = postgres_for_tests()
    adt = PostgresADT(tmp_path / "home", databases)
    result = adt.manage("migrate", "-v0", timeout=300)
    assert result.returncode == 0, result.stderr
    yield adt
    databases.drop()


@pytest.fixture
def plain_pg(pg):
    if pg.offers_timescaledb():
        pytest.skip(f"the PostgreSQL at {pg.databases.base} offers timescaledb: this test is of a server without it")
    return pg


@pytest.fixture
def timescale_pg(pg):
    if not pg.offers_timescaledb():
        pytest.skip(f"timescaledb is not offered by the PostgreSQL at {pg.databases.base}: not in Debian's archive or PyPI")
    if not pg.pg_scalar("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") and "timescaledb" not in pg.pg_scalar(
        "SELECT current_setting('shared_preload_libraries')"
    ):
        pytest.skip(f"the PostgreSQL at {pg.databases.base} offers timescaledb but does not preload it (shared_preload_libraries)")
    return pg


def test_without_the_extension_the_migration_leaves_events_a_plain_table(plain_pg):
    assert plain_pg.pg_scalar("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") == 0
    assert plain_pg.primary_key("events") == [("events_pkey",)]
    assert plain_pg.primary_key("agent_runs") == [("agent_runs_pkey",)]
    assert plain_pg.nullable("events", "timestamp") == "YES"
    assert plain_pg.pg("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'uniq_%%'") == []
    assert plain_pg.manage("makemigrations", "--check", "--dry-run").returncode == 0


def test_without_the_extension_check_says_timescaledb_is_not_in_use(plain_pg):
    result = plain_pg.manage("check", "--database", "logs")
    assert result.returncode == 0, result
    assert f"?: (events.I001) {NOT_IN_USE}" in result.stderr


def test_the_note_stays_out_of_every_other_command(plain_pg):
    # Checks without the database tag run before each command agents call.
    assert plain_pg.manage("register_project", "demo", "/srv/demo").returncode == 0
    for args in (["check"], ["agent_status"], ["claim_task", "--agent", "demo"]):
        result = plain_pg.manage(*args)
        assert "TimescaleDB" not in result.stdout + result.stderr, (args, result)


def test_without_the_extension_prune_logs_refuses_postgresql_as_before(plain_pg):
    plain_pg.add_events(40, 5)
    for args in ([], ["--dry-run"]):
        result = plain_pg.manage("prune_logs", "--older-than", "30", *args)
        assert result.returncode == 1, result
        assert result.stderr.strip() == ("error: database 'logs' is not a local SQLite file (postgresql); "
                                         "use that database's own tools for it")
    assert plain_pg.pg_scalar("SELECT count(*) FROM events") == 5


PREPARE = """
from storage import timescale
for table, column in (("events", "timestamp"), ("agent_runs", "started_at")):
    timescale.prepare("logs", table, column)
    timescale.prepare("logs", table, column)  # again: changes nothing
"""


def test_what_a_hypertable_needs_fills_missing_times_and_keys_id_with_its_time(plain_pg):
    # The part of the migration TimescaleDB does not take part in, on plain PostgreSQL.
    plain_pg.pg("INSERT INTO events (id, timestamp, type) VALUES "
                "(1, NULL, 'a'), (2, '2026-11-01T10:00:00Z', 'b'), (3, NULL, 'c'), (4, NULL, 'd'), (5, '2026-11-02T10:00:00Z', 'e')")
    plain_pg.pg("SELECT setval(pg_get_serial_sequence('events', 'id'), 5)")  # as copy_database leaves it
    result = plain_pg.manage("shell", "-c", PREPARE)
    assert result.returncode == 0, result.stderr
    times = plain_pg.pg("SELECT id, timestamp FROM events ORDER BY id")
    nov1, nov2 = datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert times == [(1, nov1), (2, nov1), (3, nov1), (4, nov1), (5, nov2)]
    assert plain_pg.nullable("events", "timestamp") == "NO"
    assert plain_pg.primary_key("events") == [] and plain_pg.primary_key("agent_runs") == []
    assert plain_pg.pg("SELECT indexname, indexdef LIKE '%%UNIQUE%%(id, %%' FROM pg_indexes WHERE indexname LIKE 'uniq_%%' ORDER BY 1") == [
        ("uniq_agent_runs_id_time", True), ("uniq_events_id_time", True)
    ]
    # Django still numbers, finds and deletes events by id.
    code = ("from events import feed; from events.models import Event; e = feed.record('x.y'); "
            "print(e.id, Event.objects.get(id=e.id).type, Event.objects.filter(id=1).delete()[0])")
    result = plain_pg.manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["6", "x.y", "1"]


def test_with_the_extension_events_become_hypertables_and_prune_drops_whole_chunks(timescale_pg):
    adt = timescale_pg
    hypertables = adt.pg("SELECT hypertable_name FROM timescaledb_information.hypertables "
                         "WHERE hypertable_schema = current_schema() ORDER BY 1")
    assert hypertables == [("agent_runs",), ("events",)]
    assert adt.primary_key("events") == [] and adt.nullable("events", "timestamp") == "NO"
    assert adt.manage("makemigrations", "--check", "--dry-run").returncode == 0
    checked = adt.manage("check", "--database", "logs")
    assert checked.returncode == 0 and "(events.I002) TimescaleDB is in use on the logs database" in checked.stderr

    adt.add_events(40, 25)  # in chunks wholly older than 30 days
    adt.add_events(20, 3)
    adt.pg("INSERT INTO events (timestamp, type) VALUES (now() - interval '30 days' - interval '1 minute', 'edge')")
    adt.pg("INSERT INTO agent_runs (project, started_at, ended_at, status) VALUES "
           "('demo', now() - interval '40 days', now() - interval '40 days', 'completed'), "
           "('demo', now() - interval '40 days', NULL, 'running')")
    dry = adt.manage("prune_logs", "--older-than", "30", "--dry-run")
    assert dry.returncode == 0, dry
    assert dry.stdout.startswith("would prune 26 event(s), 1 finished run(s)") and "whole chunk(s) of events" in dry.stdout

    result = adt.manage("prune_logs", "--older-than", "30", "--json")
    assert result.returncode == 0, result
    summary = result.json()
    assert (summary["events"], summary["runs"]) == (26, 1)
    assert summary["chunks"] >= 1
    assert adt.pg_scalar("SELECT count(*) FROM events WHERE type IN ('task.created', 'edge')") == 3
    assert adt.pg("SELECT status FROM agent_runs") == [("running",)]
    again = adt.manage("prune_logs", "--older-than", "30")
    assert again.returncode == 0 and "whole chunk(s) of events (TimescaleDB)" in again.stdout
    assert adt.manage("prune_logs", "--vacuum").returncode == 1


def test_on_sqlite_nothing_is_said_about_timescaledb(adt):
    for args in (["check"], ["check", "--database", "logs"]):
        result = adt.manage(*args)
        assert result.returncode == 0, result
        assert "TimescaleDB" not in result.stdout + result.stderr
    assert "uniq_events_id_time" not in str(adt.sql("logs", "SELECT name FROM sqlite_master"))
