"""Recurring tasks: adding, removing and running schedules, and the tick that enqueues their tasks.

reap_stale_agents (the every-minute cron line) and the sweep of long-running
processes call tick(). For each schedule whose latest time has passed since
the last one it enqueued, tick() moves `last_slot` forward and adds the task
in one tasks.db transaction; the UPDATE only matches while `last_slot` is
older, so of several processes ticking at once exactly one enqueues, and the
task's unique key `schedule:NAME:<time>` guards the same slot once more.
After downtime only the latest missed time is enqueued, never a burst.
"""

import re
from datetime import UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from common.errors import ADTError, Conflict, InvalidInput, NotFound
from schedules.models import Schedule
from tasks import outbox, queue
from tasks.checks import check_priority, check_project, check_timeout
from tasks.models import Priority

TASKS = "tasks"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


# Reading ------------------------------------------------------------------


def get(name):
    try:
        return Schedule.objects.get(pk=name)
    except Schedule.DoesNotExist:
        raise NotFound(f"no schedule named {name!r} (list_schedules shows them)") from None


def latest_slot(schedule, now=None):
    """The latest time of the schedule's expression at or before `now`, in UTC."""
    now = (now or timezone.now()).astimezone(_zone(schedule.zone))
    # cronsim counts a start with microseconds as its own first tick backwards.
    start = now.replace(microsecond=max(now.microsecond, 1))
    return next(CronSim(schedule.cron, start, reverse=True)).astimezone(UTC)


def next_run(schedule, now=None):
    """The next time the schedule enqueues a task, in UTC."""
    now = (now or timezone.now()).astimezone(_zone(schedule.zone))
    return next(CronSim(schedule.cron, now)).astimezone(UTC)


def explain(schedule):
    """The expression in words ("At 03:00 on Monday through Friday")."""
    return CronSim(schedule.cron, timezone.now()).explain()


# Validation ---------------------------------------------------------------


def check_name(name):
    if not name or not NAME.fullmatch(name):
        raise InvalidInput(f"a schedule name is letters, digits, '.', '_' or '-' (up to 100), not {name!r}")
    return name


def check_cron(cron):
    if not cron or len(cron.split()) != 5:
        raise InvalidInput(f"a cron expression has five fields (minute hour day month weekday), not {cron!r}")
    try:
        CronSim(cron, timezone.now())
    except CronSimError as e:
        raise InvalidInput(f"invalid cron expression {cron!r}: {e}") from None
    return " ".join(cron.split())


def _zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Berlin)") from None


# Changes ------------------------------------------------------------------


def add(name, project, cron, description, priority=Priority.NORMAL, timeout=None, zone="UTC", replace=False, by=None):
    """Add (or with `replace`, change) a schedule. Its first task comes at its next time, not before."""
    check_name(name)
    check_project(project)
    cron = check_cron(cron)
    _zone(zone)
    check_priority(priority)
    check_timeout(timeout)
    if not description or not description.strip():
        raise InvalidInput("a schedule needs a description for its tasks")
    with transaction.atomic(using=TASKS):
        existing = Schedule.objects.select_for_update().filter(pk=name).first()
        if existing is not None and not replace:
            raise Conflict(f"a schedule named {name!r} exists (remove_schedule it, or pass --replace)")
        schedule = existing or Schedule(name=name)
        schedule.project, schedule.cron, schedule.zone = project, cron, zone
        schedule.description, schedule.priority, schedule.timeout = description, priority, timeout
        schedule.last_slot = latest_slot(schedule)
        schedule.last_error = None
        schedule.save()
        outbox.write("schedule.changed" if existing else "schedule.added", project=project,
                     data={"schedule": name, "cron": cron, "timezone": zone, "by": by})
    return schedule


def remove(name, by=None):
    with transaction.atomic(using=TASKS):
        schedule = get(name)
        project = schedule.project
        schedule.delete()
        outbox.write("schedule.removed", project=project, data={"schedule": name, "by": by})


def run_now(name, by=None):
    """Enqueue one task of the schedule now, outside its times."""
    schedule = get(name)
    with transaction.atomic(using=TASKS):
        task = _enqueue(schedule, {"schedule": name, "manual": True, "by": by})
        Schedule.objects.filter(pk=name).update(last_task=task.id)
    return task


def due(now=None):
    """[(schedule, slot)] for every schedule with a time passed that it has not enqueued a task for."""
    now = now or timezone.now()
    found = []
    for schedule in Schedule.objects.all():
        slot = latest_slot(schedule, now)
        if schedule.last_slot is None or slot > schedule.last_slot:
            found.append((schedule, slot))
    return found


def tick(now=None):
    """Enqueue the task of every schedule whose latest time is new. Returns [(schedule, slot, task)]."""
    enqueued = []
    for schedule, slot in due(now):
        try:
            with transaction.atomic(using=TASKS):
                newer = Q(last_slot__isnull=True) | Q(last_slot__lt=slot)
                if not Schedule.objects.filter(newer, pk=schedule.name).update(last_slot=slot, last_error=None):
                    continue  # another process took this time
                task = _enqueue(schedule, {"schedule": schedule.name, "slot": slot.isoformat()},
                                unique_key=f"schedule:{schedule.name}:{slot.isoformat()}")
                Schedule.objects.filter(pk=schedule.name).update(last_task=task.id)
        except ADTError as e:
            Schedule.objects.filter(pk=schedule.name).update(last_error=str(e))
            continue
        enqueued.append((schedule, slot, task))
    return enqueued


def _enqueue(schedule, metadata, unique_key=None):
    task, _ = queue.add(schedule.project, schedule.description, schedule.priority, metadata,
                        timeout=schedule.timeout, unique_key=unique_key)
    return task
