"""import_legacy: moving a file-based ~/.adt into the databases, run as a user runs it."""

import hashlib
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from events.models import Event
from legacy import importer as legacy_import
from tasks.models import Task

FIXTURES = Path(__file__).parent / "fixtures" / "legacy"
TREES = ["v0", "v1", "v2", "broken"]
# Every file of a copied tree gets this mtime, so a timestamp taken from it is known.
MTIME = 1700000000
MTIME_SQL = "2023-11-14 22:13:20"


def legacy(tmp_path, name):
    dest = tmp_path / "legacy" / name
    shutil.copytree(FIXTURES / name, dest)
    for path in dest.rglob("*"):
        os.utime(path, (MTIME, MTIME))
    return dest


def run(adt, folder, *args):
    return adt.manage("import_legacy", "--from", folder, *args)


def counts(result):
    return result.json()["counts"]


def fingerprint(folder, leave_out=()):
    """Content hash and mtime of every file and folder under `folder`."""
    out = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if name.split("/")[0] in leave_out:
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[name] = (digest, path.stat().st_mtime_ns)
    return out


def problems(result):
    return [line for line in result.stderr.splitlines() if line.startswith(("skipped ", "warning: ", "error: "))]


# Each version's layout ------------------------------------------------------


def test_an_adt_0_tree_imports_projects_agents_tasks_and_log_lines(adt, tmp_path):
    folder = legacy(tmp_path, "v0")
    result = run(adt, folder, "--json")
    assert result.returncode == 0, result
    assert counts(result) == {
        "projects": {"imported": 2, "already_present": 0, "skipped": 0, "files_skipped": 0},
        "agents": {"imported": 2, "already_present": 0, "skipped": 0, "files_skipped": 0},
        "tasks": {"imported": 4, "already_present": 0, "skipped": 0, "files_skipped": 0},
        "events": {"imported": 5, "already_present": 0, "skipped": 0, "files_skipped": 0},
    }
    assert adt.sql("main", "SELECT name, path, config FROM projects ORDER BY name") == [
        ("docs", "~/code/docs", None),
        ("webapp", "~/code/webapp", '{"max_retries": 5, "test_command": "npm test"}'),
    ]
    assert adt.sql("main", "SELECT project, provider, preferred_worktree, status, last_heartbeat, config FROM agents ORDER BY project") == [
        ("docs", "cursor", None, "idle", "2024-03-01 10:46:40.500000", None),
        ("webapp", "cursor", "main", "working", "2024-03-01 12:00:00", '{"pid": 4242, "current_task": "a1b2c3d4e5f60001"}'),
    ]
    assert adt.sql(
        "tasks",
        "SELECT id, project, description, priority, status, assigned_to, created_at, started_at, completed_at, result, error, retry_count "
        "FROM tasks ORDER BY id",
    ) == [
        ("a1b2c3d4e5f60001", "webapp", "Fix the login redirect", "high", "in_progress", "webapp", "2024-03-01 10:46:40", "2024-03-01 11:53:20", None, None, None, 0),
        ("a1b2c3d4e5f60002", "webapp", "Update dependencies", "normal", "pending", None, "2024-03-01 10:48:20", None, None, None, None, 0),
        ("a1b2c3d4e5f60003", "docs", "Write the install guide", "urgent", "completed", None, "2024-02-29 09:46:40", "2024-02-29 09:48:20", "2024-02-29 10:46:40", "Added docs/install.md", None, 1),
        ("a1b2c3d4e5f60004", "docs", "Spell-check everything", "low", "failed", None, "2024-02-29 09:46:40", None, "2024-02-29 10:03:20", None, "aspell not installed", 3),
    ]
    events = adt.sql("logs", "SELECT timestamp, level, project, agent, data FROM events WHERE type = 'agent.log' ORDER BY id")
    assert [(ts, level) for ts, level, *_ in events] == [
        ("2024-03-01 10:00:00", "info"),
        ("2024-03-01 10:00:05", "info"),
        ("2024-03-01 10:05:00", "warn"),
        ("2024-03-01 10:06:00", "error"),
        (MTIME_SQL, "info"),  # the continuation line has no timestamp of its own
    ]
    assert {(p, a) for _, _, p, a, _ in events} == {("webapp", "webapp")}
    last = json.loads(events[-1][4])
    assert last["source"] == "logs/agents/webapp.log" and last["line"] == 5 and last["text"] == "    while running the tool"
    assert any("poll_interval" in w for w in result.json()["warnings"])


