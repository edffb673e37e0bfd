"""Events (the seed's pub/sub) and agent run history (logs.db)."""

from django.db import models
from django.utils import timezone

from common.expressions import CurrentTimestamp


class Level(models.TextChoices):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class EventQuerySet(models.QuerySet):
    def after(self, last_seen):
        """The seed's subscriber cursor: events WHERE id > last_seen."""
        return self.filter(id__gt=last_seen).order_by("id")

    def for_task(self, task_id):
        return self.filter(task_id=task_id)


class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    timestamp = models.DateTimeField(null=True, default=timezone.now, db_default=CurrentTimestamp())
    type = models.TextField()
    project = models.TextField(null=True, blank=True)
    agent = models.TextField(null=True, blank=True)
    task_id = models.TextField(null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    level = models.TextField(
        choices=Level.choices, null=True, default=Level.INFO, db_default=Level.INFO
    )

    objects = EventQuerySet.as_manager()

    class Meta:
        db_table = "events"
        indexes = [
            models.Index(fields=["timestamp"], name="idx_events_time"),
            models.Index(fields=["project"], name="idx_events_project"),
            models.Index(fields=["type"], name="idx_events_type"),
            # The web admin (migration 0002). A task's timeline
            # (Event.objects.for_task, the task page and admin search by task id):
            # without it, a scan of every event.
            models.Index(fields=["task_id"], name="idx_events_task"),
            # The feed and the admin filtered by level, newest first: SQLite walks
            # this index in id order, so a rare level costs no scan.
            models.Index(fields=["level"], name="idx_events_level"),
        ]

    def __str__(self):
        return f"#{self.id} {self.kind}"

    @property
    def kind(self):
        """The type as written today. Before task.attempt_failed existed, an
        agent's failure with retries left was written as task.retried (a retry
        by hand carries "manual")."""
        if self.type == "task.retried" and not (isinstance(self.data, dict) and self.data.get("manual")):
            return "task.attempt_failed"
        return self.type


class RunStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"
    STOPPED = "stopped"


class AgentRun(models.Model):
    id = models.BigAutoField(primary_key=True)
    project = models.TextField()
    provider = models.TextField(null=True, blank=True)
    task = models.TextField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    status = models.TextField(choices=RunStatus.choices, null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    log_path = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "agent_runs"
        indexes = [
            models.Index(fields=["project"], name="idx_runs_project"),
            models.Index(fields=["started_at"], name="idx_runs_time"),
            # The runs page filtered by status, or by agent and status, newest
            # first (events/run_views.py): read in id order from these, so a rare
            # status costs no scan of every run. By agent alone, idx_runs_project
            # already yields id order (SQLite keeps the rowid in every index).
            models.Index(fields=["status", "id"], name="idx_runs_status"),
            models.Index(fields=["project", "status", "id"], name="idx_runs_project_status"),
        ]

    def __str__(self):
        return f"run {self.id} ({self.project})"


class RelayReceipt(models.Model):
    """One row per outbox event already copied into `events`, so a relay
    interrupted after its commit here never copies the same event twice.
    The key is "<database alias>:<outbox id>"."""

    key = models.TextField(primary_key=True)
    relayed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "event_relay_receipts"

    def __str__(self):
        return self.key


class EventCount(models.Model):
    """How many events of each kind were ever recorded: the counters of /metrics.

    Moved forward in the transaction that records the events (the relay, or
    feed.record), so they survive restarts, are the same in every gunicorn
    worker, and never go back when prune_logs deletes old events. A requeue
    is also counted under its reason ("task.requeued.timeout").
    """

    key = models.TextField(primary_key=True)
    n = models.BigIntegerField(default=0)

    class Meta:
        db_table = "event_counts"

    def __str__(self):
        return f"{self.key}: {self.n}"


class ShipLease(models.Model):
    """Who is copying events to ClickHouse now (events.shipping): one row per
    destination. A shipper takes it with one conditional UPDATE, so two
    shippers never copy the same batch; `expires_at` frees it after a crash.

    `shipped_to` is for readers (events.history) and prune_logs: every event
    up to it is in ClickHouse. It is moved after each batch lands, so it may
    lag behind ClickHouse's max(id) after a crash, never run ahead. The
    shipper itself goes by max(id) in ClickHouse.
    """

    name = models.TextField(primary_key=True)
    holder = models.TextField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    shipped_to = models.BigIntegerField(default=0)

    class Meta:
        db_table = "event_ship_lease"

    def __str__(self):
        return f"{self.name}: {self.holder or 'free'}"
