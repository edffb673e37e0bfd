"""Heartbeats, run history, agent status and reaping the dead."""

import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from agents import lifecycle
from agents.models import Agent
from common.errors import Conflict, InvalidInput, NotFound
from events.models import AgentRun, Event
from tasks import queue
from tasks.models import Task
from tests import factories
from tests.support import InProcess

# In-process (call_command) unless a test needs a process of its own.
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def silence(name, seconds):
    Agent.objects.filter(pk=name).update(last_heartbeat=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db(databases="__all__", transaction=True)
class TestInProcess:
    @pytest.fixture(autouse=True)
    def setup(self):
        factories.project("demo")
        factories.project("rescuer")

    def test_heartbeat_sets_last_heartbeat_and_status(self):
        agent = lifecycle.heartbeat("demo", "working")
        assert agent.status == "working" and agent.heartbeat_age() < 5
        assert lifecycle.heartbeat("demo").status == "working"  # no --status keeps it

    def test_heartbeat_of_an_unknown_agent_is_not_found(self):
        with pytest.raises(NotFound):
            lifecycle.heartbeat("ghost")
        with pytest.raises(InvalidInput):
            lifecycle.heartbeat("demo", "stale")

    def test_the_reaper_marks_silent_working_agents_stale_and_requeues_their_tasks(self):
        task = factories.task()
        lifecycle.claim("demo", "demo")
        run = lifecycle.start_run("demo", task=task.id)
        silence("demo", 60)
        [reaped] = lifecycle.reap_stale(threshold=30)
        assert reaped["requeued"] == [task.id]
        assert reaped["runs_closed"] == [run.id]
        assert Agent.objects.get(pk="demo").status == "stale"
        task = Task.objects.get(pk=task.id)
        assert (task.status, task.assigned_to, task.retry_count) == ("pending", None, 1)
        run = AgentRun.objects.get(pk=run.id)
        assert (run.status, run.ended_at is not None) == ("error", True)
        assert "stopped heartbeating" in run.error
        types = set(Event.objects.values_list("type", flat=True))
        assert {"agent.stale", "task.requeued", "agent.error"} <= types

    def test_the_reaper_leaves_agents_that_beat_recently(self):
        factories.task()
        lifecycle.claim("demo", "demo")
        silence("demo", 5)
        assert lifecycle.reap_stale(threshold=30) == []
        assert Agent.objects.get(pk="demo").status == "working"

    def test_a_silent_idle_agent_that_still_holds_a_task_is_reaped_too(self):
        task = factories.task()
        lifecycle.claim("demo", "demo")
        Agent.objects.filter(pk="demo").update(status="idle")
        silence("demo", 60)
        assert [r["requeued"] for r in lifecycle.reap_stale(threshold=30)] == [[task.id]]

    def test_past_the_retry_limit_a_reaped_task_fails_with_a_clear_error(self, settings):
        settings.ADT_MAX_RETRIES = 0
        task = factories.task()
        lifecycle.claim("demo", "demo")
        silence("demo", 60)
        [reaped] = lifecycle.reap_stale(threshold=30)
        assert reaped["failed"] == [task.id]
        task = Task.objects.get(pk=task.id)
        assert task.status == "failed"
        assert task.error == "agent demo stopped heartbeating; gave up after 0 retries"

    def test_dry_run_reports_and_changes_nothing(self):
        task = factories.task()
        lifecycle.claim("demo", "demo")
        silence("demo", 60)
        events = Event.objects.count()
        [would] = lifecycle.reap_stale(threshold=30, dry_run=True)
        assert would["requeued"] == [task.id]
        assert Agent.objects.get(pk="demo").status == "working"
        assert Task.objects.get(pk=task.id).status == "in_progress"
        assert Event.objects.count() == events

    def test_a_reaper_killed_half_way_is_finished_by_the_next(self):
        task = factories.task()
        lifecycle.claim("demo", "demo")
        # As if the last reaper died right after marking the agent stale.
        Agent.objects.filter(pk="demo").update(status="stale")
        [reaped] = lifecycle.reap_stale(threshold=30)
        assert reaped["requeued"] == [task.id]

    def test_a_stale_agent_that_beats_again_comes_back_and_says_so(self):
        silence("demo", 60)
        Agent.objects.filter(pk="demo").update(status="stale")
        assert lifecycle.heartbeat("demo").status == "idle"
        assert Event.objects.filter(type="agent.recovered", agent="demo").count() == 1
        assert lifecycle.heartbeat("demo", "working").status == "working"

    def test_a_claim_that_finds_nothing_leaves_an_idle_agent_idle_and_unreaped(self):
        assert lifecycle.claim("demo", "demo") is None
        agent = Agent.objects.get(pk="demo")
        assert agent.status == "idle" and agent.heartbeat_age() < 5
        silence("demo", 60)
        assert lifecycle.reap_stale(threshold=30) == []
        assert not Event.objects.filter(type="agent.stale").exists()

    def test_a_claim_that_gets_a_task_makes_the_agent_working(self):
        factories.task()
        assert lifecycle.claim("demo", "demo") is not None
        assert Agent.objects.get(pk="demo").status == "working"

    def test_a_stale_agent_that_claims_again_comes_back_with_one_recovered_event(self):
        Agent.objects.filter(pk="demo").update(status="stale")
        assert lifecycle.claim("demo", "demo") is None
        assert Agent.objects.get(pk="demo").status == "idle"
        factories.task()
        assert lifecycle.claim("demo", "demo") is not None
        assert Agent.objects.get(pk="demo").status == "working"
        [event] = Event.objects.filter(type="agent.recovered", agent="demo")
        assert event.data == {"status": "idle"}

    def test_a_stale_agents_late_complete_on_a_reclaimed_task_fails_and_changes_nothing(self):
        task = factories.task()
        lifecycle.claim("demo", "demo")
        silence("demo", 60)
        lifecycle.reap_stale(threshold=30)
        lifecycle.claim("rescuer", "demo")
        with pytest.raises(Conflict, match="held by 'rescuer', not 'demo'"):
            queue.complete(task.id, "demo")
        with pytest.raises(Conflict):
            queue.fail(task.id, "demo", error="late")
        task = Task.objects.get(pk=task.id)
        assert (task.status, task.assigned_to) == ("in_progress", "rescuer")
        assert queue.complete(task.id, "rescuer").status == "completed"

    def test_runs_record_start_and_end(self):
        run = lifecycle.start_run("demo", log_path="/tmp/demo.log", provider="claude")
        assert (run.status, run.provider, run.log_path) == ("running", "claude", "/tmp/demo.log")
        ended = lifecycle.end_run(run.id, exit_code=0)
        assert (ended.status, ended.exit_code) == ("completed", 0)
        with pytest.raises(Conflict, match="already ended"):
            lifecycle.end_run(run.id, exit_code=0)
        failed = lifecycle.end_run(lifecycle.start_run("demo").id, exit_code=2, error="crashed")
        assert (failed.status, failed.error) == ("error", "crashed")
        stopped = lifecycle.end_run(lifecycle.start_run("demo").id, exit_code=143, status="stopped")
        assert stopped.status == "stopped"
        types = list(Event.objects.filter(type__startswith="agent.").order_by("id").values_list("type", flat=True))
        assert types == ["agent.started", "agent.stopped", "agent.started", "agent.error", "agent.started", "agent.stopped"]

    def test_overview_shows_state_heartbeat_current_task_and_last_run(self):
        task = factories.task()
        lifecycle.claim("demo", "demo")
        run = lifecycle.start_run("demo", task=task.id)
        rows = {row["agent"].name: row for row in lifecycle.overview()}
        assert rows["demo"]["tasks"] == [task.id]
        assert rows["demo"]["last_run"].id == run.id
        assert rows["rescuer"]["tasks"] == [] and rows["rescuer"]["heartbeat_age"] is None


@pytest.fixture
def home():
    adt = InProcess()
    for name in ("demo", "rescuer"):
        assert adt.manage("register_project", name, f"/srv/{name}").returncode == 0
    return adt


def test_commands_for_heartbeat_runs_and_status(home):
    beat = home.manage("heartbeat", "--agent", "demo", "--status", "working", "--json")
    assert beat.returncode == 0 and beat.json()["status"] == "working"
    run_id = home.manage("start_run", "--agent", "demo", "--log-path", "/tmp/x.log").stdout.strip()
    assert run_id.isdigit()
    status = home.manage("agent_status")
    assert status.returncode == 0
    assert status.stdout.splitlines()[0].split() == ["AGENT", "STATUS", "HEARTBEAT", "TASK", "QUEUE", "LAST", "RUN"]
    assert any(line.startswith("demo") and f"#{run_id} running" in line for line in status.stdout.splitlines())
    data = home.manage("agent_status", "--json").json()
    demo = next(a for a in data["agents"] if a["agent"] == "demo")
    assert demo["status"] == "working" and demo["last_run"]["id"] == int(run_id)
    ended = home.manage("end_run", run_id, "--exit-code", "1", "--error", "tests failed", "--json").json()
    assert (ended["status"], ended["exit_code"]) == ("error", 1)
    again = home.manage("end_run", run_id, "--exit-code", "0")
    assert again.returncode == 4 and again.stderr.strip() == f"error: run {run_id} already ended (error)"
    assert home.manage("heartbeat", "--agent", "ghost").returncode == 1


def test_heartbeats_racing_on_a_stale_agent_write_one_recovered_event(home):
    home.sql("main", "UPDATE agents SET status = 'stale' WHERE project = 'demo'")
    procs = [home.popen("manage.py", "heartbeat", "--agent", "demo", stdout=subprocess.DEVNULL) for _ in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    assert home.scalar("logs", "SELECT COUNT(*) FROM events WHERE type = 'agent.recovered'") == 1
    assert home.sql("main", "SELECT status FROM agents WHERE project = 'demo'") == [("idle",)]


def test_reap_command_fences_the_dead_agent(home):
    task = home.manage("add_task", "--project", "demo", "--description", "x", "--json").json()["id"]
    home.manage("claim_task", "--agent", "demo")
    dry = home.manage("reap_stale_agents", "--threshold", "0", "--dry-run", "--json").json()
    assert dry["dry_run"] and dry["agents"][0]["requeued"] == [task]
    assert home.scalar("tasks", "SELECT status FROM tasks") == "in_progress"
    reaped = home.manage("reap_stale_agents", "--threshold", "0")
    assert reaped.stdout.strip() == "reaped demo: 1 task(s) requeued, 0 failed, 0 run(s) closed"
    assert home.manage("claim_task", "--agent", "rescuer", "--project", "demo").returncode == 0
    before = home.snapshot()
    late = home.manage("complete_task", task, "--agent", "demo", "--result", "too late")
    assert late.returncode == 4
    assert late.stderr.strip() == f"error: task {task} is held by 'rescuer', not 'demo' (it was probably requeued and claimed again)"
    assert home.snapshot() == before
    assert home.manage("reap_stale_agents").stdout.strip() == "reaped no agents"
