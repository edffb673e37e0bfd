"""The outbox relay: every committed change's event reaches logs.db once; a rolled-back change leaves none."""

import pytest
from django.core.signals import request_finished
from django.db import OperationalError, connections, transaction

from events import relay
from events.models import Event
from projects.models import Outbox as MainOutbox
from tasks import queue
from tasks.models import Outbox, Task
from tests import factories

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def demo():
    factories.project("demo")


def event_types(task_id):
    return list(Event.objects.for_task(task_id).order_by("id").values_list("type", flat=True))


class Rollback(Exception):
    pass


def test_a_change_rolled_back_by_an_outer_transaction_writes_no_event_and_the_next_change_keeps_its_own():
    with pytest.raises(Rollback), transaction.atomic(using="tasks"):
        ghost = queue.enqueue("demo", "never happened")
        raise Rollback
    assert not Task.objects.filter(pk=ghost.id).exists()
    real = queue.enqueue("demo", "happened")
    assert event_types(ghost.id) == []
    assert event_types(real.id) == ["task.created"]
    assert Event.objects.filter(type="task.created").count() == 1


def test_a_change_inside_an_outer_transaction_is_copied_once_that_transaction_commits():
    with transaction.atomic(using="tasks"):
        task = queue.enqueue("demo", "inside")
        queue.cancel(task.id)
        assert event_types(task.id) == []
    assert event_types(task.id) == ["task.created", "task.cancelled"]


def test_no_copy_runs_inside_an_open_transaction_on_logs_db():
    """Copied inside a logs.db transaction that then rolls back, the events
    would be gone while the outbox rows were already dropped."""
    with pytest.raises(Rollback), transaction.atomic(using="logs"):
        task = queue.enqueue("demo", "while logs.db is busy")
        assert Outbox.objects.waiting().count() == 1
        raise Rollback
    assert Outbox.objects.waiting().count() == 1
    relay.flush()  # what the end of the command or request does
    assert event_types(task.id) == ["task.created"]
    assert not Outbox.objects.waiting().exists()


def test_a_busy_process_copies_at_most_once_per_interval_and_the_rest_when_its_request_ends(settings):
    settings.ADT_EVENT_RELAY_INTERVAL = 3600
    relay.flush()
    first = queue.enqueue("demo", "copied at once: no copy ran yet in this interval")
    queue.cancel(first.id)
    waiting = Outbox.objects.waiting().count()
    assert waiting >= 1
    request_finished.send(sender=None)
    assert not Outbox.objects.waiting().exists()
    assert event_types(first.id) == ["task.created", "task.cancelled"]


def test_events_a_killed_process_left_in_the_outboxes_are_copied_once_by_the_sweep():
    task = factories.task()
    # As if a process died after committing its changes but before copying them.
    Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={})
    MainOutbox.objects.create(type="agent.recovered", project="demo", agent="demo", data={})
    assert relay.relay_all() == 2
    assert relay.relay_all() == 0
    assert event_types(task.id) == ["task.created", "task.cancelled"]
    assert Event.objects.filter(type="agent.recovered").count() == 1
    assert relay.waiting() == {"main_event_outbox": 0, "task_event_outbox": 0}


def test_an_outbox_its_relay_emptied_never_numbers_an_event_twice():
    # Each copy leaves receipts keyed by outbox id; a reused id would make
    # the next copy take a new event for one it already copied.
    task = factories.task()
    relay.relay_all()
    for change in (queue.cancel, queue.retry, queue.cancel):
        (kept,) = Outbox.objects.all()  # the newest copied row stays, marked
        assert kept.relayed
        change(task.id)
        relay.relay_all()
        assert Outbox.objects.get().id > kept.id
    assert event_types(task.id) == ["task.created", "task.cancelled", "task.retried", "task.cancelled"]


def test_rows_an_earlier_relay_marked_but_did_not_drop_go_with_the_next_relay():
    task = factories.task()
    relay.relay_all()
    stale = [Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={}, relayed=True) for _ in range(2)]
    fresh = Outbox.objects.create(type="task.retried", project="demo", task_id=task.id, data={})
    newest = Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={})
    assert relay.relay(Outbox) == 2
    (kept,) = Outbox.objects.all()
    assert (kept.id, kept.relayed) == (newest.id, True)
    assert stale[0].id < fresh.id < kept.id
    # The marked rows were copied before, by the relay that marked them: not again.
    assert event_types(task.id) == ["task.created", "task.retried", "task.cancelled"]


def test_a_relay_repeated_after_its_commit_copies_nothing_twice():
    task = factories.task()
    Outbox.objects.create(type="task.cancelled", project="demo", task_id=task.id, data={})

    def die_before_dropping(execute, sql, params, many, context):
        if sql.startswith("DELETE FROM"):
            raise OperationalError("the process died here")
        return execute(sql, params, many, context)

    # The copy into logs.db commits; the rows stay in the outbox.
    with connections["tasks"].execute_wrapper(die_before_dropping):
        assert relay.relay(Outbox) is None
    assert event_types(task.id) == ["task.created", "task.cancelled"]
    assert Outbox.objects.waiting().count() == 1
    assert relay.relay(Outbox) == 1  # the outbox row goes; no second event
    assert event_types(task.id) == ["task.created", "task.cancelled"]


def test_the_end_of_every_request_copies_what_is_left():
    assert any("events.relay.flush" in str(receiver[0]) for receiver in request_finished.receivers)