def test_an_adt_1_tree_maps_old_spellings_and_keeps_unknown_fields(adt, tmp_path):
    result = run(adt, legacy(tmp_path, "v1"))
    assert result.returncode == 0, result
    assert adt.sql("main", "SELECT name, path, config FROM projects ORDER BY name") == [
        ("api", "/srv/api", '{"max_retries": 4, "labels": ["backend", "python"]}'),
        ("site", "/srv/site", '{"max_retries": 2, "created": "2024-01-15"}'),  # defaults fill in; a YAML date as text
    ]
    assert adt.sql("main", "SELECT project, provider, preferred_worktree, status, last_heartbeat, config FROM agents ORDER BY project") == [
        ("api", "cursor", "agent/api", "working", "2024-05-02 07:30:00", '{"model": "gpt-5", "session": {"id": "s-81", "tokens": 1200}}'),
        ("site", "claude", None, "stale", "2024-05-01 22:00:00", '{"state_provider": "claude-code"}'),
    ]
    assert "'claude-code' differs from config.yml's 'claude'" in result.stderr
    assert adt.sql("tasks", "SELECT id, priority, status, assigned_to, created_at, started_at, completed_at, result, error, retry_count, metadata FROM tasks ORDER BY id") == [
        ("b000000000000001", "urgent", "in_progress", "api", "2024-05-02 08:00:00", "2024-05-02 09:00:00", None, None, None, 0, '{"issue": 42, "tags": ["backend"]}'),
        ("b000000000000002", "normal", "pending", None, "2024-05-02 06:01:00", None, None, None, None, 0, None),
        ("b000000000000003", "high", "completed", None, "2024-04-30 10:00:00", "2024-04-30 10:01:00", "2024-04-30 11:00:00", '{"files": 3, "pr": "https://example.test/pr/7"}', None, 0, None),
        ("b000000000000004", "low", "cancelled", None, "2024-04-29 10:00:00", None, "2024-04-29 12:00:00", None, None, 0, None),
        ("b000000000000005", "high", "failed", None, "2024-04-28 10:00:00", None, "2024-04-28 10:30:00", None, "timeout", 3, None),
    ]
    assert adt.sql("logs", "SELECT timestamp, level FROM events WHERE type = 'agent.log' ORDER BY id") == [
        ("2024-05-02 09:00:00.120000", "info"),
        ("2024-05-02 09:10:00.500000", "warn"),
        ("2024-05-02 09:20:00", "error"),
        (MTIME_SQL, "info"),
        (MTIME_SQL, "info"),
        (MTIME_SQL, "info"),
        ("2024-05-02 07:21:00.250000", "debug"),
    ]


def test_an_adt_2_tree_guesses_the_unknown_with_a_warning_for_each_guess(adt, tmp_path):
    result = run(adt, legacy(tmp_path, "v2"))
    assert result.returncode == 0, result
    assert adt.sql("main", "SELECT provider, status, last_heartbeat, config FROM agents") == [
        ("aider", "idle", "2024-06-01 12:00:00.250000", '{"extra": null}')
    ]
    assert adt.sql("tasks", "SELECT id, description, priority, status, assigned_to, created_at, started_at, completed_at, retry_count, metadata FROM tasks ORDER BY id") == [
        ("c000000000000001", "Add --verbose", "normal", "pending", None, MTIME_SQL, None, None, 0, None),
        ("c000000000000002", "Shell completions", "urgent", "pending", None, "2024-06-01 12:00:00", None, None, 0, None),
        ("c000000000000003", "Rewrite in Rust", "normal", "pending", None, "2024-06-01 12:00:01", None, None, 0, None),
        ("c000000000000004", "Man page", "low", "completed", None, "2024-06-01 10:00:00", None, "2024-06-01 11:00:00", 0, None),
        ("c000000000000005", "Colour output", "normal", "pending", None, "2024-06-01 10:00:00", None, None, 0, '["ux", "nice-to-have"]'),
        ("c000000000000006", "Config file", "normal", "in_progress", "cli", "2024-06-01 10:30:00", "2024-06-01 10:30:00", None, 2, '{"metadata": ["config"], "estimate": "2h"}'),
    ]
    warnings = "\n".join(problems(result))
    for fragment in [
        "status 'hibernating' is not known; imported as idle",
        "task 'c000000000000003': priority 'whenever' is not known; imported as normal",
        "task 'c000000000000003': status 'paused' is not known; imported as pending",
        "task 'c000000000000004': priority 7 is outside 0 (urgent) to 3 (low); imported as low",
        "task 'c000000000000004': status 'blocked' is not known; imported as completed",
        "task 'c000000000000005' is in progress but held by no agent; imported as pending",
        "task 'c000000000000006' is in progress with no start time",
    ]:
        assert fragment in warnings
    assert adt.sql("logs", "SELECT json_extract(data, '$.line'), timestamp, level FROM events WHERE type = 'agent.log' ORDER BY id") == [
        (1, "2024-06-01 12:00:00", "info"),
        (2, "2024-06-01 12:01:00", "warn"),
        (3, "2024-06-01 12:02:00.500000", "error"),
        (5, MTIME_SQL, "info"),  # line 4 is blank
        (6, MTIME_SQL, "debug"),
    ]


