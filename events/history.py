"""Reading the events' history: the events page's search, counts by type, the dashboard's chart.

Without ADT_CLICKHOUSE_URL everything reads logs.db. With it, these reads
go to ClickHouse, which keeps months while logs.db may be pruned to days:
the events up to the shipper's mark (ShipLease.shipped_to, read from
logs.db: cheaper than max(id), which reads a column of every part) come from
ClickHouse, the ones after it from logs.db, so a result is never behind the
live feed and counts nothing twice. prune_logs keeps the events after the mark.
When ClickHouse does not answer, the read goes to logs.db alone and says
so in `notice` (logged once per process, not per request); for the next
RETRY_SECONDS the reads of this process go straight to logs.db, so a
server that hangs costs one connect timeout, not one per page.

The live feed's poll and a task's timeline keep reading logs.db: they want
the newest rows, which logs.db has and serves from its indexes.
"""

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count

from events import shipping
from events.models import Event
from storage import clickhouse
from storage.clickhouse import Unavailable

log = logging.getLogger(__name__)
FILTERS = ("project", "type", "level")
FINISHED = ("task.completed", "task.failed")
LOGS_DB = "logs.db"
CLICKHOUSE = "clickhouse"
RETRY_SECONDS = 30
_warned = set()
# ADT_CLICKHOUSE_URL -> (monotonic time until which it is not tried again, the error).
_down = {}


@dataclass
class Found:
    rows: list = field(default_factory=list)
    store: str = LOGS_DB
    notice: str | None = None


def search(filters, since=None, limit=50):
    """The newest `limit` events matching `filters` (project, type, level) since `since`, newest first."""
    filters = _clean(filters)
    if not clickhouse.configured():
        return Found(list(_logs(filters, since).order_by("-id")[:limit]))
    try:
        shipped = _shipped()
        newer = list(_logs(filters, since).filter(id__gt=shipped).order_by("-id")[:limit])
        older = []
        if shipped and len(newer) < limit:
            where, params = _where(filters, since, shipped)
            older = [_event(row) for row in clickhouse.query(
                f"SELECT {', '.join(clickhouse.COLUMNS)} FROM {{table}} WHERE {where} ORDER BY id DESC LIMIT {int(limit - len(newer))}",
                params,
            )]
        return Found(newer + older, CLICKHOUSE)
    except Unavailable as e:
        return Found(list(_logs(filters, since).order_by("-id")[:limit]), LOGS_DB, _fallback(e))


def counts_by_type(filters, since=None):
    """(type, events) for the events matching `filters` since `since`, most first."""
    filters = _clean(filters)
    if not clickhouse.configured():
        return Found(_sorted(_logs_counts(filters, since)))
    try:
        shipped = _shipped()
        where, params = _where(filters, since, shipped)
        counted = Counter()
        if shipped:
            counted.update(dict(clickhouse.query(f"SELECT type, count() FROM {{table}} WHERE {where} GROUP BY type", params)))
        counted.update(_logs_counts(filters, since, after=shipped))
        return Found(_sorted(counted), CLICKHOUSE)
    except Unavailable as e:
        return Found(_sorted(_logs_counts(filters, since)), LOGS_DB, _fallback(e))


def finished_per_hour(now, hours=24, store=None):
    """Tasks completed and failed per hour over the last `hours` from their events, oldest first
    (the buckets of tasks.board.finished_per_hour), or None when ClickHouse is not configured,
    has nothing yet or does not answer: then the dashboard counts from tasks.db as before.

    `store="logs"` counts from logs.db's events alone (bench/events_store.py compares the two).
    """
    hour = timedelta(hours=1)
    end = now.replace(minute=0, second=0, microsecond=0) + hour
    starts = [end - (hours - i) * hour for i in range(hours)]
    counted = Counter()
    if store == "logs":
        counted.update(_logs_finished(starts[0], end))
    else:
        if not clickhouse.configured():
            return None
        try:
            shipped = _shipped()
            if not shipped:  # nothing shipped yet: tasks.db counts faster than all of logs.db's events
                return None
            rows = clickhouse.query(
                "SELECT intDiv(toUInt32(timestamp), 3600) AS hour, type, count() FROM {table} "
                "WHERE type IN %(types)s AND timestamp >= toDateTime(%(start)s) AND timestamp < toDateTime(%(end)s) "
                "AND id <= %(shipped)s GROUP BY hour, type",
                {"types": FINISHED, "start": _epoch(starts[0]), "end": _epoch(end), "shipped": shipped},
            )
        except Unavailable as e:
            _fallback(e)
            return None
        counted.update({(hour * 3600, type): n for hour, type, n in rows})
        counted.update(_logs_finished(starts[0], end, after=shipped))
    return [
        {"start": start, "completed": counted[(_epoch(start), "task.completed")], "failed": counted[(_epoch(start), "task.failed")]}
        for start in starts
    ]


def _clean(filters):
    return {k: v.strip() for k, v in (filters or {}).items() if k in FILTERS and v and v.strip()}


def _logs(filters, since):
    events = Event.objects.filter(**filters)
    return events.filter(timestamp__gte=since) if since else events


def _logs_counts(filters, since, after=None):
    events = _logs(filters, since)
    if after is not None:
        events = events.filter(id__gt=after)
    return Counter(dict(events.order_by().values_list("type").annotate(n=Count("*"))))


def _logs_finished(start, end, after=None):
    events = Event.objects.filter(type__in=FINISHED, timestamp__gte=start, timestamp__lt=end)
    if after is not None:
        events = events.filter(id__gt=after)
    counted = Counter()
    # Python buckets the rows: a date function would differ on every backend.
    for timestamp, type in events.order_by().values_list("timestamp", "type").iterator(chunk_size=10_000):
        counted[(_epoch(timestamp) // 3600 * 3600, type)] += 1
    return counted


def _where(filters, since, up_to):
    clauses, params = ["id <= %(up_to)s"], {"up_to": up_to}
    for name, value in filters.items():
        # '' stands for NULL in ClickHouse (storage.clickhouse); a filter never asks for NULL.
        clauses.append(f"{name} = %({name})s")
        params[name] = value
    if since:
        clauses.append("timestamp >= toDateTime(%(since)s)")
        params["since"] = _epoch(since)
    return " AND ".join(clauses), params


def _event(row):
    id, timestamp, type, project, agent, task_id, data, level = row
    try:
        data = json.loads(data) if data is not None else None
    except ValueError:
        pass
    return Event(
        id=id, timestamp=clickhouse.aware(timestamp), type=type, project=project or None, agent=agent,
        task_id=task_id, data=data, level=level or None,
    )


def _sorted(counted):
    return sorted(counted.items(), key=lambda item: (-item[1], item[0]))


def _epoch(value):
    return int(value.timestamp())


def _shipped():
    """The shipper's mark, or Unavailable at once while ClickHouse was found down a moment ago."""
    until, error = _down.get(settings.ADT_CLICKHOUSE_URL, (0, None))
    if time.monotonic() < until:
        raise error
    return shipping.shipped_to()


def _fallback(error):
    _down[settings.ADT_CLICKHOUSE_URL] = (time.monotonic() + RETRY_SECONDS, error)
    message = f"ClickHouse is not answering, so this reads logs.db, which keeps only recent events ({error})."
    if str(error) not in _warned:
        _warned.add(str(error))
        log.warning("%s", message)
    return message
