"""The queue module: order, lifecycle, retries, fencing, events."""

from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from agents import lifecycle
from common.errors import Conflict, InvalidInput, NotFound
from events.models import Event
from tasks import queue
from tasks.models import Outbox, Task
from tests import factories

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def projects():
    factories.project("demo")
    factories.project("other")
    factories.project("worker")


def event_types(task_id):
    return list(Event.objects.for_task(task_id).order_by("id").values_list("type", flat=True))


def test_enqueue_stores_the_task_and_writes_task_created():
    task = factories.task(description="write tests", priority="high", metadata={"ticket": 7})
    stored = Task.objects.get(pk=task.id)
    assert (stored.project, stored.description, stored.priority, stored.status) == ("demo", "write tests", "high", "pending")
    assert stored.metadata == {"ticket": 7}
    assert stored.retry_count == 0
    assert event_types(task.id) == ["task.created"]
    assert not Outbox.objects.waiting().exists()


def test_enqueue_refuses_an_unknown_project_and_writes_nothing():
    with pytest.raises(NotFound, match="unknown project 'ghost'"):
        queue.enqueue("ghost", "x")
    assert not Task.objects.exists()
    assert not Event.objects.filter(type="task.created").exists()


def test_enqueue_refuses_a_bad_priority_or_empty_description():
    with pytest.raises(InvalidInput, match="unknown priority 'asap'"):
        queue.enqueue("demo", "x", "asap")
    with pytest.raises(InvalidInput, match="description"):
        queue.enqueue("demo", "   ")
    assert not Task.objects.exists()


def test_claim_takes_urgent_then_high_normal_low_and_oldest_first_within_a_priority():
    now = timezone.now()
    made = {}
    for name, priority in [("low", "low"), ("normal-old", "normal"), ("urgent", "urgent"), ("normal-new", "normal"), ("high", "high")]:
        made[name] = factories.task(description=name, priority=priority)
    # Make ages explicit rather than relying on the clock between inserts.
    Task.objects.filter(pk=made["normal-old"].id).update(created_at=now - timedelta(hours=1))
    Task.objects.filter(pk=made["normal-new"].id).update(created_at=now)
    order = [lifecycle.claim("demo", "demo").description for _ in range(5)]
    assert order == ["urgent", "high", "normal-old", "normal-new", "low"]
    assert lifecycle.claim("demo", "demo") is None


def test_claim_skips_tasks_of_other_projects():
    factories.task(project="other", description="theirs", priority="urgent")
    mine = factories.task(project="demo", description="mine", priority="low")
    assert lifecycle.claim("demo", "demo").id == mine.id
    assert lifecycle.claim("demo", "demo") is None


def test_claim_without_a_project_takes_from_any_project():
    theirs = factories.task(project="other", priority="urgent")
    assert lifecycle.claim("demo").id == theirs.id


def test_claim_marks_the_task_the_agent_and_writes_task_claimed():
    task = factories.task()
    claimed = lifecycle.claim("worker", "demo")
    assert claimed.id == task.id
    assert (claimed.status, claimed.assigned_to) == ("in_progress", "worker")
    assert claimed.started_at is not None
    from agents.models import Agent

    agent = Agent.objects.get(pk="worker")
    assert agent.status == "working"
    assert agent.heartbeat_age() < 5
    assert event_types(task.id) == ["task.created", "task.claimed"]
    assert Event.objects.get(type="task.claimed").agent == "worker"


def fields(task):
    return {f.attname: getattr(task, f.attname) for f in Task._meta.concrete_fields}


@pytest.mark.parametrize("logged", [False, True], ids=["driver", "django-cursor"])
def test_claim_and_complete_return_the_task_as_the_orm_reads_it(logged):
    """Claim and complete build their Task from the RETURNING row, on a local
    file straight from the driver, or through Django's cursor while queries
    are being logged (DEBUG, tests that count queries): the same either way."""
    from django.test.utils import CaptureQueriesContext

    factories.task(metadata={"branch": "main", "n": [1, 2]})
    with CaptureQueriesContext(connections["tasks"]) if logged else nullcontext():
        claimed = lifecycle.claim("worker", "demo")
        assert fields(claimed) == fields(Task.objects.get(pk=claimed.id))
        assert claimed.started_at.tzinfo is not None and claimed.metadata == {"branch": "main", "n": [1, 2]}
        done = queue.complete(claimed.id, "worker", result="ok", lease=claimed.started_at)
    assert fields(done) == fields(Task.objects.get(pk=claimed.id))
    assert done.completed_at >= done.started_at


def test_a_claimed_task_behaves_like_one_the_orm_loaded():
    """Built without __init__ when no init signal listens, it still saves,
    refreshes and compares like any Task; with a listener, the signal fires."""
    from django.db.models.signals import post_init

    factories.task()
    claimed = lifecycle.claim("worker", "demo")
    assert claimed == Task.objects.get(pk=claimed.id) and not claimed._state.adding and claimed._state.db == "tasks"
    claimed.result = "partial"
    claimed.save(update_fields=["result"])
    claimed.refresh_from_db()
    assert claimed.result == "partial" and claimed.status == "in_progress"

    seen = []
    receiver = lambda sender, instance, **kwargs: seen.append(instance.pk)  # noqa: E731
    post_init.connect(receiver, sender=Task)
    try:
        done = queue.complete(claimed.id, "worker")
    finally:
        post_init.disconnect(receiver, sender=Task)
    assert seen == [claimed.id] and done.status == "completed"


