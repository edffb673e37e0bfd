"""Task time limits: a claim sets a deadline; past it the reaper takes the task back, even from a living agent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import lifecycle
from common.errors import Conflict, InvalidInput
from events.models import Event
from tasks import queue
from tasks.models import Task
from tests import factories
from tests.support import InProcess

# In-process (call_command) unless a test needs a process of its own.
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def overdue(task_id, seconds=1):
    """As if the task's deadline passed `seconds` ago."""
    Task.objects.filter(pk=task_id).update(deadline=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db(databases="__all__", transaction=True)
class TestInProcess:
    @pytest.fixture(autouse=True)
    def setup(self):
        factories.project("demo")
        factories.project("strict", config={"task_timeout": 60, "max_retries": 1})

    def test_a_claim_sets_the_deadline_from_the_tasks_own_time_limit(self):
        task = queue.enqueue("demo", "quick one", timeout=90)
        claimed = lifecycle.claim("demo", "demo")
        assert claimed.id == task.id and claimed.timeout == 90
        assert abs((claimed.deadline - claimed.started_at).total_seconds() - 90) < 0.01
        assert Task.objects.get(pk=task.id).deadline == claimed.deadline

    def test_without_its_own_limit_a_task_gets_its_projects_then_the_settings(self, settings):
        queue.enqueue("strict", "inherits 60 s")
        claimed = lifecycle.claim("strict", "strict")
        assert round((claimed.deadline - claimed.started_at).total_seconds()) == 60
        queue.enqueue("demo", "no limit anywhere")
        assert lifecycle.claim("demo", "demo").deadline is None
        settings.ADT_TASK_TIMEOUT = 30
        queue.enqueue("demo", "the setting's limit")
        claimed = lifecycle.claim("demo", "demo")
        assert round((claimed.deadline - claimed.started_at).total_seconds()) == 30

    def test_the_sweep_requeues_a_task_past_its_deadline_even_from_a_living_agent(self):
        task = queue.enqueue("demo", "hangs", timeout=5)
        lifecycle.claim("demo", "demo")
        lifecycle.heartbeat("demo", "working")  # alive and well
        assert lifecycle.sweep()["timed_out"] == []
        overdue(task.id)
        swept = lifecycle.sweep()
        assert swept == {"agents": [], "timed_out": [{"id": task.id, "agent": "demo", "status": "pending"}], "due": [], "recurring": []}
        task.refresh_from_db()
        assert (task.status, task.assigned_to, task.deadline, task.retry_count) == ("pending", None, None, 1)
        event = Event.objects.get(type="task.requeued", task_id=task.id)
        assert event.data["reason"] == "timeout" and event.agent == "demo" and event.level == "warn"
        assert "timed out" in event.data["error"]
        with pytest.raises(Conflict, match="is pending, not in progress"):
            queue.complete(task.id, "demo", result="too late")

    def test_a_task_that_keeps_timing_out_fails_once_its_retries_are_used_up(self):
        task = queue.enqueue("strict", "never finishes")
        for _ in range(2):
            lifecycle.claim("strict", "strict")
            overdue(task.id)
            lifecycle.sweep()
        task.refresh_from_db()
        assert task.status == "failed" and "timed out" in task.error and "gave up after 1 retries" in task.error
        assert list(Event.objects.filter(task_id=task.id).order_by("id").values_list("type", flat=True)) == [
            "task.created", "task.claimed", "task.requeued", "task.claimed", "task.failed",
        ]

    def test_the_holder_can_push_its_deadline_out_and_nobody_else_can(self):
        task = queue.enqueue("demo", "long haul", timeout=10)
        claimed = lifecycle.claim("demo", "demo")
        overdue(task.id, seconds=-2)  # two seconds left
        extended = queue.extend(task.id, "demo", seconds=600, lease=claimed.started_at)
        assert 599 < (extended.deadline - timezone.now()).total_seconds() <= 600
        assert lifecycle.sweep()["timed_out"] == []
        assert queue.extend(task.id, "demo").deadline < extended.deadline  # back to its own 10 s from now
        with pytest.raises(Conflict, match="held by 'demo', not 'strict'"):
            queue.extend(task.id, "strict", seconds=60)
        with pytest.raises(Conflict, match="claimed again since lease"):
            queue.extend(task.id, "demo", seconds=60, lease=claimed.started_at - timedelta(seconds=1))
        with pytest.raises(InvalidInput, match="whole number of seconds"):
            queue.extend(task.id, "demo", seconds=0)
        assert Event.objects.filter(type="task.extended", task_id=task.id).count() == 2

    def test_a_task_without_a_limit_needs_seconds_to_be_extended(self):
        task = queue.enqueue("demo", "open-ended")
        lifecycle.claim("demo", "demo")
        with pytest.raises(InvalidInput, match="has no time limit to extend; give --seconds"):
            queue.extend(task.id, "demo")
        assert queue.extend(task.id, "demo", seconds=30).deadline is not None

    def test_a_time_limit_must_be_a_positive_whole_number(self):
        for bad in (0, -5, 1.5, True, "10"):
            with pytest.raises(InvalidInput, match="whole number of seconds"):
                queue.enqueue("demo", "x", timeout=bad)
        with pytest.raises(InvalidInput, match="config 'task_timeout' must be a whole number of seconds, 1 or more"):
            factories.project("loose", config={"task_timeout": 0})
        with pytest.raises(InvalidInput, match="config 'max_retries' must be a whole number, 0 or more"):
            factories.project("loose", config={"max_retries": -1})
        assert not Task.objects.exists()


@pytest.fixture
def home():
    adt = InProcess()
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    return adt


def test_a_timed_out_task_is_requeued_by_the_reaper_and_its_holders_late_completion_is_refused(home):
    added = home.manage("add_task", "--project", "demo", "--description", "hangs", "--timeout", "600", "--json").json()
    assert added["timeout"] == 600
    claimed = home.manage("claim_task", "--agent", "demo", "--json").json()
    assert claimed["deadline"] is not None and claimed["deadline"] > claimed["started_at"]
    assert home.manage("reap_stale_agents", "--json").json()["timed_out"] == []
    home.sql("tasks", "UPDATE tasks SET deadline = '2000-01-01 00:00:00'")
    dry = home.manage("reap_stale_agents", "--dry-run")
    assert dry.stdout.splitlines()[-1] == f"would take back 1 task(s) past their deadline: {added['id']}"
    reaped = home.manage("reap_stale_agents")
    assert reaped.returncode == 0
    assert reaped.stdout.splitlines() == ["reaped no agents", f"took back 1 task(s) past their deadline: {added['id']}"]
    assert home.sql("tasks", "SELECT status, assigned_to, retry_count FROM tasks") == [("pending", None, 1)]
    late = home.manage("complete_task", added["id"], "--agent", "demo", "--lease", claimed["lease"], "--result", "late")
    assert late.returncode == 4 and late.stderr.startswith(f"error: task {added['id']} is pending, not in progress")
    [(data,)] = home.sql("logs", "SELECT data FROM events WHERE type = 'task.requeued'")
    assert '"reason": "timeout"' in data


def test_extend_task_pushes_the_deadline_for_the_holder_only(home):
    assert home.manage("register_project", "other", "/srv/other").returncode == 0
    task_id = home.manage("add_task", "--project", "demo", "--description", "x", "--timeout", "30", "--json").json()["id"]
    claimed = home.manage("claim_task", "--agent", "demo", "--json").json()
    extended = home.manage("extend_task", task_id, "--agent", "demo", "--seconds", "3600", "--lease", claimed["lease"], "--json")
    assert extended.returncode == 0, extended.stderr
    assert extended.json()["deadline"] > claimed["deadline"]
    assert home.manage("extend_task", task_id, "--agent", "demo").stdout.startswith("extended to ")
    refused = home.manage("extend_task", task_id, "--agent", "other", "--seconds", "60")
    assert refused.returncode == 4 and refused.stderr.count("\n") == 1
    bad = home.manage("extend_task", task_id, "--agent", "demo", "--seconds", "0")
    assert bad.returncode == 1 and bad.stderr.startswith("error: --seconds must be a whole number of seconds")


def test_a_bad_time_limit_is_refused_with_one_line_and_nothing_written(home):
    before = home.snapshot()
    for args, status in ((["--timeout", "0"], 1), (["--timeout", "soon"], 2)):
        result = home.subprocess("add_task", "--project", "demo", "--description", "x", *args)
        assert result.returncode == status and "Traceback" not in result.stderr
    bad_config = home.manage("register_project", "demo", "/srv/demo", "--config", '{"task_timeout": "1h"}')
    assert bad_config.returncode == 1
    assert bad_config.stderr == "error: config 'task_timeout' must be a whole number of seconds, 1 or more, not '1h'\n"
    assert home.snapshot() == before


def test_an_agent_waiting_for_work_enforces_time_limits_without_cron(home):
    assert home.manage("register_project", "waiter", "/srv/waiter").returncode == 0
    task_id = home.manage("add_task", "--project", "demo", "--description", "hangs", "--timeout", "1", "--json").json()["id"]
    assert home.manage("claim_task", "--agent", "demo").returncode == 0
    home.sql("tasks", "UPDATE tasks SET deadline = '2000-01-01 00:00:00'")
    # Another agent waits on its own (empty) project; its sweep takes the task back.
    waited = home.subprocess("claim_task", "--agent", "waiter", "--wait", "1")  # a waiting process of its own
    assert waited.returncode == 3
    assert home.sql("tasks", "SELECT id, status FROM tasks") == [(task_id, "pending")]