# Running again, dry runs, read-only ------------------------------------------


@pytest.mark.parametrize("tree", TREES)
def test_a_second_run_imports_nothing_and_changes_nothing(adt, tmp_path, tree):
    folder = legacy(tmp_path, tree)
    first = run(adt, folder, "--json")
    before = adt.snapshot()
    second = run(adt, folder, "--json")
    assert second.returncode == first.returncode
    assert adt.snapshot() == before
    for kind, count in counts(second).items():
        assert count["imported"] == 0, kind
        assert count["already_present"] == counts(first)[kind]["imported"] + counts(first)[kind]["already_present"], kind


@pytest.mark.parametrize("tree", TREES)
def test_a_dry_run_shows_the_counts_of_a_real_run_and_writes_nothing(adt, tmp_path, tree):
    folder = legacy(tmp_path, tree)
    before = adt.snapshot()
    dry = run(adt, folder, "--dry-run", "--json")
    assert adt.snapshot() == before
    real = run(adt, folder, "--json")
    assert (dry.returncode, counts(dry)) == (real.returncode, counts(real))
    assert dry.json()["dry_run"] and not real.json()["dry_run"]
    assert dry.json()["skipped_files"] == real.json()["skipped_files"]


def test_a_dry_run_says_so_in_words(adt, tmp_path):
    result = run(adt, legacy(tmp_path, "v0"), "--dry-run")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith("dry run, nothing written")
    assert "tasks: 4 to import, 0 already present, 0 skipped" in result.stdout


@pytest.mark.parametrize("tree", TREES)
def test_the_legacy_folder_is_only_read(adt, tmp_path, tree):
    folder = legacy(tmp_path, tree)
    before = fingerprint(folder)
    run(adt, folder, "--dry-run")
    run(adt, folder)
    assert fingerprint(folder) == before


def test_without_from_it_imports_adt_home_and_leaves_its_legacy_files_alone(adt):
    shutil.copytree(FIXTURES / "v0", adt.home, dirs_exist_ok=True)
    before = fingerprint(adt.home, leave_out={"data", "secret_key"})
    result = adt.manage("import_legacy")
    assert result.returncode == 0, result
    assert f"imported {adt.home.resolve()}" in result.stdout
    assert adt.scalar("tasks", "SELECT count(*) FROM tasks") == 4
    assert fingerprint(adt.home, leave_out={"data", "secret_key"}) == before


# Broken files -----------------------------------------------------------------


def test_a_malformed_file_is_skipped_whole_with_its_path_and_reason_and_the_rest_imports(adt, tmp_path):
    folder = legacy(tmp_path, "broken")
    result = run(adt, folder)
    assert result.returncode == 2, result
    lines = problems(result)
    assert f"skipped {folder}/agents/app.state.json: invalid JSON: Expecting property name enclosed in double quotes at line 1 column 22" in lines
    assert f"skipped {folder}/agents/lib.state.json: the top level must be an object, not a list" in lines
    assert f"skipped {folder}/agents/ghost.state.json: project 'ghost' is not in config.yml and not registered" in lines
    assert lines[-1].startswith("error: some files or records were skipped")
    # The agents still come from config.yml, without the state their files would have given.
    assert adt.sql("main", "SELECT project, status, last_heartbeat FROM agents ORDER BY project") == [("app", "idle", None), ("lib", "idle", None)]
    assert "agents: 2 imported, 0 already present, 0 skipped, 3 file(s) skipped whole" in result.stdout


