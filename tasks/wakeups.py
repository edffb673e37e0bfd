"""Waking waiting claims the moment a task becomes claimable (when Redis is configured).

After a change that makes a task ready commits, a hint goes out on the
project's channel; a waiting claim listens to its project's channel (or to
every project's) and claims at once instead of polling. The hint is only
a hint (storage.hub): the waiting claim still looks every
ADT_REDIS_SAFETY_POLL seconds.

`tasks.outbox.write` calls `changed` for every task event, so no path that
readies a task can forget it. The release of blocked tasks happens in a
trigger on completion (migration 0007): `completed` looks, after the
commit, for the tasks that completion made pending.
"""

from functools import partial

from django.db import transaction

from storage import hub
from tasks.models import Status, Task

TASKS = "tasks"

# Events after which a task of the project may be claimable, or due sooner
# than a waiting claim planned (task.scheduled: it re-reads the next due time).
READYING = {
    "task.created", "task.due", "task.retried", "task.requeued", "task.unblocked",
    "task.scheduled", "project.resumed",
}


def channel(project):
    return f"ready:{project}"


def changed(type, project, status=None):
    """A task event is being written: wake waiting claims once its change commits."""
    if not hub.configured() or type not in READYING or project is None:
        return
    if status is not None and status not in (Status.PENDING, Status.SCHEDULED):
        return  # blocked, paused or failed: nothing to claim yet
    transaction.on_commit(partial(hub.publish, channel(project)), using=TASKS)


def on_complete(task):
    """Called by every completion: only with Redis does it cost anything."""
    if hub.configured():
        transaction.on_commit(partial(completed, task), using=TASKS)


def completed(task):
    """`task` completed: wake the projects of the tasks its completion released."""
    if not hub.configured():
        return
    released = (
        Task.objects.filter(waits_for__after_id=task.id, status=Status.PENDING)
        .values_list("project", flat=True).distinct()
    )
    for project in released:
        hub.publish(channel(project))


def listener(project=None):
    """A subscription to `project`'s channel, or every project's."""
    return hub.Listener([channel(project if project is not None else "*")])
