"""Commands say things once: a usage error is one `error:` line with exit 2, choices by
their values, and register_project refuses bad input with exit 1, writing nothing.
Real processes: only argparse's own exit gives status 2."""

import pytest


@pytest.fixture
def home(adt):
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    return adt


def one_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    return lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["add_task", "--project", "demo", "--description", "x", "--colour", "red"], "unrecognized arguments: --colour red"),
        (["add_task", "--project", "demo"], "the following arguments are required: --description"),
        (["add_task", "--project", "demo", "--description", "x", "--priority", "asap"],
         "argument --priority: invalid choice: 'asap' (choose from 'urgent', 'high', 'normal', 'low')"),
        (["heartbeat", "--agent", "demo", "--status", "sleeping"],
         "argument --status: invalid choice: 'sleeping' (choose from 'working', 'idle')"),
        (["end_run", "1", "--exit-code", "0", "--status", "paused"], "invalid choice: 'paused' (choose from 'stopped')"),
        (["register_project", "only-a-name"], "the following arguments are required: path"),
        (["add_task", "--project", "demo", "--description", "x", "--timeout", "soon"], "argument --timeout: invalid int value: 'soon'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(home, args, message):
    before = home.snapshot()
    result = home.manage(*args)
    assert result.returncode == 2, result
    assert message in one_line(result)
    assert "usage:" not in result.stderr and "Enum" not in result.stderr and "AgentStatus" not in result.stderr
    assert result.stdout == ""
    assert home.snapshot() == before


def test_help_still_prints_the_whole_usage(home):
    result = home.manage("add_task", "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: ") and "--priority {urgent,high,normal,low}" in result.stdout
    assert len(result.stdout.splitlines()) > 10


def test_heartbeat_with_a_valid_status_still_works(home):
    result = home.manage("heartbeat", "--agent", "demo", "--status", "idle")
    assert result.returncode == 0, result
    assert result.stdout.startswith("demo idle at ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["register_project", "web", "relative/path"], "a project's path must be absolute (start with /), not 'relative/path'"),
        (["register_project", "web", "./web"], "must be absolute"),
        (["register_project", "a/b", "/srv/ab"],
         "a project name may hold only letters, digits, '-', '_' and '.', starting with a letter or digit"),
        (["register_project", "--", "-web", "/srv/web"], "not '-web'"),
        (["register_project", ".hidden", "/srv/web"], "starting with a letter or digit"),
        (["register_project", "two words", "/srv/web"], "not 'two words'"),
        (["register_project", "café", "/srv/web"], "letters, digits"),
        (["register_project", "web", "/srv/web", "--config", '{"max_retries": -1}'],
         "config 'max_retries' must be a whole number, 0 or more, not -1"),
        (["register_project", "web", "/srv/web", "--config", '{"task_timeout": 0}'], "config 'task_timeout' must be"),
        (["register_project", "web", "/srv/web", "--config", '{"max_retries": "3"}'], "not '3'"),
        (["register_project", "demo", "srv/demo"], "must be absolute"),  # an update is checked too
    ],
)
def test_register_project_refuses_bad_input_with_one_line_exit_1_and_writes_nothing(home, args, message):
    before = home.snapshot()
    result = home.manage(*args)
    assert result.returncode == 1, result
    assert message in one_line(result)
    assert home.snapshot() == before


@pytest.mark.parametrize("name", ["web", "Web-2", "api_v1", "my.project", "9lives"])
def test_register_project_accepts_simple_names(home, name):
    result = home.manage("register_project", name, f"/srv/{name}")
    assert result.returncode == 0, result