def test_a_task_whose_project_is_missing_is_skipped_with_a_warning_naming_it(adt, tmp_path):
    result = run(adt, legacy(tmp_path, "broken"))
    assert result.returncode == 2
    assert adt.sql("tasks", "SELECT id, status FROM tasks ORDER BY id") == [("d000000000000001", "pending"), ("d000000000000003", "completed")]
    assert any("task 'd000000000000002' ('Haunt the build') names project 'ghost'" in line for line in problems(result))
    assert "tasks: 2 imported, 0 already present, 1 skipped" in result.stdout


def test_a_skipped_task_imports_once_its_project_is_registered(adt, tmp_path):
    folder = legacy(tmp_path, "v0")
    tasks = json.loads((folder / "queue/tasks.json").read_text())
    tasks.append({"id": "e000000000000001", "project": "ghost", "task": "Boo"})
    (folder / "queue/tasks.json").write_text(json.dumps(tasks))
    assert run(adt, folder).returncode == 2
    assert adt.manage("register_project", "ghost", "/srv/ghost").returncode == 0
    again = run(adt, folder, "--json")
    assert again.returncode == 0, again
    assert counts(again)["tasks"] == {"imported": 1, "already_present": 4, "skipped": 0, "files_skipped": 0}
    assert adt.scalar("tasks", "SELECT project FROM tasks WHERE id = 'e000000000000001'") == "ghost"


def test_log_bytes_that_are_not_utf8_are_kept_escaped_with_a_warning(adt, tmp_path):
    folder = legacy(tmp_path, "broken")
    result = run(adt, folder)
    texts = [json.loads(d)["text"] for (d,) in adt.sql("logs", "SELECT data FROM events WHERE type = 'agent.log' ORDER BY id")]
    assert texts[1] == "2024-03-01T10:00:01Z ERROR compiler said \\xff\\xfe\\xfd garbage"
    assert len(texts) == 3
    assert f"warning: {folder}/logs/agents/app.log: 1 line(s) are not UTF-8 (line 2)" in result.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'[{"id": "x1", "project": "webapp", "task": "a"},', "invalid JSON: Expecting value at line 1 column"),
        (b'"a string"', "the top level must be a list of tasks or an object holding one, not a string"),
        (b'[{"id": "x1", "project": "webapp", "task": "a", "retries": "many"}]', "task 'x1': retry_count must be a whole number"),
        (b'[{"id": "x1", "project": "webapp", "task": "ok"}, {"id": "x2", "project": "webapp"}]', "task 'x2': description is missing"),
        (b'[{"id": "x1", "project": "webapp", "task": "a\xff"}]', "not UTF-8 text"),
    ],
)
def test_a_broken_task_file_skips_every_task_of_it_and_the_rest_imports(adt, tmp_path, content, reason):
    folder = legacy(tmp_path, "v0")
    (folder / "queue/tasks.json").write_bytes(content)
    result = run(adt, folder, "--json")
    assert result.returncode == 2
    assert result.json()["skipped_files"] == [{"path": f"{folder}/queue/tasks.json", "kind": "tasks", "reason": result.json()["skipped_files"][0]["reason"]}]
    assert reason in result.json()["skipped_files"][0]["reason"]
    assert adt.scalar("tasks", "SELECT count(*) FROM tasks") == 0
    assert counts(result)["tasks"]["files_skipped"] == 1
    assert counts(result)["projects"]["imported"] == 2 and counts(result)["events"]["imported"] == 5


def test_a_broken_config_skips_its_projects_and_what_needs_them(adt, tmp_path):
    folder = legacy(tmp_path, "v0")
    (folder / "config.yml").write_text("projects:\n  webapp: {path: /x\n")
    result = run(adt, folder, "--json")
    assert result.returncode == 2
    report = result.json()
    assert report["skipped_files"][0]["path"] == f"{folder}/config.yml"
    assert report["skipped_files"][0]["reason"].startswith("invalid YAML:")
    assert adt.scalar("main", "SELECT count(*) FROM projects") == 0
    # Agents and tasks need a project; the log is history and comes in anyway.
    assert report["counts"]["agents"]["files_skipped"] == 2
    assert report["counts"]["tasks"]["skipped"] == 4
    assert report["counts"]["events"]["imported"] == 5
    assert any("project 'webapp' is not registered; its log is imported" in w for w in report["warnings"])


# Growth, the summary event, bad arguments, concurrency ---------------------------


