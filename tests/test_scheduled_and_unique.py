"""Scheduled tasks (add_task --at/--in) and one unfinished task per key (add_task --unique)."""

import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from agents import lifecycle
from common.errors import InvalidInput
from events.models import Event
from tasks import queue
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


def event_types(task_id):
    return list(Event.objects.for_task(task_id).order_by("id").values_list("type", flat=True))


class TestScheduled:
    def test_a_task_scheduled_for_later_is_not_claimed_before_its_time(self, settings):
        settings.ADT_SCHEDULE_CHECK_INTERVAL = 0
        task = queue.enqueue("demo", "tomorrow", run_at=timezone.now() + timedelta(days=1))
        assert (task.status, event_types(task.id)) == ("scheduled", ["task.scheduled"])
        assert lifecycle.claim("demo", "demo") is None
        assert Task.objects.get(pk=task.id).status == "scheduled"

    def test_a_claim_makes_a_due_task_pending_and_takes_it(self, settings):
        settings.ADT_SCHEDULE_CHECK_INTERVAL = 0
        task = queue.enqueue("demo", "soon", run_at=timezone.now() + timedelta(days=1))
        Task.objects.filter(pk=task.id).update(run_at=timezone.now() - timedelta(seconds=1))  # its time came
        claimed = lifecycle.claim("demo", "demo")
        assert claimed.id == task.id
        assert event_types(task.id) == ["task.scheduled", "task.due", "task.claimed"]

    def test_due_tasks_join_the_queue_in_the_usual_claim_order(self):
        waiting = factories.task(description="normal, added first")
        due = queue.enqueue("demo", "urgent, was scheduled", "urgent", run_at=timezone.now() + timedelta(hours=1))
        Task.objects.filter(pk=due.id).update(run_at=timezone.now())
        assert queue.promote_due() == [due.id]
        assert [lifecycle.claim("demo", "demo").id for _ in range(2)] == [due.id, waiting.id]

    def test_a_time_already_past_makes_the_task_pending_at_once(self):
        task = queue.enqueue("demo", "overdue", run_at=timezone.now() - timedelta(hours=1))
        assert (task.status, task.run_at, event_types(task.id)) == ("pending", None, ["task.created"])

    def test_a_scheduled_task_can_be_cancelled_and_reprioritized(self):
        task = queue.enqueue("demo", "later", run_at=timezone.now() + timedelta(days=1))
        assert queue.reprioritize(task.id, "high").priority == "high"
        assert queue.cancel(task.id).status == "cancelled"
        assert queue.promote_due(timezone.now() + timedelta(days=2)) == []

    def test_the_reaper_makes_due_tasks_pending_and_says_so(self, cli):
        task = queue.enqueue("demo", "later", run_at=timezone.now() + timedelta(days=1))
        Task.objects.filter(pk=task.id).update(run_at=timezone.now() - timedelta(seconds=5))
        dry = cli.manage("reap_stale_agents", "--dry-run")
        assert dry.stdout.splitlines()[-1] == f"would make 1 scheduled task(s) pending: {task.id}"
        assert Task.objects.get(pk=task.id).status == "scheduled"
        reaped = cli.manage("reap_stale_agents", "--json")
        assert reaped.returncode == 0 and reaped.json()["due"] == [task.id]
        assert Task.objects.get(pk=task.id).status == "pending"

    def test_add_task_in_and_at(self, cli):
        later = cli.manage("add_task", "--project", "demo", "--description", "x", "--in", "2h", "--json").json()
        assert later["status"] == "scheduled" and later["created"] is True
        delay = (Task.objects.get(pk=later["id"]).run_at - timezone.now()).total_seconds()
        assert 7190 < delay <= 7200
        fixed = cli.manage("add_task", "--project", "demo", "--description", "y", "--at", "2999-01-02T03:04:05", "--json").json()
        assert fixed["status"] == "scheduled"
        assert Task.objects.get(pk=fixed["id"]).run_at.isoformat() == "2999-01-02T03:04:05+00:00"  # UTC without an offset


class TestUnique:
    def test_a_second_task_with_the_same_key_returns_the_first(self):
        first, created = queue.add("demo", "fix CI on PR 12", unique_key="ci:12")
        again, created_again = queue.add("demo", "fix CI on PR 12 (again)", unique_key="ci:12")
        assert (created, created_again, again.id) == (True, False, first.id)
        assert Task.objects.count() == 1 and event_types(first.id) == ["task.created"]

    def test_the_key_is_free_again_once_the_task_is_finished(self):
        first = queue.enqueue("demo", "nightly", unique_key="nightly")
        queue.cancel(first.id)
        second, created = queue.add("demo", "nightly", unique_key="nightly")
        assert created and second.id != first.id

    def test_a_key_belongs_to_one_project(self):
        assert queue.add("demo", "x", unique_key="k")[1] and queue.add("other", "x", unique_key="k")[1]

    def test_a_scheduled_or_claimed_task_keeps_its_key(self):
        scheduled = queue.enqueue("demo", "later", run_at=timezone.now() + timedelta(days=1), unique_key="s")
        assert queue.add("demo", "later", unique_key="s") == (scheduled, False)
        held = queue.enqueue("demo", "now", unique_key="h")
        lifecycle.claim("demo", "demo")
        assert queue.add("demo", "now", unique_key="h")[0].id == held.id

    def test_an_empty_key_is_refused(self):
        with pytest.raises(InvalidInput, match="a unique key cannot be empty"):
            queue.add("demo", "x", unique_key=" ")
        assert not Task.objects.exists()

    def test_add_task_unique_prints_the_existing_task(self, cli):
        first = cli.manage("add_task", "--project", "demo", "--description", "x", "--unique", "k", "--json").json()
        again = cli.manage("add_task", "--project", "demo", "--description", "x", "--unique", "k")
        assert again.returncode == 0 and again.stdout.startswith(f"already queued {first['id']}")


def test_processes_adding_one_key_at_once_make_one_task(cli):
    procs = [
        cli.popen("manage.py", "add_task", "--project", "demo", "--description", "once", "--unique", "race", "--json",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, results
    import json

    printed = [json.loads(out) for out, _ in results]
    assert sorted(p["created"] for p in printed) == [False] * 5 + [True]
    assert len({p["id"] for p in printed}) == 1
    assert cli.sql("tasks", "SELECT COUNT(*) FROM tasks") == [(1,)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--in", "5x"], "error: --in must be a duration such as 90s, 10m, 2h or 1d, not '5x'"),
        (["--in", "0s"], "error: --in must be a duration such as 90s, 10m, 2h or 1d, not '0s'"),
        (["--at", "tomorrow"], "error: --at must be an ISO-8601 date and time, not 'tomorrow'"),
        (["--at", "2999-01-01T00:00:00", "--in", "1h"], "error: give --at or --in, not both"),
        (["--unique", ""], "error: a unique key cannot be empty"),
    ],
)
def test_bad_schedule_or_key_is_one_line_and_writes_nothing(cli, args, message):
    before = cli.snapshot()
    result = cli.subprocess("add_task", "--project", "demo", "--description", "x", *args)
    assert (result.returncode, result.stderr, result.stdout) == (1, message + "\n", "")
    assert cli.snapshot() == before


def test_looking_for_due_tasks_reads_only_the_scheduled_index():
    from django.db import connections

    sql, params = Task.objects.due(timezone.now()).query.sql_with_params()
    with connections["tasks"].cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " | ".join(row[-1] for row in cursor.fetchall())
    assert "idx_tasks_scheduled" in plan
