"""Appending to the event feed (logs.db).

The seed's pub/sub: writers append rows to `events`; subscribers read
`events WHERE id > last_seen`. Changes in main.db and tasks.db write their
events to an outbox instead, which events.relay copies here.
"""

from django.db import connections, transaction
from django.utils import timezone

from events import counts, fanout
from events.models import Event
from storage import ordering


def record(type, *, project=None, agent=None, task_id=None, data=None, level="info"):
    """Append one event. Call inside a logs transaction to tie it to a change there."""
    with transaction.atomic(using="logs"):
        ordering.appending_events(connections["logs"])
        fanout.landed()
        counts.add([(type, data)])
        return Event.objects.create(
            type=type,
            project=project,
            agent=agent,
            task_id=task_id,
            data=data,
            level=level,
            timestamp=timezone.now(),
        )
