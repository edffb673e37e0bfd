"""The project registry (main.db): what tasks, agents and events refer to by name."""

from django.db import models
from django.utils import timezone

from common.expressions import CurrentTimestamp
from storage.outbox import OutboxEvent


class Project(models.Model):
    name = models.TextField(primary_key=True)
    path = models.TextField()
    created_at = models.DateTimeField(null=True, default=timezone.now, db_default=CurrentTimestamp())
    config = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "projects"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Outbox(OutboxEvent):
    """Events of changes in main.db (projects, agents), committed with the change (see events.relay)."""

    class Meta:
        db_table = "main_event_outbox"
