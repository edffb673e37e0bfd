"""Migrations that move models between apps leave every table, row and index where it was."""

from tests.support import ADT

SCHEMA = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name IN ('projects', 'agents') ORDER BY name"


def test_moving_agent_to_the_agents_app_keeps_its_table_rows_and_indexes(tmp_path):
    adt = ADT(tmp_path / "adt")
    # main.db as the code before the move made it: the projects app's migrations up to 0002.
    for app, target in (("contenttypes", "0002_remove_content_type_name"), ("projects", "0002_outbox_relayed")):
        made = adt.manage("migrate", app, target, "--database", "default", "-v0")
        assert made.returncode == 0, made.stderr
    adt.sql("main", "INSERT INTO projects (name, path, config) VALUES ('web', '/srv/web', '{\"max_retries\": 5}')")
    adt.sql("main", "INSERT INTO agents (project, provider, status, last_heartbeat) "
                    "VALUES ('web', 'claude', 'working', '2026-11-30 12:00:00')")
    before = adt.sql("main", SCHEMA)
    [(old_type,)] = adt.sql("main", "SELECT id FROM django_content_type WHERE app_label = 'projects' AND model = 'agent'")

    moved = adt.manage("migrate", "-v0")

    assert moved.returncode == 0, moved.stderr
    assert adt.sql("main", SCHEMA) == before
    assert adt.sql("main", "SELECT project, provider, status, last_heartbeat FROM agents") == [
        ("web", "claude", "working", "2026-11-30 12:00:00")
    ]
    assert adt.sql("main", "SELECT app_label FROM django_content_type WHERE id = ?", (old_type,)) == [("agents",)]
    assert adt.sql("main", "SELECT COUNT(*) FROM django_content_type WHERE model = 'agent'") == [(1,)]
    # The agent works as before through the code that now owns it.
    status = adt.manage("agent_status", "--json")
    assert status.returncode == 0, status.stderr
    assert [(a["agent"], a["provider"], a["status"]) for a in status.json()["agents"]] == [("web", "claude", "working")]
    assert adt.manage("heartbeat", "--agent", "web").returncode == 0
    assert adt.manage("makemigrations", "--check", "--dry-run").returncode == 0
