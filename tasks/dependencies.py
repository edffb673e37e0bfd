"""Tasks that wait for others (add_task --after, add_dependency).

A task waits as `blocked` until every task it depends on is completed; the
completion that releases it is the trigger of migration 0007. A dependency
that fails or is cancelled cancels the tasks waiting for it, and theirs in
turn: nothing runs on top of broken work.
"""

from django.db import connections
from django.utils import timezone

from common.errors import InvalidInput, NotFound
from tasks import outbox
from tasks.models import Dependency, Status, Task

TASKS = "tasks"
BROKEN = (Status.FAILED, Status.CANCELLED)


def check_ids(after):
    """The distinct ids of `after` in the order given, stripped."""
    ids = []
    for value in after or ():
        value = str(value).strip()
        if not value:
            raise InvalidInput("--after needs a task id")
        if value not in ids:
            ids.append(value)
    return ids


def lock_graph(connection):
    """Serialize changes of the dependency graph, so two of them cannot close a cycle together.

    SQLite's write lock (BEGIN IMMEDIATE) already does; PostgreSQL needs a table lock,
    which conflicts with itself and with no reader or claim.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE task_dependencies IN SHARE ROW EXCLUSIVE MODE")


def upstream(task_id, after):
    """Lock and return the tasks `task_id` is to wait for, refusing unknown, itself, broken ones and cycles.

    Call inside the change's transaction.
    """
    lock_graph(connections[TASKS])
    if task_id in after:
        raise InvalidInput(f"task {task_id} cannot wait for itself")
    found = {t.id: t for t in Task.objects.select_for_update().filter(pk__in=after)}
    for task_id_after in after:
        if task_id_after not in found:
            raise NotFound(f"no task with id {task_id_after!r} to wait for")
    for other in found.values():
        if other.status in BROKEN:
            raise InvalidInput(f"task {other.id} is {other.status}: nothing can wait for it (retry it first)")
    if task_id is not None:
        chain = _path(after, task_id)
        if chain:
            raise InvalidInput(f"task {task_id} cannot wait for {chain[0]}: that would be a cycle ({' -> '.join([task_id, *chain])}, each waiting for the next)")
    return [found[i] for i in after]


def _path(starts, target):
    """A chain of waits [start, …, target] from one of `starts` to `target`, or None."""
    came_from = {start: None for start in starts}
    frontier = list(starts)
    while frontier:
        edges = Dependency.objects.filter(task_id__in=frontier).values_list("task_id", "after_id")
        frontier = []
        for waiting, after in edges:
            if after in came_from:
                continue
            came_from[after] = waiting
            if after == target:
                chain = [after]
                while came_from[chain[-1]] is not None:
                    chain.append(came_from[chain[-1]])
                return chain[::-1]
            frontier.append(after)
    return None


def link(task, after):
    Dependency.objects.bulk_create([Dependency(task_id=task.id, after_id=other.id) for other in after], ignore_conflicts=True)


def unmet(task):
    """The tasks `task` still waits for (not completed), locked."""
    ids = Dependency.objects.filter(task_id=task.id).values_list("after_id", flat=True)
    return list(Task.objects.select_for_update().filter(pk__in=list(ids)).exclude(status=Status.COMPLETED).order_by("id"))


def cancel_waiting(task):
    """`task` failed or was cancelled: cancel every task waiting for it, and down the chain.

    Returns the ids cancelled. Call inside the change's transaction.
    """
    cancelled = []
    broken = [task]
    while broken:
        cause = broken.pop(0)
        ids = Dependency.objects.filter(after_id=cause.id).values_list("task_id", flat=True)
        for waiting in Task.objects.select_for_update().filter(pk__in=list(ids), status=Status.BLOCKED).order_by("id"):
            waiting.status = Status.CANCELLED
            waiting.completed_at = timezone.now()
            waiting.error = f"cancelled: task {cause.id}, which it waits for, is {cause.status}"
            waiting.save(update_fields=["status", "completed_at", "error"])
            outbox.write("task.cancelled", waiting, data={"by": "dependency", "after": cause.id}, level="warn")
            cancelled.append(waiting.id)
            broken.append(waiting)
    return cancelled


def of(task):
    """(what `task` waits for, what waits for it): lists of Tasks, with ids of archived ones as strings."""
    after_ids = list(Dependency.objects.filter(task_id=task.id).order_by("id").values_list("after_id", flat=True))
    waiting_ids = list(Dependency.objects.filter(after_id=task.id).order_by("id").values_list("task_id", flat=True))
    found = Task.objects.in_bulk(after_ids + waiting_ids)
    return [found.get(i, i) for i in after_ids], [found.get(i, i) for i in waiting_ids]
