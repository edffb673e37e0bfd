"""The outbox every database but logs.db writes its events into (see docs/outbox.md).

Each database with changes of its own has one concrete subclass (tasks.Outbox,
projects.Outbox); events.relay finds them all and copies their rows to logs.db.
"""

from django.db import models
from django.utils import timezone


class OutboxQuerySet(models.QuerySet):
    def waiting(self):
        """Events not yet copied into `events` (the relay keeps the newest copied one)."""
        return self.filter(relayed=False)


class OutboxEvent(models.Model):
    """An event waiting in another database for its copy into `events`.

    main.db and tasks.db cannot commit together with logs.db, so a change
    there writes its event to that database's outbox in its own transaction;
    events.relay then copies it here exactly once.

    On SQLite its ids have no AUTOINCREMENT (storage.outbox_schema): the relay
    deletes every copied row but the newest, which it marks `relayed`, so ids
    never repeat.
    """

    created_at = models.DateTimeField(default=timezone.now)
    type = models.TextField()
    project = models.TextField(null=True)
    agent = models.TextField(null=True)
    task_id = models.TextField(null=True)
    data = models.JSONField(null=True)
    level = models.TextField(default="info")
    relayed = models.BooleanField(default=False, db_default=False)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        abstract = True
