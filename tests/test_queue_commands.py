"""The queue's commands as agents and scripts run them: output, exit codes, no half-writes."""

import getpass
import json

import pytest

from tests.support import InProcess

# In-process (call_command) unless a test needs a process of its own.
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CLAIM_KEYS = {"id", "project", "description", "priority", "status", "assigned_to", "created_at", "started_at", "retry_count", "metadata"}


@pytest.fixture
def cli():
    return InProcess()


@pytest.fixture
def home(cli):
    adt = cli
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    assert adt.manage("register_project", "helper", "/srv/helper", "--provider", "claude", "--worktree", "wt1").returncode == 0
    return adt


def test_register_project_creates_the_project_and_its_agent(cli):
    adt = cli
    result = adt.manage("register_project", "demo", "/srv/demo", "--worktree", "main", "--config", '{"max_retries": 5}', "--json")
    assert result.returncode == 0, result.stderr
    data = result.json()
    assert (data["name"], data["path"], data["created"], data["config"]) == ("demo", "/srv/demo", True, {"max_retries": 5})
    assert adt.sql("main", "SELECT name, path, config FROM projects") == [("demo", "/srv/demo", '{"max_retries": 5}')]
    assert adt.sql("main", "SELECT project, provider, preferred_worktree, status FROM agents") == [("demo", "cursor", "main", "idle")]
    text = adt.manage("register_project", "demo", "/srv/elsewhere")
    assert text.stdout.strip() == "updated project demo at /srv/elsewhere (agent provider cursor)"


def test_add_task_prints_the_task_with_its_id(home):
    result = home.manage("add_task", "--project", "demo", "--description", "fix the build", "--priority", "high", "--metadata", '{"pr": 12}', "--json")
    assert result.returncode == 0, result.stderr
    task = result.json()
    assert task["status"] == "pending" and task["priority"] == "high" and task["metadata"] == {"pr": 12}
    assert home.sql("tasks", "SELECT id, description FROM tasks") == [(task["id"], "fix the build")]
    text = home.manage("add_task", "--project", "demo", "--description", "second")
    assert text.returncode == 0 and text.stdout.startswith("added ") and "second" in text.stdout


def test_claim_task_prints_the_task_as_json_and_exits_3_when_empty(home):
    added = home.manage("add_task", "--project", "demo", "--description", "one", "--json").json()
    result = home.manage("claim_task", "--agent", "demo", "--json")
    assert result.returncode == 0, result.stderr
    claimed = result.json()
    assert CLAIM_KEYS <= set(claimed)
    assert (claimed["id"], claimed["status"], claimed["assigned_to"]) == (added["id"], "in_progress", "demo")
    assert claimed["started_at"] is not None
    empty = home.manage("claim_task", "--agent", "demo", "--json")
    assert (empty.returncode, empty.stdout, empty.stderr) == (3, "", "")


def test_claim_task_takes_from_its_own_project_unless_told_otherwise(home):
    home.manage("add_task", "--project", "demo", "--description", "for demo")
    assert home.manage("claim_task", "--agent", "helper").returncode == 3
    result = home.manage("claim_task", "--agent", "helper", "--project", "demo")
    assert result.returncode == 0 and result.stdout.startswith("claimed ") and "for demo" in result.stdout
    assert home.sql("main", "SELECT status FROM agents WHERE project='helper'") == [("working",)]


