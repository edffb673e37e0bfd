"""Telling followers that events landed, and following them (tail_events --follow).

After events commit in logs.db, the newest id goes out on Redis's `events`
channel (storage.hub). A follower reads the database by the seed's cursor
(`id > last_seen`) whenever it hears one, and at least every
ADT_REDIS_SAFETY_POLL seconds; without Redis it polls every POLL seconds.
The database is always what is read, so nothing is missed or doubled
whatever Redis does.
"""


from django.conf import settings
from django.db import transaction

from events.models import Event
from storage import hub

LOGS = "logs"
CHANNEL = "events"
# Without Redis, how often a follower looks.
POLL = 1.0
# Events read per look; the next look brings the rest at once.
BATCH = 500


def landed():
    """Events were appended in the open logs transaction: announce the newest id once it commits."""
    if hub.configured():
        transaction.on_commit(_announce, using=LOGS)


def _announce():
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    if newest is not None:
        hub.publish(CHANNEL, str(newest))


def newest_id():
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def matching(project=None, type=None):
    """Events of `project` and `type` (a type ending in `.` or `*` is a prefix: `task.*`)."""
    events = Event.objects.all()
    if project:
        events = events.filter(project=project)
    if type:
        prefix = type.rstrip("*")
        events = events.filter(type__startswith=prefix) if prefix != type or type.endswith(".") else events.filter(type=type)
    return events


def last(count, project=None, type=None):
    """The newest `count` events that match, oldest first."""
    return list(matching(project, type).order_by("-id")[:count])[::-1]


def since(after, project=None, type=None):
    """Every matching event with id > `after` there is now, in id order."""
    return follow(after, project, type, stop=lambda: True)


def follow(after, project=None, type=None, stop=None):
    """Yield matching events with id > `after`, in id order, as they land, until `stop()` is true
    (checked when no more are waiting).

    Between looks it waits for Redis's word (up to the safety poll) or sleeps
    POLL without it. A look ends its read transaction at once, so a
    follower never holds logs.db open.
    """
    cursor = after
    with hub.Listener([] if stop and stop() else [CHANNEL]) as listener:
        while True:
            listener.revive()  # Redis back after a restart: listen again
            batch = list(matching(project, type).filter(id__gt=cursor).order_by("id")[:BATCH])
            for event in batch:
                cursor = event.id
                yield event
            if len(batch) == BATCH:
                continue
            if stop and stop():
                return
            listener.wait(settings.ADT_REDIS_SAFETY_POLL if listener.active else POLL)