def test_claim_by_an_unknown_agent_is_refused_and_claims_nothing():
    factories.task()
    with pytest.raises(NotFound, match="unknown agent 'nobody'"):
        lifecycle.claim("nobody", "demo")
    assert Task.objects.get().status == "pending"


def test_only_the_holder_may_complete():
    task = factories.task()
    lifecycle.claim("worker", "demo")
    with pytest.raises(Conflict, match="held by 'worker', not 'demo'"):
        queue.complete(task.id, "demo")
    done = queue.complete(task.id, "worker", result="ok")
    assert (done.status, done.result) == ("completed", "ok")
    assert done.completed_at is not None
    with pytest.raises(Conflict, match="is completed, not in progress"):
        queue.complete(task.id, "worker")
    assert event_types(task.id) == ["task.created", "task.claimed", "task.completed"]


def test_completing_a_pending_task_is_a_conflict_and_changes_nothing():
    task = factories.task()
    with pytest.raises(Conflict, match="is pending"):
        queue.complete(task.id, "worker")
    assert Task.objects.get(pk=task.id).status == "pending"
    assert event_types(task.id) == ["task.created"]


def test_a_stale_lease_cannot_complete_a_task_claimed_again_by_the_same_agent():
    task = factories.task()
    first = lifecycle.claim("worker", "demo")
    queue.requeue(task.id, by="test")
    second = lifecycle.claim("worker", "demo")
    assert second.started_at != first.started_at
    with pytest.raises(Conflict, match="claimed again"):
        queue.complete(task.id, "worker", lease=first.started_at)
    assert queue.complete(task.id, "worker", lease=second.started_at).status == "completed"


def test_failing_retries_up_to_the_limit_then_stays_failed_with_its_error(settings):
    settings.ADT_MAX_RETRIES = 2
    task = factories.task()
    for attempt in (1, 2):
        lifecycle.claim("worker", "demo")
        again = queue.fail(task.id, "worker", error=f"boom {attempt}")
        assert (again.status, again.retry_count, again.assigned_to) == ("pending", attempt, None)
    lifecycle.claim("worker", "demo")
    final = queue.fail(task.id, "worker", error="boom 3")
    assert (final.status, final.retry_count, final.error) == ("failed", 2, "boom 3")
    assert event_types(task.id) == [
        "task.created", "task.claimed", "task.attempt_failed", "task.claimed", "task.attempt_failed", "task.claimed", "task.failed",
    ]


def test_a_project_can_override_the_retry_limit():
    factories.project("strict", config={"max_retries": 0})
    task = factories.task(project="strict")
    lifecycle.claim("worker", "strict")
    assert queue.fail(task.id, "worker", error="no second chance").status == "failed"


def test_cancel_retry_requeue_and_reprioritize():
    task = factories.task()
    assert queue.reprioritize(task.id, "urgent").priority == "urgent"
    lifecycle.claim("worker", "demo")
    requeued = queue.requeue(task.id, by="admin")
    assert (requeued.status, requeued.assigned_to, requeued.retry_count) == ("pending", None, 1)
    assert queue.cancel(task.id).status == "cancelled"
    with pytest.raises(Conflict):
        queue.cancel(task.id)
    with pytest.raises(Conflict):
        queue.reprioritize(task.id, "low")
    retried = queue.retry(task.id)
    assert (retried.status, retried.retry_count) == ("pending", 0)
    with pytest.raises(Conflict, match="only failed or cancelled"):
        queue.retry(task.id)
    assert event_types(task.id) == [
        "task.created", "task.reprioritized", "task.claimed", "task.requeued", "task.cancelled", "task.retried",
    ]


def test_an_unknown_task_is_not_found():
    for call in (lambda: queue.cancel("nope"), lambda: queue.complete("nope", "worker"), lambda: queue.get("nope")):
        with pytest.raises(NotFound, match="no task with id 'nope'"):
            call()


def claim_statement(project):
    """The SQL and parameters of one claim, as Django's execute_wrappers see it."""
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connections["tasks"].execute_wrapper(watch):
        lifecycle.claim("worker", project)
    return next((sql, params) for sql, params in seen if sql.startswith("UPDATE tasks SET status = 'in_progress'"))


def claim_plan(project):
    sql, params = claim_statement(project)
    with connections["tasks"].cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return " | ".join(row[-1] for row in cursor.fetchall())


def test_instrumentation_sees_every_claim_and_completion():
    task = factories.task()
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(sql.split(" WHERE ")[0])
        return execute(sql, params, many, context)

    with connections["tasks"].execute_wrapper(watch):
        claimed = lifecycle.claim("worker", "demo")
        queue.complete(claimed.id, "worker")
    assert claimed.id == task.id
    # Not necessarily first: a claim looks for due scheduled tasks about once a second.
    assert any(sql.startswith("UPDATE tasks SET status = 'in_progress', assigned_to = %s, started_at = %s, deadline = ")
               for sql in seen)
    assert "UPDATE tasks SET status = 'completed', completed_at = %s, result = %s" in seen


@pytest.mark.parametrize("project", [None, "demo"])
def test_claim_reads_its_index_in_order_and_never_sorts(project):
    for i in range(50):
        factories.task(project=("demo", "other")[i % 2], priority=("low", "urgent", "normal")[i % 3])
    plan = claim_plan(project)
    assert "TEMP B-TREE" not in plan
    assert ("idx_tasks_project_claim" if project else "idx_tasks_claim") in plan
