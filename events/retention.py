"""Keeping logs.db to its retention period: old events, finished runs, relay receipts.

Rows go in small batches, each its own short write transaction, so agents
writing events wait for one batch at most. The space comes back the same
way, with PRAGMA incremental_vacuum in steps (storage.localdb.reclaim);
a full VACUUM, which holds the write lock for the whole rewrite, only when
asked for.

Where logs.db is PostgreSQL with TimescaleDB and `events` a hypertable
(events migration 0004), old events go first as whole chunks (drop_chunks:
no row by row delete, the space back at once), then the rows of the chunk
the cutoff falls in by the same batched delete. Runs always go by the
batched delete: a chunk of runs by start time may hold one still running.
A PostgreSQL logs database without TimescaleDB is refused as before (its
own tools and autovacuum look after it).
"""

import time
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from common.errors import InvalidInput
from common.maintenance import check_batch_size, check_days
from events import feed, relay, shipping
from events.models import AgentRun, Event, RelayReceipt, RunStatus
from storage import hub, localdb, timescale

LOGS = "logs"
# Rows per write transaction. Claims relay their events into logs.db, so
# they wait for a batch too; events are small rows in time order.
BATCH_SIZE = 1000
# A relay receipt only guards an outbox row a crashed process may relay
# again; a day later that row is long gone (see events.relay).
RECEIPTS_KEPT = timedelta(days=1)


def old_events(cutoff):
    events = Event.objects.filter(timestamp__lt=cutoff)
    if shipping.configured():
        # Only what ClickHouse has: the history reads those there; one not shipped yet would be lost.
        events = events.filter(id__lte=shipping.shipped_to())
    return events


def old_runs(cutoff):
    """Runs that ended (or, with no end recorded, started) before the cutoff and are not running.

    A run with no status and no end may still be running: it stays.
    """
    return (
        AgentRun.objects.filter(started_at__lt=cutoff)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__lt=cutoff))
        .exclude(status=RunStatus.RUNNING)
        .exclude(status__isnull=True, ended_at__isnull=True)
    )


@hub.one_at_a_time("prune_logs", unless="dry_run")
def prune(older_than=None, *, dry_run=False, vacuum=False, batch_size=BATCH_SIZE, progress=None):
    """Delete events and finished runs older than `older_than` days (default
    ADT_LOG_RETENTION_DAYS) and relay receipts older than a day.

    `progress(done, total)` is called after each batch. Returns a summary
    dict; a real run also writes it as one `logs.pruned` event.
    """
    days = check_days(settings.ADT_LOG_RETENTION_DAYS if older_than is None else older_than)
    batch_size = check_batch_size(batch_size)
    if vacuum and dry_run:
        raise InvalidInput("--vacuum and --dry-run do not go together")
    chunked = timescale.in_use(LOGS, "events")
    if not chunked:
        localdb.path(LOGS)  # refuse a remote logs database before doing anything
    elif vacuum:
        raise InvalidInput("--vacuum is for a SQLite file; on PostgreSQL autovacuum gives deleted rows' space back")
    started = time.monotonic()
    now = timezone.now()
    cutoff = now - timedelta(days=days)
    receipts_before = now - RECEIPTS_KEPT
    summary = {
        "dry_run": dry_run,
        "older_than_days": days,
        "cutoff": cutoff.isoformat(),
        "events": old_events(cutoff).count(),
        "runs": old_runs(cutoff).count(),
        "receipts": RelayReceipt.objects.filter(relayed_at__lt=receipts_before).count(),
        "batches": 0,
        "freed_bytes": 0,
        "vacuum": vacuum,
    }
    if chunked:
        summary["chunks"] = timescale.chunks_older_than(LOGS, "events", cutoff)
    if dry_run:
        return _timed(summary, started)
    total = summary["events"] + summary["runs"]
    done = {"events": 0, "runs": 0}
    if chunked:
        raw = None
        before, size = old_events(cutoff).count(), timescale.size(LOGS, "events")
        summary["chunks"] = timescale.drop_chunks(LOGS, "events", cutoff)
        done["events"] = before - old_events(cutoff).count()
        summary["freed_bytes"] = max(0, size - timescale.size(LOGS, "events"))
        if progress:
            progress(done["events"], total)
    else:
        connections[LOGS].ensure_connection()
        raw = connections[LOGS].connection
        localdb.manual_checkpoints(raw)
    for name, rows in (("events", old_events), ("runs", old_runs)):
        while True:
            batch_started = time.monotonic()
            with transaction.atomic(using=LOGS):
                ids = list(rows(cutoff).order_by().values_list("id", flat=True)[:batch_size])
                if ids:
                    rows(cutoff).filter(id__in=ids).delete()
            if not ids:
                break
            if raw is not None:
                localdb.breathe(raw, time.monotonic() - batch_started)
            done[name] += len(ids)
            summary["batches"] += 1
            if progress:
                progress(done["events"] + done["runs"], total)
    summary.update(done)
    summary["receipts"] = relay.prune_receipts(receipts_before)
    if not chunked:
        summary["freed_bytes"] = localdb.vacuum(LOGS) if vacuum else localdb.reclaim(LOGS)
    _timed(summary, started)
    feed.record("logs.pruned", data={k: v for k, v in summary.items() if k != "dry_run"})
    return summary


def _timed(summary, started):
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary
