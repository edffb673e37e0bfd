"""The outbox relay: copying events from main.db's and tasks.db's outboxes into logs.db.

A change in main.db or tasks.db cannot commit together with logs.db, so it
writes its event to an outbox table in its own database, in its own
transaction (`storage.outbox.OutboxEvent`), and this module copies outbox rows
into `events` exactly once. A process killed at any point loses no event and
duplicates none. See docs/outbox.md for a picture. The pieces, and what each
is for:

- `changed(outbox)`: a domain module wrote an outbox row. The copy is
  scheduled with `transaction.on_commit` on the outbox's database, so a
  change that is rolled back, even by a caller's outer transaction, is never
  copied; and a copy never runs inside an open transaction of the outbox's
  database or of logs.db (it waits for that transaction's commit instead).
- Pacing (`ADT_EVENT_RELAY_INTERVAL`): a copy costs two transactions, more
  than a claim, so a busy process copies at most once per interval,
  everything waiting at once; 0 copies after every commit. Whatever a
  process still has waiting is copied when its request or command ends
  (`flush`, connected in `EventsConfig.ready()`) and when a claim finds
  nothing to do (`idle`).
- Receipts (`RelayReceipt`, in logs.db): one row per copied outbox id,
  written in the same transaction as the copies, so a copy that dies after
  its commit there, before it drops the rows from the outbox, skips them the
  next time. `prune_receipts` drops them once no outbox row can be copied
  again.
- The newest row stays: outbox ids have no AUTOINCREMENT on SQLite
  (storage.outbox_schema), so SQLite numbers a new row after the highest id
  present. The copy keeps the newest copied row, marked `relayed`, so an id
  is never given twice and a receipt never hides a newer event.
- `relay_all`: the reaper's sweep copies what a killed process left behind.
"""

import atexit
import logging
import time
from functools import partial

from django.apps import apps
from django.conf import settings
from django.core.signals import request_finished
from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone

from events import counts, fanout
from events.models import Event, RelayReceipt
from storage import ordering
from storage.outbox import OutboxEvent

LOGS = "logs"
log = logging.getLogger(__name__)

# An outbox row's columns, and the events columns they are copied into.
OUTBOX_COLUMNS = ("id", "created_at", "type", "project", "agent", "task_id", "data", "level")
EVENT_COLUMNS = ("timestamp", "type", "project", "agent", "task_id", "data", "level")
# Rows per INSERT statement: SQLite allows 32,766 parameters.
CHUNK = 400

# Outboxes holding committed rows that this process wrote and has not copied
# yet, and when it last copied.
_waiting = set()
_last_copy = 0.0


def connect_hooks():
    """Copy what is left at the end of every request and command (EventsConfig.ready)."""
    request_finished.connect(flush, dispatch_uid="events.relay.flush")
    atexit.register(flush)


def changed(outbox):
    """A change wrote an event to `outbox`: copy it once the change has committed."""
    transaction.on_commit(partial(_committed, outbox), using=_alias(outbox))


def _committed(outbox):
    _waiting.add(outbox)
    idle()


def idle():
    """A paced copy, if one is due: after each commit, and when a claim finds nothing to do."""
    if _waiting and time.monotonic() - _last_copy >= settings.ADT_EVENT_RELAY_INTERVAL:
        flush()


def flush(**signal_kwargs):
    """Copy every outbox this process left rows in, now or after the open transaction commits."""
    global _last_copy
    if not _waiting:
        return
    _last_copy = time.monotonic()
    for outbox in list(_waiting):
        if relay(outbox) is not None:
            _waiting.discard(outbox)


def relay_all():
    """Copy what every outbox holds, whoever wrote it (the reaper's sweep). Returns the events copied."""
    return sum(relay(outbox) or 0 for outbox in outboxes())


def outboxes():
    return [model for model in apps.get_models() if issubclass(model, OutboxEvent)]


def relay(outbox, limit=1000):
    """Copy every event waiting in `outbox` into `events`, then drop them there.

    Returns how many were copied, or None when the copy could not run now: a
    transaction is open (the copy then runs after its commit) or a database
    failed (the rows wait for the next copy; none is ever lost). Safe to run
    from any number of processes at once, and again after a crash at any
    point: each event lands in `events` exactly once.
    """
    source = _alias(outbox)
    for alias in (source, LOGS):
        if connections[alias].in_atomic_block:
            transaction.on_commit(flush if outbox in _waiting else partial(relay, outbox, limit), using=alias)
            return None
    moved = 0
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
        return None
    return moved


def waiting():
    """Events not yet copied, per outbox table (for status pages and tests)."""
    return {outbox._meta.db_table: outbox.objects.waiting().count() for outbox in outboxes()}


def prune_receipts(before):
    """Receipts only matter while their outbox row may still be relayed again."""
    return RelayReceipt.objects.filter(relayed_at__lt=before).delete()[0]


_aliases = {}


def _alias(outbox):
    alias = _aliases.get(outbox)
    if alias is None:
        alias = _aliases[outbox] = router.db_for_write(outbox)
    return alias


def _read(outbox, limit):
    """Outbox rows as the driver returns them: they are written back as they
    are, so nothing is parsed only to be formatted again (on SQLite the
    timestamp is read as an expression, which the driver leaves as text)."""
    connection = connections[_alias(outbox)]
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
    """Drop copied rows, but keep the newest row of the outbox, marked relayed.

    One transaction, so the outbox's write lock is taken once and each row is
    written once (a delete). Rows marked by an earlier copy that died in
    between go too. Plain SQL: the ORM would prepare a lookup per id.
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
    """Receipts first, ON CONFLICT DO NOTHING: whatever another copy already
    took is skipped here, atomically on every backend."""
    connection = connections[LOGS]
    data_field = Event._meta.get_field("data")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(using=LOGS), connection.cursor() as cursor:
        ordering.appending_events(connection)
        fanout.landed()
        for i in range(0, len(rows), CHUNK):
            chunk = {f"{source}:{row[0]}": row for row in rows[i : i + CHUNK]}
            cursor.execute(
                "INSERT INTO event_relay_receipts (key, relayed_at) VALUES {} "
                "ON CONFLICT (key) DO NOTHING RETURNING key".format(", ".join(["(%s, %s)"] * len(chunk))),
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
            counts.add((type, data) for _, type, _, _, _, data, _ in values)
