"""Appending to and reading the event feed (logs.db).

The seed's pub/sub: writers append rows to `events`; subscribers read
`events WHERE id > last_seen`.
"""

import logging

from django.db import DatabaseError, router, transaction
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


def relay(outbox, rows=None, limit=500):
    """Copy events from an outbox model into `events`, then drop them from the outbox.

    With `rows`, just those (what a change just wrote); without, everything
    left behind by processes that died between the two steps. A failure
    leaves the rows for the next relay (the reaper sweeps), never loses them.
    """
    if rows is not None and not rows:
        return 0
    source = router.db_for_write(outbox)
    moved = 0
    try:
        while True:
            batch = rows if rows is not None else list(outbox.objects.order_by("id")[:limit])
            if not batch:
                break
            _append_once(source, batch)
            outbox.objects.filter(id__in=[row.id for row in batch]).delete()
            moved += len(batch)
            if rows is not None or len(batch) < limit:
                break
    except DatabaseError as e:
        log.warning("events not relayed yet (the reaper will retry): %s", e)
    return moved


def _append_once(source, rows):
    keys = {f"{source}:{row.id}": row for row in rows}
    with transaction.atomic(using=LOGS):
        done = set(RelayReceipt.objects.filter(key__in=list(keys)).values_list("key", flat=True))
        fresh = {key: row for key, row in keys.items() if key not in done}
        if not fresh:
            return
        RelayReceipt.objects.bulk_create([RelayReceipt(key=key) for key in fresh])
        Event.objects.bulk_create(
            [
                Event(
                    type=row.type,
                    project=row.project,
                    agent=row.agent,
                    task_id=row.task_id,
                    data=row.data,
                    level=row.level,
                    timestamp=row.created_at,
                )
                for row in fresh.values()
            ]
        )


def prune_receipts(before):
    """Receipts only matter while their outbox row may still be relayed again."""
    return RelayReceipt.objects.filter(relayed_at__lt=before).delete()[0]
