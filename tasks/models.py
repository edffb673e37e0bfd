"""The task queue (tasks.db)."""

import uuid

from django.db import models
from django.db.models.expressions import RawSQL
from django.utils import timezone

from common.expressions import CurrentTimestamp
from storage.outbox import OutboxEvent


class Priority(models.TextChoices):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Status(models.TextChoices):
    # Waiting for its run_at (add_task --at/--in); claims never see it.
    SCHEDULED = "scheduled"
    # Waiting for the tasks it depends on to complete (add_task --after).
    BLOCKED = "blocked"
    # Ready, but its project is paused (pause_project); pending again on resume.
    PAUSED = "paused"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
# While a task is in one of these, its unique key is taken (add_task --unique).
UNFINISHED = (Status.SCHEDULED, Status.BLOCKED, Status.PAUSED, Status.PENDING, Status.IN_PROGRESS)

# Claim order: urgent first, then high, normal, low. Written as literal SQL,
# not as Case/When, because SQLite only uses an index on an expression when
# the query spells the same expression, and Case/When would bind the
# priorities as parameters.
PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}
PRIORITY_RANK_SQL = (
    "CASE priority " + " ".join(f"WHEN '{p}' THEN {rank}" for p, rank in PRIORITY_RANK.items()) + " ELSE 4 END"
)


def priority_rank():
    return RawSQL(PRIORITY_RANK_SQL, (), output_field=models.IntegerField())


def new_task_id():
    return uuid.uuid4().hex[:16]


class TaskQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=Status.PENDING)

    def in_progress(self):
        return self.filter(status=Status.IN_PROGRESS)

    def for_project(self, project):
        return self.filter(project=project) if project else self

    def overdue(self, now):
        """In progress past the deadline: what the reaper takes back."""
        return self.filter(status=Status.IN_PROGRESS, deadline__lt=now)

    def held_by(self, agent):
        return self.filter(status=Status.IN_PROGRESS, assigned_to=agent)

    def due(self, now):
        """Scheduled tasks whose time has come: what queue.promote_due makes pending.

        The status is written as a literal: SQLite uses the partial index
        idx_tasks_scheduled only when the query spells its condition, and a
        bound parameter does not (it would read every scheduled task instead).
        """
        scheduled = RawSQL(f"status = '{Status.SCHEDULED}'", (), output_field=models.BooleanField())
        return self.filter(scheduled, run_at__lte=now)

    def in_claim_order(self):
        return self.order_by(priority_rank(), "created_at")


