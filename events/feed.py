"""Appending to and reading the event feed (logs.db).

The seed's pub/sub: writers append rows to `events`; subscribers read
`events WHERE id > last_seen`.
"""

import atexit
import logging
import os
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


# Outboxes this process wrote to since it last relayed them itself; and of
# those, the ones no relay is known to have taken yet, with the wall-clock
# times (ns) of the first and the last such write; and when this process last
# relayed or decided it need not.
_written = set()
_unrelayed = {}
_last_relay = 0.0


def written(outbox):
    """A change just committed an event to `outbox`: relay it, or soon.

    Relaying costs two transactions, more than a claim itself, so a busy
    process relays at most every ADT_EVENT_RELAY_INTERVAL seconds, moving
    everything waiting at once, and not at all while other processes'
    relays keep taking its rows. At the end of the request or command it
    relays whatever it wrote since it last did; the reaper's sweep takes what
    a killed process left.
    """
    now = time.time_ns()
    _written.add(outbox)
    span = _unrelayed.get(outbox)
    if span is None:
        _unrelayed[outbox] = [now, now]
    else:
        span[1] = now
    if time.monotonic() - _last_relay >= settings.ADT_EVENT_RELAY_INTERVAL:
        flush(paced=True)


def flush(paced=False, **kwargs):
    """Relay what this process wrote.

    `paced` (a busy process's periodic call) leaves its rows to other
    processes' relays as long as one keeps starting within the interval: a
    relay reads every row committed before it started, so with many busy
    processes about one relay runs per interval and moves the rows of all of
    them, instead of each moving a few. A relay may fail, so at the end of a
    request or command (not paced) the process relays itself whatever it
    wrote since it last did.
    """
    global _last_relay
    if not paced and not _written:
        # Every request ends here: one that wrote nothing must not make the
        # next change's request wait for its own end to see its event.
        return
    _last_relay = time.monotonic()
    if not paced:
        _unrelayed.clear()
        while _written:
            relay(_written.pop())
        return
    for outbox, (first, last) in list(_unrelayed.items()):
        started = _relay_started(outbox)
        if started > last:
            del _unrelayed[outbox]
        elif started > first:
            _unrelayed[outbox] = [started, last]
        else:
            del _unrelayed[outbox]
            _written.discard(outbox)
            relay(outbox)


def _relay_started(outbox):
    """When the latest relay of `outbox` started (ns), or 0 when unknown."""
    try:
        started = _mark(router.db_for_write(outbox)).stat().st_mtime_ns
    except OSError:
        return 0
    # A mark from the future (the clock was set back) proves nothing.
    return started if started <= time.time_ns() else 0


def _mark(source):
    """The file whose modification time says when the last relay from `source` started."""
    return settings.ADT_RELAY_MARKS / source


def _mark_start(source):
    mark = _mark(source)
    now = time.time_ns()
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
        os.utime(mark, ns=(now, now))
    except OSError:
        pass  # no mark: other processes relay their own rows, as without one


atexit.register(flush)
request_finished.connect(flush, dispatch_uid="events.feed.flush")


# An outbox row's columns, and the events columns they are copied into.
OUTBOX_COLUMNS = ("id", "created_at", "type", "project", "agent", "task_id", "data", "level")
EVENT_COLUMNS = ("timestamp", "type", "project", "agent", "task_id", "data", "level")
CHUNK = 400


def relay(outbox, limit=1000):
    """Copy every event waiting in an outbox into `events`, then drop them there.

    Safe to run from any number of processes at once, and again after a
    crash at any point: each event lands in `events` exactly once. A failure
    leaves the rows for the next relay, never loses them.
    """
    source = router.db_for_write(outbox)
    moved = 0
    # Before reading: a process that sees this mark newer than its own write
    # can leave its rows to this relay.
    _mark_start(source)
    try:
        while True:
            batch = _read(outbox, limit)
            if not batch:
                break
            _append_once(source, batch)
            _forget(source, outbox, [row[0] for row in batch])
            moved += len(batch)
            if len(batch) < limit:
                break
    except DatabaseError as e:
        log.warning("events not relayed yet (the reaper will retry): %s", e)
    return moved


def _read(outbox, limit):
    """Outbox rows as the driver returns them: they are written back as they
    are, so nothing is parsed only to be formatted again (on SQLite the
    timestamp is read as an expression, which the driver leaves as text)."""
    connection = connections[router.db_for_read(outbox)]
    quote = connection.ops.quote_name
    columns = [quote(c) for c in OUTBOX_COLUMNS]
    if connection.vendor == "sqlite":
        columns[1] = f"CAST({columns[1]} AS TEXT)"
    sql = "SELECT {} FROM {} WHERE NOT {} ORDER BY {} LIMIT %s".format(
        ", ".join(columns), quote(outbox._meta.db_table), quote("relayed"), quote("id")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return cursor.fetchall()


def _forget(source, outbox, ids):
    """Drop relayed rows, but keep the newest row of the outbox, marked relayed.

    Without AUTOINCREMENT (events.outbox_schema) SQLite numbers a new row
    after the highest id present; keeping that row means an id is never
    given twice, so a receipt never hides a newer event. One transaction, so
    the outbox's write lock is taken once, and each row is written once (a
    delete) rather than marked and then deleted. Rows marked by an older
    relay that died in between go too. Plain SQL: the ORM would prepare a
    lookup per id.
    """
    connection = connections[source]
    quote = connection.ops.quote_name
    table, id, relayed = quote(outbox._meta.db_table), quote("id"), quote("relayed")
    newest = max(ids)
    with transaction.atomic(using=source), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE {id} <= %s AND ({relayed} OR {id} IN ({', '.join(['%s'] * len(ids))})) "
            f"AND {id} < (SELECT MAX({id}) FROM {table})",
            [newest, *ids],
        )
        cursor.execute(f"UPDATE {table} SET {relayed} = %s WHERE {id} = %s", [True, newest])


def _append_once(source, rows):
    """Receipts first, ON CONFLICT DO NOTHING: whatever another relay already
    took is skipped here, atomically on every backend."""
    connection = connections[LOGS]
    data_field = Event._meta.get_field("data")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(using=LOGS), connection.cursor() as cursor:
        for i in range(0, len(rows), CHUNK):
            chunk = {f"{source}:{row[0]}": row for row in rows[i : i + CHUNK]}
            cursor.execute(
                "INSERT INTO event_relay_receipts (key, relayed_at) VALUES {} ON CONFLICT (key) DO NOTHING RETURNING key".format(
                    ", ".join(["(%s, %s)"] * len(chunk))
                ),
                [value for key in chunk for value in (key, now)],
            )
            fresh = [chunk[key] for (key,) in cursor.fetchall()]
            if not fresh:
                continue
            values = []
            for _, created_at, type, project, agent, task_id, data, level in fresh:
                # JSON the driver handed over as Python objects (jsonb) goes back through the field.
                if data is not None and not isinstance(data, str | bytes):
                    data = data_field.get_db_prep_save(data, connection)
                values.append((created_at, type, project, agent, task_id, data, level))
            # One statement, not executemany: on a libSQL server each row
            # would be a round trip, all inside the logs write lock.
            row = "({})".format(", ".join(["%s"] * len(EVENT_COLUMNS)))
            cursor.execute(
                "INSERT INTO events ({}) VALUES {}".format(", ".join(EVENT_COLUMNS), ", ".join([row] * len(values))),
                [value for row_values in values for value in row_values],
            )


def prune_receipts(before):
    """Receipts only matter while their outbox row may still be relayed again."""
    return RelayReceipt.objects.filter(relayed_at__lt=before).delete()[0]
