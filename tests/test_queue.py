"""The queue module: order, lifecycle, retries, fencing, events."""

import os
import time
from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from adt_admin.errors import Conflict, InvalidInput, NotFound
from events.models import Event
from tasks import queue
from tasks.models import Outbox, Task
from tests import factories

pytestmark = pytest.mark.django_db(databases="__all__")


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
    order = [queue.claim("demo", "demo").description for _ in range(5)]
    assert order == ["urgent", "high", "normal-old", "normal-new", "low"]
    assert queue.claim("demo", "demo") is None


def test_claim_skips_tasks_of_other_projects():
    factories.task(project="other", description="theirs", priority="urgent")
    mine = factories.task(project="demo", description="mine", priority="low")
    assert queue.claim("demo", "demo").id == mine.id
    assert queue.claim("demo", "demo") is None


def test_claim_without_a_project_takes_from_any_project():
    theirs = factories.task(project="other", priority="urgent")
    assert queue.claim("demo").id == theirs.id


def test_claim_marks_the_task_the_agent_and_writes_task_claimed():
    task = factories.task()
    claimed = queue.claim("worker", "demo")
    assert claimed.id == task.id
    assert (claimed.status, claimed.assigned_to) == ("in_progress", "worker")
    assert claimed.started_at is not None
    from projects.models import Agent

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
        claimed = queue.claim("worker", "demo")
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
    claimed = queue.claim("worker", "demo")
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
        queue.claim("nobody", "demo")
    assert Task.objects.get().status == "pending"


def test_only_the_holder_may_complete():
    task = factories.task()
    queue.claim("worker", "demo")
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
    first = queue.claim("worker", "demo")
    queue.requeue(task.id, by="test")
    second = queue.claim("worker", "demo")
    assert second.started_at != first.started_at
    with pytest.raises(Conflict, match="claimed again"):
        queue.complete(task.id, "worker", lease=first.started_at)
    assert queue.complete(task.id, "worker", lease=second.started_at).status == "completed"


def test_failing_retries_up_to_the_limit_then_stays_failed_with_its_error(settings):
    settings.ADT_MAX_RETRIES = 2
    task = factories.task()
    for attempt in (1, 2):
        queue.claim("worker", "demo")
        again = queue.fail(task.id, "worker", error=f"boom {attempt}")
        assert (again.status, again.retry_count, again.assigned_to) == ("pending", attempt, None)
    queue.claim("worker", "demo")
    final = queue.fail(task.id, "worker", error="boom 3")
    assert (final.status, final.retry_count, final.error) == ("failed", 2, "boom 3")
    assert event_types(task.id) == [
        "task.created", "task.claimed", "task.retried", "task.claimed", "task.retried", "task.claimed", "task.failed",
    ]


def test_a_project_can_override_the_retry_limit():
    factories.project("strict", config={"max_retries": 0})
    task = factories.task(project="strict")
    queue.claim("worker", "strict")
    assert queue.fail(task.id, "worker", error="no second chance").status == "failed"


def test_cancel_retry_requeue_and_reprioritize():
    task = factories.task()
    assert queue.reprioritize(task.id, "urgent").priority == "urgent"
    queue.claim("worker", "demo")
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


def test_events_left_in_the_outbox_are_relayed_once():
    task = factories.task()
    # As if a process died after committing a change but before relaying it.
    Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={})
    assert queue.relay() == 1
    assert queue.relay() == 0
    assert event_types(task.id) == ["task.created", "task.cancelled"]


def test_an_outbox_its_relay_emptied_never_numbers_an_event_twice():
    # Each relay leaves receipts keyed by outbox id; a reused id would make
    # the next relay take a new event for one it already copied.
    task = factories.task()
    queue.relay()
    for change in (queue.cancel, queue.retry, queue.cancel):
        (kept,) = Outbox.objects.all()  # the newest copied row stays, marked
        assert kept.relayed
        change(task.id)
        queue.relay()
        assert Outbox.objects.get().id > kept.id
    assert event_types(task.id) == ["task.created", "task.cancelled", "task.retried", "task.cancelled"]


def test_rows_an_earlier_relay_marked_but_did_not_drop_go_with_the_next_relay():
    task = factories.task()
    queue.relay()
    stale = [Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={}, relayed=True) for _ in range(2)]
    fresh = Outbox.objects.create(type="task.retried", project="demo", task_id=task.id, data={})
    newest = Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={})
    assert queue.relay() == 2
    (kept,) = Outbox.objects.all()
    assert (kept.id, kept.relayed) == (newest.id, True)
    assert stale[0].id < fresh.id < kept.id
    # The marked rows were copied before, by the relay that marked them: not again.
    assert event_types(task.id) == ["task.created", "task.retried", "task.cancelled"]


def test_a_relay_repeated_after_its_commit_copies_nothing_twice():
    from events import feed

    task = factories.task()
    row = Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={})
    fields = ("id", "created_at", "type", "project", "agent", "task_id", "data", "level")
    feed._append_once("tasks", [tuple(getattr(row, f) for f in fields)])  # the copy committed, then the process died
    assert queue.relay() == 1  # the outbox row goes; no second event
    assert event_types(task.id) == ["task.created", "task.cancelled"]


def test_a_busy_process_leaves_its_events_to_a_relay_that_started_after_them_and_relays_its_own_at_the_end(settings):
    from events import feed

    settings.ADT_EVENT_RELAY_INTERVAL = 3600  # only flush() relays here
    feed._last_relay = float("inf")
    task = factories.task()
    # Another process's relay started after the change was written: it takes the row.
    feed._mark_start("tasks")
    feed.flush(paced=True)
    assert Outbox.objects.waiting().count() == 1
    # That relay failed, say: at its end the process relays what it wrote.
    feed.flush()
    assert not Outbox.objects.waiting().exists()
    # Changes on both sides of another relay's start: the later one waits for the next relay.
    queue.cancel(task.id)
    feed._mark_start("tasks")
    queue.retry(task.id)
    feed.flush(paced=True)
    assert Outbox.objects.waiting().count() == 2
    # With no relay started since, the periodic call relays them itself.
    feed.flush(paced=True)
    assert not Outbox.objects.waiting().exists()
    # A mark from the future (the clock was set back) is not trusted.
    queue.cancel(task.id)
    future = time.time_ns() + 3600 * 10**9
    os.utime(feed._mark("tasks"), ns=(future, future))
    feed.flush(paced=True)
    assert not Outbox.objects.waiting().exists()
    assert event_types(task.id) == ["task.created", "task.cancelled", "task.retried", "task.cancelled"]


def claim_plan(project):
    connection = connections["tasks"]
    sql = queue._claim_sql(connection, project)
    params = ["agent", "2026-01-01 00:00:00"] + ([project] if project else [])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return " | ".join(row[-1] for row in cursor.fetchall())


@pytest.mark.parametrize("project", [None, "demo"])
def test_claim_reads_its_index_in_order_and_never_sorts(project):
    for i in range(50):
        factories.task(project=("demo", "other")[i % 2], priority=("low", "urgent", "normal")[i % 3])
    plan = claim_plan(project)
    assert "TEMP B-TREE" not in plan
    assert ("idx_tasks_project_claim" if project else "idx_tasks_claim") in plan
