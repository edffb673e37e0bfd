"""Shipping events from logs.db to ClickHouse, exactly once (ship_events, the reaper's sweep).

logs.db keeps days of events, ClickHouse months (storage.clickhouse). Events
are copied in id order, in batches, and each event lands in ClickHouse
exactly once, whatever kills the shipper and however many run at once.

How, and why this way:

- **The watermark is the data.** Before each batch the shipper asks
  ClickHouse for max(id) and copies the events above it. There is no
  separate "shipped up to" record to fall behind or run ahead of the rows,
  so there is no moment between an insert and its watermark for a crash to
  fall into.
- **Each INSERT appears whole or not at all.** A batch is cut into runs of
  consecutive ids whose timestamps fall in one month, and each run is one
  INSERT of one block: ClickHouse writes a block of one partition as one
  part, made visible by a rename. Runs go in id order, so whatever a
  SIGKILL leaves behind is every event up to some id, and max(id) is exact.
- **One shipper at a time.** Two shippers reading the same max(id) would
  copy the same batch. ClickHouse 18.16 deduplicates inserts only for
  replicated tables, so the shippers take a lease in logs.db first
  (ShipLease, one conditional UPDATE, renewed every batch). A holder that
  dies frees it when it expires, or at once when it was a process of this
  machine that no longer exists. The one that finds it taken ships nothing
  and says so.
- **Only committed events, in id order.** SQLite and libSQL have one writer,
  so ids commit in order. On PostgreSQL a lower id can commit after a higher
  one; there the shipper reads its ceiling (the highest id it copies this
  run) under a SHARE lock on `events`, which waits for every transaction
  still inserting and so for every id below.
- The table is a ReplacingMergeTree keyed on the id, a backstop only: a
  copy that slipped past everything above (a lease that expired under a
  shipper stalled for minutes) is merged away in time. Reads never need FINAL.

ReplacingMergeTree alone, read with FINAL or uniqExact(id), was the other
way: every count on the page would pay for deduplication at read time, and
18.16's FINAL reads with one thread.
"""

import json
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from common import maintenance
from common.errors import InvalidInput
from events.models import ShipLease
from storage import clickhouse, hub
from storage.clickhouse import Unavailable

LOGS = "logs"
# Batch sizes: at least 10,000 rows per INSERT (ClickHouse wants few, big
# inserts); at most what the driver sends as one block.
DEFAULT_BATCH_SIZE = 10_000
MIN_BATCH_SIZE = 10_000
MAX_BATCH_SIZE = 1_000_000
# Long enough for a batch of MAX_BATCH_SIZE on a slow disk; renewed before every batch.
LEASE_SECONDS = 300

__all__ = ["Unavailable", "configured", "ship", "shipped_to"]


def configured():
    """Whether ADT_CLICKHOUSE_URL is set (the reaper ships only then)."""
    return clickhouse.configured()


@hub.one_at_a_time("ship_events")
def ship(batch_size=DEFAULT_BATCH_SIZE, progress=None):
    """Copy every event of logs.db not yet in ClickHouse. Returns a summary dict.

    Raises InvalidInput for a bad batch size and Unavailable when ClickHouse
    is not configured or does not answer (nothing is lost: the next run goes on).
    `progress(done, total)` is called after each batch.
    """
    batch_size = check_batch_size(batch_size)
    if not configured():
        raise Unavailable("ADT_CLICKHOUSE_URL is not set; nothing to ship to")
    began = time.monotonic()
    clickhouse.ensure_schema()
    summary = {"shipped": 0, "batches": 0, "up_to": None, "busy": None, "clickhouse": clickhouse.where()}
    holder = _holder()
    taken_by = _take_lease(holder)
    if taken_by:
        summary["busy"] = taken_by
        summary["up_to"] = clickhouse.max_id()
        return _done(summary, began)
    try:
        ceiling = _ceiling()
        shipped_to = clickhouse.max_id()
        total = _count(shipped_to, ceiling)
        while True:
            # Also tells readers what has landed (a crash may have left it behind).
            if not _renew_lease(holder, shipped_to):
                summary["busy"] = "lost the lease (another shipper took it after it expired)"
                break
            if shipped_to >= ceiling:
                break
            rows = _read(shipped_to, ceiling, batch_size)
            if not rows:
                break
            for run in _runs(rows):
                clickhouse.insert(run)
            shipped_to = rows[-1][0]
            summary["shipped"] += len(rows)
            summary["batches"] += 1
            if progress:
                progress(summary["shipped"], total)
        summary["up_to"] = shipped_to
    finally:
        _release_lease(holder)
    return _done(summary, began)


def shipped_to():
    """Every event up to this id is in ClickHouse (history reads them there; prune_logs may drop them)."""
    return ShipLease.objects.filter(name=_lease()).values_list("shipped_to", flat=True).first() or 0