class Task(models.Model):
    id = models.TextField(primary_key=True, default=new_task_id)
    # Names a row of main.db's projects: another file, so checked in code.
    project = models.TextField()
    description = models.TextField()
    priority = models.TextField(
        choices=Priority.choices, null=True, default=Priority.NORMAL, db_default=Priority.NORMAL
    )
    status = models.TextField(
        choices=Status.choices, null=True, default=Status.PENDING, db_default=Status.PENDING
    )
    assigned_to = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, default=timezone.now, db_default=CurrentTimestamp())
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    retry_count = models.IntegerField(null=True, default=0, db_default=0)
    metadata = models.JSONField(null=True, blank=True)
    # The task's own time limit in seconds (add_task --timeout); without one
    # the claim applies the project's `task_timeout`, else ADT_TASK_TIMEOUT.
    timeout = models.IntegerField(null=True, blank=True)
    # While in progress: when the reaper takes the task back (set by the
    # claim, pushed out by extend_task). Read only among in-progress tasks,
    # which idx_tasks_status finds, so it needs no index of its own.
    deadline = models.DateTimeField(null=True, blank=True)
    # When a scheduled task becomes pending (add_task --at/--in).
    run_at = models.DateTimeField(null=True, blank=True)
    # add_task --unique: one unfinished task per project and key.
    unique_key = models.TextField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        db_table = "tasks"
        indexes = [
            models.Index(fields=["status"], name="idx_tasks_status"),
            models.Index(fields=["project"], name="idx_tasks_project"),
            models.Index(fields=["created_at"], name="idx_tasks_created"),
            # queue.claim() without a project: WHERE status=… ORDER BY rank, created_at.
            models.Index(
                models.F("status"), priority_rank(), models.F("created_at"), name="idx_tasks_claim"
            ),
            # queue.claim() for one project (what claim_task does by default).
            models.Index(
                models.F("project"),
                models.F("status"),
                priority_rank(),
                models.F("created_at"),
                name="idx_tasks_project_claim",
            ),
            # The web admin (migration 0003). The dashboard's chart of the last
            # 24 h: WHERE completed_at >= … read from the index alone (a scan of
            # every task without it). Partial, so a claim, which changes the
            # status of a task not yet finished, never has to update it.
            models.Index(
                fields=["completed_at", "status"],
                condition=models.Q(completed_at__isnull=False),
                name="idx_tasks_completed",
            ),
            # The admin change list filtered by project, newest first: without it
            # SQLite sorts every task of the project. Written only on insert.
            models.Index(fields=["project", "created_at"], name="idx_tasks_project_created"),
            # queue.promote_due(): the scheduled tasks in time order. Partial, so
            # claims and completions, which never touch scheduled rows, never update it.
            models.Index(fields=["status", "run_at"], condition=models.Q(status=Status.SCHEDULED), name="idx_tasks_scheduled"),
        ]
        constraints = [
            # Two processes adding one key at once: the index, not a read, refuses the second.
            models.UniqueConstraint(
                fields=["project", "unique_key"],
                condition=models.Q(unique_key__isnull=False, status__in=UNFINISHED),
                name="uniq_tasks_unfinished_key",
            ),
        ]

    def __str__(self):
        return f"{self.id} {self.description[:60]}"

    @property
    def waited(self):
        """Seconds from being added to being claimed; so far while it waits; None
        when it finished without a claim (cancelled, say) or has no times."""
        if self.created_at is None:
            return None
        if self.started_at is not None:
            end = self.started_at
        elif self.status in (Status.PENDING, Status.PAUSED, Status.BLOCKED, Status.SCHEDULED):
            end = timezone.now()
        else:
            return None
        return max((end - self.created_at).total_seconds(), 0)

    @property
    def ran(self):
        """Seconds from the claim to the end (so far while in progress); None if never claimed."""
        if self.started_at is None:
            return None
        end = self.completed_at or (timezone.now() if self.status == Status.IN_PROGRESS else None)
        return None if end is None else max((end - self.started_at).total_seconds(), 0)


class Dependency(models.Model):
    """`task` waits for `after` to complete (add_task --after, add_dependency).

    Kept after the wait is over, so a task's page shows its history. The
    release of waiting tasks is the trigger of migration 0007: it runs inside
    the completing UPDATE, so the release commits with the completion.
    """

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="waits_for"
    )
    after = models.ForeignKey(
        Task, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="waited_on_by"
    )

    class Meta:
        db_table = "task_dependencies"
        constraints = [models.UniqueConstraint(fields=["task", "after"], name="uniq_task_dependency")]
        # The release on completion and the archive look up who waits for a task.
        indexes = [models.Index(fields=["after"], name="idx_dependencies_after")]

    def __str__(self):
        return f"{self.task_id} waits for {self.after_id}"


class Pause(models.Model):
    """A paused project (pause_project): its ready tasks wait as `paused`, claims skip it."""

    project = models.TextField(primary_key=True)
    paused_at = models.DateTimeField(default=timezone.now)
    paused_by = models.TextField(null=True, blank=True)
    reason = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "paused_projects"

    def __str__(self):
        return self.project


class Outbox(OutboxEvent):
    """Events of task changes, committed with the change (see events.relay)."""

    class Meta:
        db_table = "task_event_outbox"
