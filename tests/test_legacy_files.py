"""The readers of each legacy file kind: what each accepts, and why a file is refused whole."""

import json
from datetime import UTC, datetime

import pytest

from legacy import config_file, state_files, tasks_file
from legacy.values import Malformed

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def read_config(tmp_path, text):
    path = tmp_path / "config.yml"
    path.write_text(text)
    warnings = []
    return config_file.read(path, warnings.append), warnings


def read_tasks(tmp_path, doc):
    path = tmp_path / "tasks.json"
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    warnings = []
    return tasks_file.read(path, warnings.append, NOW), warnings


def read_state(tmp_path, name, doc):
    path = tmp_path / f"{name}.state.json"
    path.write_text(json.dumps(doc))
    warnings = []
    return state_files.read(path, warnings.append), warnings


# config.yml -------------------------------------------------------------------


def test_config_projects_may_be_a_mapping_with_bare_paths(tmp_path):
    (web, docs), _ = read_config(tmp_path, "projects:\n  web:\n    path: /w\n    worktree: main\n    max_retries: 5\n  docs: /d\n")
    assert (web.name, web.path, web.worktree, web.config) == ("web", "/w", "main", {"max_retries": 5})
    assert (docs.name, docs.path, docs.provider, docs.config) == ("docs", "/d", None, {})


def test_config_projects_may_be_a_list_and_defaults_fill_in_what_a_project_leaves_out(tmp_path):
    text = (
        "defaults:\n  provider: claude\n  settings: {max_retries: 2, labels: [x]}\n"
        "projects:\n"
        "  - {name: api, path: /a, agent: {provider: cursor, worktree: w, model: m}, settings: {max_retries: 4}}\n"
        "  - {name: site, path: /s, agent: aider}\n"
        "  - {name: 2048, path: /g}\n"
    )
    (api, site, game), _ = read_config(tmp_path, text)
    assert (api.provider, api.worktree, api.agent_config, api.config) == ("cursor", "w", {"model": "m"}, {"max_retries": 4, "labels": ["x"]})
    assert (site.provider, site.config) == ("aider", {"max_retries": 2, "labels": ["x"]})
    assert (game.name, game.provider) == ("2048", "claude")


def test_an_empty_config_has_no_projects(tmp_path):
    assert read_config(tmp_path, "# nothing yet\n") == ([], [])


def test_top_level_settings_that_are_not_per_project_are_named_in_a_warning(tmp_path):
    _, warnings = read_config(tmp_path, "poll_interval: 5\nlog_level: debug\nprojects: {a: /a}\n")
    assert warnings == ["top-level settings not imported (they are not per project): log_level, poll_interval"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("projects:\n  a: {path: /a\n", "invalid YAML: "),
        ("projects:\n\ta: /a\n", "invalid YAML: "),
        ("- a\n- b\n", "the top level must be a mapping with 'projects', not a list"),
        ("web:\n  path: /w\n", "no 'projects' key at the top level"),
        ("projects: 5\n", "'projects' must be a mapping or a list, not a number"),
        ("projects:\n  a: {worktree: main}\n", "project 'a': path is missing"),
        ("projects:\n  a: [1, 2]\n", "project 'a' must be a mapping, not a list"),
        ("projects:\n  - {path: /a}\n", "project name None must be a non-empty string"),
        ("projects:\n  - {name: a, path: /a}\n  - {name: a, path: /b}\n", "project 'a' is listed twice"),
        ("projects:\n  a: {path: /a, provider: x, agent: {provider: y}}\n", "provider is given twice with different values (x, y)"),
        ("projects:\n  a: {path: /a, settings: [1]}\n", "project 'a': settings must be a mapping, not a list"),
        ("projects:\n  a: {path: {nested: 1}}\n", "project 'a': path must be a string, not an object"),
        ("projects:\n  a: {path: /a, key: !!binary aGVsbG8=}\n", "cannot be stored as JSON"),
        ("projects:\n  a: !!python/object:os.system {}\n", "invalid YAML: "),
    ],
)
def test_a_config_that_does_not_fit_is_malformed_with_a_reason(tmp_path, text, reason):
    with pytest.raises(Malformed) as e:
        read_config(tmp_path, text)
    assert reason in str(e.value)
    assert "\n" not in str(e.value)


# agents/{project}.state.json -------------------------------------------------------