def check_batch_size(value):
    value = maintenance.check_batch_size(value)
    if not MIN_BATCH_SIZE <= value <= MAX_BATCH_SIZE:
        raise InvalidInput(f"--batch-size must be between {MIN_BATCH_SIZE:,} and {MAX_BATCH_SIZE:,}, not {value:,}")
    return value


def _done(summary, began):
    seconds = time.monotonic() - began
    summary["seconds"] = round(seconds, 3)
    summary["per_second"] = round(summary["shipped"] / seconds) if seconds > 0 else 0
    return summary


def _ceiling():
    """The highest id this run copies: every id up to it has committed."""
    connection = connections[LOGS]
    with transaction.atomic(using=LOGS), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Waits for the transactions still inserting events (they hold
            # ROW EXCLUSIVE), so no id below the max can commit later.
            cursor.execute("LOCK TABLE events IN SHARE MODE")
        cursor.execute("SELECT MAX(id) FROM events")
        return cursor.fetchone()[0] or 0


def _count(after, up_to):
    with connections[LOGS].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM events WHERE id > %s AND id <= %s", [after, up_to])
        return cursor.fetchone()[0]


def _read(after, up_to, limit):
    """The next rows above `after`, as ClickHouse takes them (timestamps in epoch seconds).

    Plain SQL, read as the driver returns it: the ORM would build an Event
    and parse its JSON per row, only for it to go out again as text.
    """
    connection = connections[LOGS]
    # Epoch seconds computed by the database: parsing them in Python was a fifth of a ship's time.
    timestamp, data, epoch = "timestamp", "data", clickhouse.epoch
    if connection.vendor == "sqlite":
        timestamp, epoch = "CAST(strftime('%%s', timestamp) AS INTEGER)", _int
    elif connection.vendor == "postgresql":
        timestamp, data, epoch = "CAST(FLOOR(EXTRACT(EPOCH FROM timestamp)) AS BIGINT)", "data::text", _int
    sql = (
        f"SELECT id, {timestamp}, type, project, agent, task_id, {data}, level FROM events "
        "WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [after, up_to, limit])
        return [
            (id, epoch(ts), type, project or "", agent, task_id, _text(data), level or "")
            for id, ts, type, project, agent, task_id, data, level in cursor.fetchall()
        ]


def _int(value):
    return value or 0


def _text(data):
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, bytes):
        return data.decode()
    return json.dumps(data)


def _runs(rows):
    """Consecutive rows of one month each, in id order: one atomic INSERT each."""
    run, month = [], None
    for row in rows:
        stamp = datetime.fromtimestamp(row[1], UTC)
        this = (stamp.year, stamp.month)
        if run and this != month:
            yield run
            run = []
        run.append(row)
        month = this
    if run:
        yield run


def _lease():
    """One lease and one mark per ClickHouse database: pointing ADT_CLICKHOUSE_URL at a
    new one starts from nothing. By database name, not host, so two machines that
    name the same server differently still share the lease."""
    return f"clickhouse/{clickhouse.database()}"


def _holder():
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _take_lease(holder):
    """Take the lease; returns None when taken, else who holds it."""
    now = timezone.now()
    with transaction.atomic(using=LOGS):
        ShipLease.objects.get_or_create(name=_lease())
        free = Q(holder__isnull=True) | Q(expires_at__lt=now)
        if ShipLease.objects.filter(free, name=_lease()).update(holder=holder, expires_at=now + timedelta(seconds=LEASE_SECONDS)):
            return None
        current = ShipLease.objects.filter(name=_lease()).values_list("holder", flat=True).first()
        # A process of this machine that is gone cannot be shipping: take
        # over at once rather than wait for the lease to expire. Only if the
        # holder is still that one (another process may be taking over too).
        if current and _dead_here(current):
            if ShipLease.objects.filter(name=_lease(), holder=current).update(
                holder=holder, expires_at=now + timedelta(seconds=LEASE_SECONDS)
            ):
                return None
        return current or "another shipper"


def _dead_here(holder):
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(int(pid))


def _zombie(pid):
    """A killed child its parent has not reaped yet still has a pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _renew_lease(holder, shipped_to):
    with transaction.atomic(using=LOGS):
        return bool(
            ShipLease.objects.filter(name=_lease(), holder=holder).update(
                expires_at=timezone.now() + timedelta(seconds=LEASE_SECONDS), shipped_to=shipped_to
            )
        )


def _release_lease(holder):
    try:
        with transaction.atomic(using=LOGS):
            ShipLease.objects.filter(name=_lease(), holder=holder).update(holder=None, expires_at=None)
    except Exception:  # The lease expires by itself; the error that brought us here matters more.
        pass