def test_lines_appended_to_a_log_later_are_imported_once(adt, tmp_path):
    folder = legacy(tmp_path, "v0")
    run(adt, folder)
    with open(folder / "logs/agents/webapp.log", "a") as log:
        log.write("[2024-03-02 08:00:00] INFO agent started again\n[2024-03-02 08:00:01] INFO idle\n")
    result = run(adt, folder, "--json")
    assert counts(result)["events"] == {"imported": 2, "already_present": 5, "skipped": 0, "files_skipped": 0}
    assert adt.scalar("logs", "SELECT count(*) FROM events WHERE type = 'agent.log'") == 7


def test_an_import_records_one_summary_event_and_a_run_with_nothing_new_none(adt, tmp_path):
    folder = legacy(tmp_path, "v0")
    run(adt, folder)
    run(adt, folder)
    rows = adt.sql("logs", "SELECT level, data FROM events WHERE type = 'legacy.imported'")
    assert len(rows) == 1
    level, data = rows[0][0], json.loads(rows[0][1])
    assert level == "info"
    assert data["from"] == str(folder) and data["counts"]["tasks"]["imported"] == 4 and data["complete"]


def test_a_missing_folder_is_a_one_line_error(adt, tmp_path):
    result = run(adt, tmp_path / "nowhere")
    assert result.returncode == 1
    assert problems(result) == [f"error: {tmp_path}/nowhere is not a directory"]
    assert "Traceback" not in result.stderr


def test_a_folder_without_legacy_files_is_a_one_line_error(adt, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run(adt, tmp_path / "empty")
    assert result.returncode == 1
    assert problems(result)[0].endswith("nothing to import")


def test_json_output_is_one_document_with_counts_skips_and_warnings(adt, tmp_path):
    result = run(adt, legacy(tmp_path, "broken"), "--json")
    report = json.loads(result.stdout)
    assert set(report) == {"from", "dry_run", "complete", "counts", "skipped_files", "warnings"}
    assert report["complete"] is False
    assert len(report["skipped_files"]) == 3 and len(report["warnings"]) == 2
    assert not [line for line in result.stderr.splitlines() if line.startswith(("skipped ", "warning: "))]


def test_two_imports_at_once_write_every_row_once(adt, tmp_path):
    folder = legacy(tmp_path, "v1")
    procs = [
        adt.popen("manage.py", "import_legacy", "--from", folder, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    reports = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    for kind, total in {"projects": 2, "agents": 2, "tasks": 5, "events": 7}.items():
        assert sum(r["counts"][kind]["imported"] for r in reports) == total, kind
    assert adt.scalar("tasks", "SELECT count(*) FROM tasks") == 5
    assert adt.scalar("logs", "SELECT count(*) FROM events WHERE type = 'agent.log'") == 7
    assert adt.scalar("logs", "SELECT count(DISTINCT json_extract(data, '$.key')) FROM events WHERE type = 'agent.log'") == 7


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_big_files_are_written_in_batches_not_row_by_row(tmp_path):
    folder = tmp_path / "big"
    (folder / "queue").mkdir(parents=True)
    (folder / "logs/agents").mkdir(parents=True)
    (folder / "config.yml").write_text("projects:\n  big: /srv/big\n")
    tasks = [{"id": f"{i:016x}", "project": "big", "description": f"task {i}"} for i in range(1200)]
    (folder / "queue/tasks.json").write_text(json.dumps(tasks))
    (folder / "logs/agents/big.log").write_text("".join(f"2024-01-01T00:00:00Z INFO line {i}\n" for i in range(1200)))
    with CaptureQueriesContext(connections["tasks"]) as task_queries, CaptureQueriesContext(connections["logs"]) as log_queries:
        report = legacy_import.run(folder)
    assert report.counts["tasks"].imported == 1200 and report.counts["events"].imported == 1200
    inserts = lambda queries, table: [q for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"')]  # noqa: E731
    # Django caps a batch by SQLite's 999 parameters: as many rows per INSERT
    # as fit, so far fewer statements than rows.
    most = lambda model: math.ceil(1200 / (999 // len(model._meta.concrete_fields)))  # noqa: E731
    assert 1 <= len(inserts(task_queries, "tasks")) <= most(Task) < 30
    assert 1 <= len(inserts(log_queries, "events")) <= most(Event) < 30


def test_without_migrated_databases_it_says_to_migrate(tmp_path):
    from tests.support import ADT

    result = ADT(tmp_path / "fresh").manage("import_legacy", "--from", FIXTURES / "v0")
    assert result.returncode == 1
    assert problems(result)[-1] == "error: database error: no such table: projects (run `python manage.py migrate`)"
