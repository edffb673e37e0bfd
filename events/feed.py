"""Appending to the event feed (logs.db).

The seed's pub/sub: writers append rows to `events`; subscribers read
`events WHERE id > last_seen`. Changes in main.db and tasks.db write their
events to an outbox instead, which events.relay copies here.
"""

from django.utils import timezone

from events.models import Event


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
