"""Recurring tasks (tasks.db): a cron expression that enqueues a task at each of its times."""

from django.db import models
from django.utils import timezone

from tasks.models import Priority


class Schedule(models.Model):
    name = models.TextField(primary_key=True)
    # Names a row of main.db's projects: another file, so checked in code.
    project = models.TextField()
    cron = models.TextField()
    # The zone the cron expression is read in (an IANA name).
    zone = models.TextField(default="UTC")
    description = models.TextField()
    priority = models.TextField(choices=Priority.choices, default=Priority.NORMAL)
    timeout = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The latest time of the expression a task was enqueued for (or, before
    # the first, the latest time before the schedule was added): a tick
    # enqueues only for a later one, so each time gives one task.
    last_slot = models.DateTimeField(null=True, blank=True)
    last_task = models.TextField(null=True, blank=True)
    # Why the latest tick could not enqueue (the project was removed, say).
    last_error = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "schedules"
        ordering = ["name"]

    def __str__(self):
        return self.name
