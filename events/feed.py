"""Appending to the event feed (logs.db).

The seed's pub/sub: writers append rows to `events`; subscribers read
`events WHERE id > last_seen`. Changes in main.db and tasks.db write their
events to an outbox instead, which events.relay copies here.
"""

from django.db import transaction
from django.utils import timezone

from events import counts
from events.models import Event


def record(type, *, project=None, agent=None, task_id=None, data=None, level="info"):
    """Append one event. Call inside a logs transaction to tie it to a change there."""
    with transaction.atomic(using="logs"):
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