def test_a_state_file_keeps_what_it_does_not_know_in_the_agent_config(tmp_path):
    state, _ = read_state(tmp_path, "web", {"status": "running", "last_heartbeat": 1709294400, "pid": 1, "worktree": "main"})
    assert (state.name, state.status, state.worktree, state.config) == ("web", "working", "main", {"pid": 1})
    assert state.last_heartbeat == datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"agent": "other"}, "named for project 'web' but says it is 'other'"),
        ({"status": 3}, "status must be a string"),
        ({"heartbeat": [1]}, "last heartbeat must be a timestamp"),
        ({"provider": {"name": "x"}}, "provider must be a string"),
    ],
)
def test_a_state_file_that_does_not_fit_is_malformed(tmp_path, doc, reason):
    with pytest.raises(Malformed, match=reason.replace("(", r"\(")):
        read_state(tmp_path, "web", doc)


# queue/tasks.json ---------------------------------------------------------------

GOOD = {"id": "t1", "project": "web", "description": "do it"}


@pytest.mark.parametrize("wrap", [lambda t: t, lambda t: {"tasks": t, "version": 1}, lambda t: {"queue": t, "schema": 2}])
def test_tasks_may_be_a_list_or_an_object_holding_one(tmp_path, wrap):
    (task,), _ = read_tasks(tmp_path, wrap([GOOD]))
    assert task["id"] == "t1" and task["status"] == "pending" and task["priority"] == "normal"
    assert task["created_at"] == NOW  # missing: the file's mtime, as passed in


def test_unknown_task_fields_join_its_metadata_without_overwriting_it(tmp_path):
    (task,), warnings = read_tasks(tmp_path, [{**GOOD, "metadata": {"issue": 1, "tags": ["a"]}, "tags": ["b"], "owner": "me"}])
    assert task["metadata"] == {"issue": 1, "tags": ["a"], "legacy_tags": ["b"], "owner": "me"}
    assert warnings == ["task 't1': field 'tags' is set twice; the second is kept as 'legacy_tags'"]


def test_a_task_listed_twice_the_same_way_is_imported_once(tmp_path):
    tasks, warnings = read_tasks(tmp_path, [GOOD, dict(GOOD)])
    assert len(tasks) == 1 and warnings == ["task 't1' is listed twice; imported once"]


def test_a_second_alias_of_a_field_is_kept_in_metadata(tmp_path):
    (task,), _ = read_tasks(tmp_path, [{**GOOD, "title": "Short title"}])
    assert task["description"] == "do it" and task["metadata"] == {"title": "Short title"}


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"[", "invalid JSON: Expecting value at line 1 column 2"),
        (b'[{"id": "t1", "project": "web", "description": "caf\xe9"}]', "not UTF-8 text"),
        (42, "the top level must be a list of tasks or an object holding one, not a number"),
        ({"items": []}, "exactly one of 'tasks' or 'queue'"),
        ({"tasks": [], "queue": []}, "exactly one of 'tasks' or 'queue'"),
        ({"tasks": {"t1": GOOD}}, "'tasks' must be a list of tasks, not an object"),
        ([GOOD, "t2"], "task #2 must be an object, not a string"),
        ([{**GOOD, "id": None}], "task #1: id is missing"),
        ([{**GOOD, "id": ["t1"]}], "task #1: id must be a string, not a list"),
        ([{"id": "t1", "description": "x"}], "task 't1': project is missing"),
        ([{**GOOD, "description": "  "}], "task 't1': description is empty"),
        ([{**GOOD, "description": {"text": "x"}}], "task 't1': description must be a string, not an object"),
        ([{**GOOD, "priority": ["high"]}], "task 't1': priority must be a name or a number, not a list"),
        ([{**GOOD, "priority": 1.5}], "task 't1': priority must be a whole number"),
        ([{**GOOD, "status": 2}], "task 't1': status must be a string, not a number"),
        ([{**GOOD, "created_at": True}], "task 't1': created_at must be a timestamp, not a boolean"),
        ([{**GOOD, "started_at": "last tuesday"}], "task 't1': started_at is not an ISO-8601 timestamp"),
        ([{**GOOD, "retry_count": -1}], "task 't1': retry_count must be a whole number of at least 0"),
        ([{**GOOD, "retries": "many"}], "task 't1': retry_count must be a whole number of at least 0"),
        ([GOOD, {**GOOD, "description": "other"}], "task id 't1' is listed twice with different contents"),
    ],
)
def test_a_task_file_that_does_not_fit_is_malformed_with_a_one_line_reason(tmp_path, doc, reason):
    with pytest.raises(Malformed) as e:
        read_tasks(tmp_path, doc)
    assert reason in str(e.value)
    assert "\n" not in str(e.value)


def test_results_that_are_not_text_are_kept_as_their_json(tmp_path):
    (task,), _ = read_tasks(tmp_path, [{**GOOD, "status": "done", "result": {"pr": 7}, "error": 3}])
    assert task["result"] == '{"pr": 7}' and task["error"] == "3"
