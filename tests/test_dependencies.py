"""Tasks that wait for others: add_task --after, add_dependency, release and the fail-closed chain."""

import subprocess
from collections import Counter

import pytest
from django.db import connections

from agents import lifecycle
from common.errors import Conflict, InvalidInput, NotFound
from events.models import Event
from tasks import dependencies, queue
from tasks.models import Dependency, Task
from tests import factories
from tests.support import InProcess

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def project():
    factories.project("demo", config={"max_retries": 0})


@pytest.fixture
def cli():
    return InProcess()


def status(*tasks):
    return [Task.objects.get(pk=t.id).status for t in tasks]


def run(task):
    """Claim `task` (it must be the next one) as the agent demo."""
    claimed = lifecycle.claim("demo", "demo")
    assert claimed is not None and claimed.id == task.id
    return claimed


def event_types(task):
    return list(Event.objects.for_task(task.id).order_by("id").values_list("type", flat=True))


class TestWaiting:
    def test_a_task_waits_blocked_until_what_it_waits_for_completes(self):
        first = factories.task(description="refactor")
        then = queue.enqueue("demo", "migrate", after=[first.id])
        assert status(first, then) == ["pending", "blocked"]
        run(first)
        assert lifecycle.claim("demo", "demo") is None  # blocked work is not claimable
        queue.complete(first.id, "demo")
        assert status(then) == ["pending"]
        assert run(then).id == then.id
        assert event_types(then) == ["task.created", "task.unblocked", "task.claimed"]
        unblocked = Event.objects.get(task_id=then.id, type="task.unblocked")
        assert unblocked.data == {"status": "pending", "after": first.id}

    def test_a_task_waiting_for_several_is_released_by_the_last_completion_only(self):
        a, b = factories.task(description="a"), factories.task(description="b")
        both = queue.enqueue("demo", "after both", after=[a.id, b.id])
        run(a)
        queue.complete(a.id, "demo")
        assert status(both) == ["blocked"]
        run(b)
        queue.complete(b.id, "demo")
        assert status(both) == ["pending"]
        assert Event.objects.filter(task_id=both.id, type="task.unblocked").count() == 1

    def test_waiting_for_a_task_already_completed_is_pending_at_once(self):
        done = factories.task()
        run(done)
        queue.complete(done.id, "demo")
        then = queue.enqueue("demo", "next", after=[done.id])
        assert then.status == "pending"

    def test_a_chain_of_three_where_the_first_fails_cancels_the_rest_naming_the_cause(self):
        first = factories.task(description="first")
        second = queue.enqueue("demo", "second", after=[first.id])
        third = queue.enqueue("demo", "third", after=[second.id])
        run(first)
        queue.fail(first.id, "demo", "tests are red")
        assert status(first, second, third) == ["failed", "cancelled", "cancelled"]
        second, third = Task.objects.get(pk=second.id), Task.objects.get(pk=third.id)
        assert second.error == f"cancelled: task {first.id}, which it waits for, is failed"
        assert third.error == f"cancelled: task {second.id}, which it waits for, is cancelled"
        cancelled = Event.objects.get(task_id=third.id, type="task.cancelled")
        assert cancelled.data["by"] == "dependency" and cancelled.data["after"] == second.id
        assert lifecycle.claim("demo", "demo") is None

    def test_cancelling_a_task_cancels_what_waits_for_it(self):
        first = factories.task()
        then = queue.enqueue("demo", "then", after=[first.id])
        queue.cancel(first.id, by="cli")
        assert status(then) == ["cancelled"]

    def test_a_task_timed_out_past_its_retries_cancels_what_waits_for_it(self, settings):
        first = factories.task(timeout=1)
        then = queue.enqueue("demo", "then", after=[first.id])
        run(first)
        Task.objects.filter(pk=first.id).update(deadline=Task.objects.get(pk=first.id).started_at)
        queue.requeue_overdue()
        assert status(first, then) == ["failed", "cancelled"]

    def test_retrying_a_cancelled_waiter_waits_again_and_refuses_while_its_cause_is_broken(self):
        first = factories.task()
        then = queue.enqueue("demo", "then", after=[first.id])
        run(first)
        queue.fail(first.id, "demo", "red")
        with pytest.raises(Conflict, match=f"waits for task {first.id}, which is failed; retry that one first"):
            queue.retry(then.id)
        queue.retry(first.id)
        assert queue.retry(then.id).status == "blocked"
        run(first)
        queue.complete(first.id, "demo")
        assert status(then) == ["pending"]


