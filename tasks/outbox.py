"""Writing a task change's event into tasks.db's outbox, inside the change's transaction.

events.relay copies it to logs.db once that transaction commits.
"""

from events import relay
from tasks import wakeups
from tasks.models import Outbox


def write(type, task=None, agent=None, data=None, level="info", project=None):
    """The event of a change to `task` (or, without one, to `project`)."""
    relay.changed(Outbox)
    wakeups.changed(type, task.project if task is not None else project, task.status if task is not None else None)
    return Outbox.objects.create(
        type=type,
        project=task.project if task is not None else project,
        agent=agent if agent is not None or task is None else task.assigned_to,
        task_id=task.id if task is not None else None,
        data={"status": task.status, **(data or {})} if task is not None else (data or {}),
        level=level,
    )