def test_claim_task_wait_picks_up_a_task_added_meanwhile(home):
    import subprocess
    import time

    before = home.scalar("main", "SELECT last_heartbeat FROM agents WHERE project = 'demo'")
    waiting = home.popen("manage.py", "claim_task", "--agent", "demo", "--wait", "20", "--json", stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    # Its first claim found nothing (and beat): it is waiting now.
    while home.scalar("main", "SELECT last_heartbeat FROM agents WHERE project = 'demo'") == before:
        assert time.monotonic() < deadline and waiting.poll() is None
        time.sleep(0.05)
    home.manage("add_task", "--project", "demo", "--description", "late arrival")
    out, _ = waiting.communicate(timeout=30)
    assert waiting.returncode == 0
    assert json.loads(out)["description"] == "late arrival"


def test_claim_task_wait_gives_up_with_status_3(home):
    result = home.manage("claim_task", "--agent", "demo", "--wait", "0.5")
    assert (result.returncode, result.stdout) == (3, "")


def test_complete_and_fail_task_need_the_holder(home):
    first = home.manage("add_task", "--project", "demo", "--description", "a", "--json").json()["id"]
    home.manage("claim_task", "--agent", "demo")
    wrong = home.manage("complete_task", first, "--agent", "helper")
    assert wrong.returncode == 4
    assert wrong.stderr.strip() == f"error: task {first} is held by 'demo', not 'helper' (it was probably requeued and claimed again)"
    done = home.manage("complete_task", first, "--agent", "demo", "--result", "merged", "--json")
    assert done.returncode == 0 and done.json()["status"] == "completed" and done.json()["result"] == "merged"

    second = home.manage("add_task", "--project", "demo", "--description", "b", "--json").json()["id"]
    home.manage("claim_task", "--agent", "demo")
    failed = home.manage("fail_task", second, "--agent", "demo", "--error", "tests red", "--json").json()
    assert (failed["status"], failed["retry_count"], failed["error"]) == ("pending", 1, "tests red")


def test_cancel_retry_requeue_and_set_priority(home):
    task = home.manage("add_task", "--project", "demo", "--description", "a", "--json").json()["id"]
    assert home.manage("set_priority", task, "urgent", "--json").json()["priority"] == "urgent"
    assert home.manage("cancel_task", task, "--json").json()["status"] == "cancelled"
    assert home.manage("retry_task", task, "--json").json()["status"] == "pending"
    home.manage("claim_task", "--agent", "demo")
    requeued = home.manage("requeue_task", task, "--json").json()
    assert (requeued["status"], requeued["assigned_to"]) == ("pending", None)
    assert home.manage("cancel_task", task).stdout.startswith("cancelled ")
    types = [t for (t,) in home.sql("logs", "SELECT type FROM events WHERE task_id=? ORDER BY id", (task,))]
    assert types == ["task.created", "task.reprioritized", "task.cancelled", "task.retried", "task.claimed", "task.requeued", "task.cancelled"]
    # Each change made from the command line says who ran it, as the web's say "web:NAME".
    by = {t: json.loads(d).get("by") for t, d in home.sql("logs", "SELECT type, data FROM events WHERE task_id=?", (task,))}
    me = f"cli:{getpass.getuser()}"
    assert by == {"task.created": me, "task.reprioritized": me, "task.cancelled": me, "task.retried": me,
                  "task.claimed": None, "task.requeued": me}


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["add_task", "--project", "ghost", "--description", "x"], 1, "error: unknown project 'ghost'"),
        (["add_task", "--project", "demo", "--description", "x", "--metadata", "{oops"], 1, "error: --metadata is not valid JSON"),
        (["add_task", "--project", "demo", "--description", "x", "--priority", "asap"], 2, "invalid choice: 'asap'"),
        (["claim_task", "--agent", "nobody"], 1, "error: unknown agent 'nobody'"),
        (["claim_task", "--agent", "demo", "--project", "ghost"], 1, "error: unknown project 'ghost'"),
        (["complete_task", "nope", "--agent", "demo"], 1, "error: no task with id 'nope'"),
        (["complete_task", "PENDING", "--agent", "demo"], 4, "is pending, not in progress"),
        (["retry_task", "PENDING"], 4, "only failed or cancelled tasks can be retried"),
        (["set_priority", "PENDING", "someday"], 2, "invalid choice: 'someday'"),
        (["register_project", "x", "/p", "--config", "[1, 2]"], 1, "error: --config must be a JSON object"),
        (["complete_task", "PENDING", "--agent", "demo", "--lease", "yesterday"], 1, "error: --lease must be an ISO-8601"),
    ],
)
def test_bad_input_is_one_line_on_stderr_a_nonzero_exit_and_writes_nothing(home, args, status, message):
    pending = home.manage("add_task", "--project", "demo", "--description", "keep me", "--json").json()["id"]
    args = [pending if a == "PENDING" else a for a in args]
    before = home.snapshot()
    result = home.subprocess(*args)  # what an agent's process prints and exits with
    assert result.returncode == status, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    # Usage errors too (exit 2): one line, not argparse's usage first.
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert home.snapshot() == before


def test_a_missing_database_is_a_clear_error_not_a_traceback(tmp_path):
    from tests.support import ADT

    result = ADT(tmp_path).manage("claim_task", "--agent", "demo")
    assert result.returncode == 1
    assert "no such table" in result.stderr and "migrate" in result.stderr
    assert "Traceback" not in result.stderr
