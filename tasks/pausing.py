"""Pausing a project: its ready tasks wait as `paused` and claims skip it.

pause() turns the project's pending tasks into paused ones, and every change
that makes a task ready (adding, a schedule falling due, a retry, a requeue,
the release of waiting tasks) makes it paused instead while the pause lasts,
so claims never read a paused project's work. resume() makes them pending
again, in the order they were queued. Tasks in progress run on.
"""

from django.db import connections, transaction
from django.utils import timezone

from common.errors import Conflict
from storage import statements
from tasks import outbox
from tasks.checks import check_project
from tasks.models import Pause, Status, Task

TASKS = "tasks"


# Asked on every add: a plain statement, as the ORM's .exists() took a fifth
# of an add's CPU time (docs/benchmarks.md).
PAUSED_SQL = "SELECT 1 FROM paused_projects WHERE project = %s"


def is_paused(project):
    return statements.fetch_one(connections[TASKS], PAUSED_SQL, [project]) is not None


def ready_status(project):
    """What a task of `project` becomes when nothing else holds it back."""
    return Status.PAUSED if is_paused(project) else Status.PENDING


def paused_projects():
    """{project: Pause} for every paused project."""
    return {pause.project: pause for pause in Pause.objects.all()}


def pause(project, by=None, reason=None):
    """Pause `project`. Returns the Pause and how many pending tasks it holds back."""
    check_project(project)
    with transaction.atomic(using=TASKS):
        if Pause.objects.filter(pk=project).exists():
            raise Conflict(f"project {project} is already paused")
        paused = Pause.objects.create(project=project, paused_by=by, reason=reason or None, paused_at=timezone.now())
        held = Task.objects.filter(project=project, status=Status.PENDING).update(status=Status.PAUSED)
        outbox.write("project.paused", project=project, data={"by": by, "reason": reason or None, "tasks": held})
    return paused, held


def resume(project, by=None):
    """Resume `project`. Returns how many tasks became pending again."""
    check_project(project)
    with transaction.atomic(using=TASKS):
        paused = Pause.objects.select_for_update().filter(pk=project).first()
        if paused is None:
            raise Conflict(f"project {project} is not paused")
        paused.delete()
        released = Task.objects.filter(project=project, status=Status.PAUSED).update(status=Status.PENDING)
        seconds = round((timezone.now() - paused.paused_at).total_seconds())
        outbox.write("project.resumed", project=project, data={"by": by, "tasks": released, "paused_seconds": seconds})
    return released
