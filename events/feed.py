"""Appending to and reading the event feed (logs.db).

The seed's pub/sub: writers append rows to `events`; subscribers read
`events WHERE id > last_seen`.
"""

import atexit
import logging
import time

from django.conf import settings
from django.core.signals import request_finished
from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone

from events.models import Event, RelayReceipt

LOGS = "logs"
log = logging.getLogger(__name__)


def record(type, *, project=None, agent=None, task_id=None, data=None, level="info"):
    """Append one event. Call inside a logs transaction to tie it to a change there."""
    return Event.objects.create(
        type=type,
        project=project,
        agent=agent,
        task_id=task_id,
        data=data,
        level=level,
        timestamp=timezone.now(),
    )


# Outboxes this process wrote to since its last relay, and when that was.
_unrelayed = set()
_last_relay = 0.0


def written(outbox):
    """A change just committed an event to `outbox`: relay it, or soon.

    Relaying costs two transactions, more than a claim itself, so a busy
    process relays at most every ADT_EVENT_RELAY_INTERVAL seconds, moving
    everything waiting at once. What is left is relayed by this process's
    next change, at the end of the request or command, or by the reaper's
    sweep if the process is killed first.
    """
    _unrelayed.add(outbox)
    if time.monotonic() - _last_relay >= settings.ADT_EVENT_RELAY_INTERVAL:
        flush()


def flush(**kwargs):
    global _last_relay
    _last_relay = time.monotonic()
    while _unrelayed:
        relay(_unrelayed.pop())


atexit.register(flush)
request_finished.connect(flush, dispatch_uid="events.feed.flush")


FIELDS = ("id", "created_at", "type", "project", "agent", "task_id", "data", "level")


def relay(outbox, limit=1000):
    """Copy every event waiting in an outbox into `events`, then drop them there.

    Safe to run from any number of processes at once, and again after a
    crash at any point: each event lands in `events` exactly once. A failure
    leaves the rows for the next relay, never loses them.
    """
    source = router.db_for_write(outbox)
    moved = 0
    try:
        while True:
            batch = list(outbox.objects.order_by("id").values_list(*FIELDS)[:limit])
            if not batch:
                break
            _append_once(source, batch)
            outbox.objects.filter(id__in=[row[0] for row in batch]).delete()
            moved += len(batch)
            if len(batch) < limit:
                break
    except DatabaseError as e:
        log.warning("events not relayed yet (the reaper will retry): %s", e)
    return moved


def _append_once(source, rows):
    """`rows` are (id, created_at, type, project, agent, task_id, data, level)."""
    keys = {f"{source}:{row[0]}": row for row in rows}
    with transaction.atomic(using=LOGS):
        done = set(RelayReceipt.objects.filter(key__in=list(keys)).values_list("key", flat=True))
        fresh = {key: row for key, row in keys.items() if key not in done}
        if not fresh:
            return
        now = timezone.now()
        _insert(RelayReceipt, ("key", "relayed_at"), [(key, now) for key in fresh])
        _insert(Event, ("timestamp", "type", "project", "agent", "task_id", "data", "level"), [row[1:] for row in fresh.values()])


def _insert(model, names, rows):
    """INSERT many rows, with each value prepared by its field as the ORM would.

    bulk_create compiles SQL per row, which made relaying cost more than the
    changes it relays; this is the same work done once per batch.
    """
    connection = connections[router.db_for_write(model)]
    fields = [model._meta.get_field(name) for name in names]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        connection.ops.quote_name(model._meta.db_table),
        ", ".join(connection.ops.quote_name(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    params = [[f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def prune_receipts(before):
    """Receipts only matter while their outbox row may still be relayed again."""
    return RelayReceipt.objects.filter(relayed_at__lt=before).delete()[0]
