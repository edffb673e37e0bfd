"""Pausing a project: pause_project / resume_project."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import lifecycle
from common.errors import Conflict, NotFound
from events.models import Event
from tasks import pausing, queue
from tasks.models import Task
from tests import factories
from tests.support import InProcess

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def projects():
    factories.project("demo")
    factories.project("other")


@pytest.fixture
def cli():
    return InProcess()


def statuses(project="demo"):
    return sorted(Task.objects.filter(project=project).values_list("status", flat=True))


def test_a_paused_project_gives_no_task_until_it_is_resumed():
    first, second = factories.task(description="1"), factories.task(description="2")
    paused, held = pausing.pause("demo", by="ana", reason="rebasing")
    assert (held, statuses()) == (2, ["paused", "paused"])
    assert lifecycle.claim("demo", "demo") is None
    assert pausing.resume("demo", by="ana") == 2
    assert [lifecycle.claim("demo", "demo").id for _ in range(2)] == [first.id, second.id]  # order kept


def test_other_projects_and_claims_across_projects_carry_on():
    factories.task(project="demo", description="paused", priority="urgent")
    other = factories.task(project="other", description="free", priority="low")
    pausing.pause("demo")
    assert queue.claim("demo").id == other.id  # queue.claim without a project: across projects
    assert queue.claim("demo") is None


def test_adding_tasks_still_works_and_they_wait():
    pausing.pause("demo")
    task = queue.enqueue("demo", "while paused")
    assert task.status == "paused"
    assert Event.objects.get(task_id=task.id).data["status"] == "paused"


def test_work_that_becomes_ready_while_paused_waits_too():
    first = factories.task(description="first")
    queue.enqueue("demo", "then", after=[first.id])
    due = queue.enqueue("demo", "due", run_at=timezone.now() + timedelta(hours=1))
    lifecycle.claim("demo", "demo")
    pausing.pause("demo")
    queue.complete(first.id, "demo")  # releases `then` inside a paused project
    Task.objects.filter(pk=due.id).update(run_at=timezone.now())
    queue.promote_due()
    assert statuses() == ["completed", "paused", "paused"]
    pausing.resume("demo")
    assert statuses() == ["completed", "pending", "pending"]


def test_a_task_in_progress_runs_on_and_a_retry_waits():
    task = factories.task()
    lifecycle.claim("demo", "demo")
    pausing.pause("demo")
    assert queue.fail(task.id, "demo", "flaky").status == "paused"


def test_pause_and_resume_write_events_with_who_did_it():
    factories.task()
    pausing.pause("demo", by="ana", reason="rebasing")
    pausing.resume("demo", by="bo")
    paused, resumed = Event.objects.filter(type__in=["project.paused", "project.resumed"]).order_by("id")
    assert (paused.type, paused.project, paused.data) == ("project.paused", "demo", {"by": "ana", "reason": "rebasing", "tasks": 1})
    assert (resumed.type, resumed.data["by"], resumed.data["tasks"]) == ("project.resumed", "bo", 1)


def test_pausing_twice_resuming_unpaused_and_unknown_projects_are_refused():
    pausing.pause("demo")
    with pytest.raises(Conflict, match="project demo is already paused"):
        pausing.pause("demo")
    with pytest.raises(Conflict, match="project other is not paused"):
        pausing.resume("other")
    with pytest.raises(NotFound, match="unknown project 'ghost'"):
        pausing.pause("ghost")


def test_the_commands(cli):
    cli.manage("add_task", "--project", "demo", "--description", "x")
    paused = cli.manage("pause_project", "demo", "--reason", "rebasing", "--by", "ana")
    assert (paused.returncode, paused.stdout.strip()) == (0, "paused demo (rebasing): 1 pending task(s) held back")
    claim = cli.subprocess("claim_task", "--agent", "demo")
    assert (claim.returncode, claim.stdout) == (3, "")
    assert claim.stderr.strip() == "project demo is paused (by ana: rebasing); resume_project demo to go on"
    again = cli.subprocess("pause_project", "demo")
    assert (again.returncode, again.stderr) == (4, "error: project demo is already paused\n")
    resumed = cli.manage("resume_project", "demo", "--json")
    assert resumed.json() == {"project": "demo", "tasks_released": 1}
    assert cli.subprocess("claim_task", "--agent", "demo").returncode == 0
    ghost = cli.subprocess("pause_project", "ghost")
    assert ghost.returncode == 1 and ghost.stderr.startswith("error: unknown project 'ghost'")


def test_agent_status_shows_the_queue_and_the_pause(cli):
    first = queue.enqueue("demo", "first")
    queue.enqueue("demo", "then", after=[first.id])
    queue.enqueue("demo", "later", run_at=timezone.now() + timedelta(hours=1))
    pausing.pause("demo", by="ana", reason="rebasing")
    status = cli.manage("agent_status", "--json").json()
    demo = next(a for a in status["agents"] if a["agent"] == "demo")
    assert demo["queue"] == {"pending": 0, "paused": 1, "blocked": 1, "scheduled": 1}
    assert (demo["paused"]["paused_by"], demo["paused"]["reason"]) == ("ana", "rebasing")
    line = next(line for line in cli.manage("agent_status").stdout.splitlines() if line.startswith("demo "))
    assert "PAUSED 1 paused, 1 blocked, 1 scheduled" in line