class TestRefused:
    def test_an_unknown_task_is_refused_and_nothing_is_written(self):
        with pytest.raises(NotFound, match="no task with id 'nope' to wait for"):
            queue.enqueue("demo", "x", after=["nope"])
        assert not Task.objects.exists() and not Dependency.objects.exists()

    def test_waiting_for_itself_is_refused(self):
        task = factories.task()
        with pytest.raises(InvalidInput, match=f"task {task.id} cannot wait for itself"):
            queue.add_dependency(task.id, [task.id])
        assert status(task) == ["pending"] and not Dependency.objects.exists()

    def test_a_wait_that_would_close_a_cycle_is_refused(self):
        a = factories.task(description="a")
        b = queue.enqueue("demo", "b", after=[a.id])
        c = queue.enqueue("demo", "c", after=[b.id])
        with pytest.raises(InvalidInput, match=f"cycle \\({a.id} -> {c.id} -> {b.id} -> {a.id}"):
            queue.add_dependency(a.id, [c.id])
        assert status(a, b, c) == ["pending", "blocked", "blocked"]
        assert Dependency.objects.count() == 2

    def test_waiting_for_a_failed_task_is_refused(self):
        broken = factories.task()
        queue.cancel(broken.id)
        with pytest.raises(InvalidInput, match=f"task {broken.id} is cancelled: nothing can wait for it"):
            queue.enqueue("demo", "x", after=[broken.id])

    def test_waiting_and_a_time_together_are_refused(self):
        from django.utils import timezone

        first = factories.task()
        with pytest.raises(InvalidInput, match="not both"):
            queue.enqueue("demo", "x", after=[first.id], run_at=timezone.now())

    def test_a_claimed_task_cannot_be_made_to_wait(self):
        held, other = factories.task(priority="urgent"), factories.task()
        run(held)
        with pytest.raises(Conflict, match="only pending, paused or blocked tasks can wait"):
            queue.add_dependency(held.id, [other.id])


class TestCommands:
    def test_add_task_after_and_add_dependency(self, cli):
        first = cli.manage("add_task", "--project", "demo", "--description", "a", "--json").json()
        second = cli.manage("add_task", "--project", "demo", "--description", "b", "--after", first["id"], "--json").json()
        assert second["status"] == "blocked"
        other = cli.manage("add_task", "--project", "demo", "--description", "c", "--json").json()
        result = cli.manage("add_dependency", other["id"], "--after", second["id"])
        assert result.returncode == 0 and result.stdout.startswith(f"{other['id']} waits for {second['id']}")
        assert Task.objects.get(pk=other["id"]).status == "blocked"
        assert event_types(Task(id=other["id"])) == ["task.created", "task.blocked"]

    @pytest.mark.parametrize("case", ["unknown", "itself", "cycle"])
    def test_refusals_exit_1_with_one_line_and_write_nothing(self, cli, case):
        a = cli.manage("add_task", "--project", "demo", "--description", "a", "--json").json()["id"]
        b = cli.manage("add_task", "--project", "demo", "--description", "b", "--after", a, "--json").json()["id"]
        args = {
            "unknown": ["add_task", "--project", "demo", "--description", "x", "--after", "nope"],
            "itself": ["add_dependency", a, "--after", a],
            "cycle": ["add_dependency", a, "--after", b],
        }[case]
        before = cli.snapshot()
        result = cli.subprocess(*args)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert cli.snapshot() == before


def test_the_release_finds_the_waiting_tasks_through_the_index():
    """The trigger's UPDATE must not read every blocked task."""
    with connections["tasks"].cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'task_release_waiting'")
        body = cursor.fetchone()[0]
        update = body[body.index("UPDATE tasks SET"):body.index(";")].replace("NEW.id", "'x'")
        cursor.execute("EXPLAIN QUERY PLAN " + update)
        plan = " | ".join(row[-1] for row in cursor.fetchall())
    assert "idx_dependencies_after" in plan
    assert "idx_tasks_status" not in plan and "SCAN tasks" not in plan


def test_what_a_task_waits_for_and_what_waits_for_it():
    a = factories.task(description="a")
    b = queue.enqueue("demo", "b", after=[a.id])
    assert dependencies.of(a) == ([], [b])
    assert dependencies.of(b) == ([a], [])


def test_agents_completing_the_last_dependencies_at_once_release_the_waiter(cli):
    """Eight processes complete a task's eight dependencies at about the same moment."""
    upstream = [factories.task(description=f"part {i}") for i in range(8)]
    waiter = queue.enqueue("demo", "after all parts", after=[t.id for t in upstream])
    procs = [cli.popen("tests/actors.py", "agent", "demo", "--project", "demo", "--seed", i,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err[-2000:] for _, err in outputs]
    completed = Counter(line.split()[1] for out, _ in outputs for line in out.splitlines() if line.startswith("completed"))
    assert set(completed) == {t.id for t in upstream} | {waiter.id} and max(completed.values()) == 1
    assert Event.objects.filter(task_id=waiter.id, type="task.unblocked").count() == 1
