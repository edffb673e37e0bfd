"""Reading the queue for the web pages: counts and listings that cost the same at 1,000 tasks and at 1,000,000.

Read-only; every change goes through tasks.queue. Only portable queries:
no date functions (libSQL has no user functions), hour buckets are computed
here in Python and counted by the database over plain ranges.
"""

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from datetime import UTC, datetime, timedelta

from django.db.models import CharField, Count, Func, IntegerField, Q, Subquery
from django.db.models.expressions import Star
from django.utils import timezone

from common.errors import InvalidInput
from tasks.models import PRIORITY_RANK, Status, Task, priority_rank

ACTIVE = (Status.IN_PROGRESS, Status.PENDING)
# The order statuses are listed in on the queue page (each in claim order):
# what agents hold now, what they will take next, what waits (for a resume,
# for other tasks, for a time), then the finished ones.
LISTING_ORDER = (
    Status.IN_PROGRESS, Status.PENDING, Status.PAUSED, Status.BLOCKED, Status.SCHEDULED,
    Status.FAILED, Status.CANCELLED, Status.COMPLETED,
)
# Not yet ready to be claimed.
WAITING = (Status.PAUSED, Status.BLOCKED, Status.SCHEDULED)


def _count(queryset):
    # COUNT(*) (not COUNT(1) or COUNT(id)): SQLite counts a whole table from
    # its narrowest index without decoding rows only for this spelling.
    return Subquery(queryset.order_by().values(n=Func(Star(), function="COUNT", output_field=IntegerField())))


def status_counts():
    """Tasks per status, exact, in one statement (so one consistent snapshot).

    Completed tasks are most of a long-lived queue; counting them is a scan
    of nearly every index entry (and GROUP BY status costs that much again).
    So this counts the table (SQLite's fast whole-table
    COUNT(*)) and every other status (small index ranges), and derives
    completed as the difference. Rows with no status are counted apart; a
    status outside Status (only raw SQL could write one) would show as
    completed.
    """
    others = [s for s in Status.values if s != Status.COMPLETED.value]
    row = (
        Task.objects.order_by()
        .annotate(
            total=_count(Task.objects.all()),
            unset=_count(Task.objects.filter(status__isnull=True)),
            **{status: _count(Task.objects.filter(status=status)) for status in others},
        )
        .values("total", "unset", *others)
        .first()
    )
    if row is None:
        return {status: 0 for status in Status.values}
    counts = {status: row[status] for status in others}
    counts[Status.COMPLETED.value] = row["total"] - row["unset"] - sum(counts.values())
    return counts


def capped_counts(cap, project=None, priority=None):
    """{status: n, "all": n} with n exact up to `cap`, else cap + 1 (show it as "cap+").

    Each status is SELECT COUNT(*) FROM (SELECT status … LIMIT cap+1): a range
    of idx_tasks_status, or of idx_tasks_claim / idx_tasks_project_claim
    with a project or a priority (its rank), read from the index alone and
    cut off at the cap, so a million completed tasks cost what `cap` of them
    do. "all" is their sum, capped alike. Never a COUNT over the whole table.
    """
    def upto(queryset):
        column = "project" if project else "status"
        return queryset.order_by().values(column)[: cap + 1].count()

    base = Task.objects.for_project(project) if project else Task.objects.all()
    if priority:
        base = base.alias(rank=priority_rank()).filter(rank=PRIORITY_RANK.get(priority, 4))
    counts = {status: upto(base.filter(status=status)) for status in LISTING_ORDER}
    # Every status at or under the cap: the sum is exact; else at least cap + 1.
    counts["all"] = min(sum(counts.values()), cap + 1) if any(n > cap for n in counts.values()) else sum(counts.values())
    return counts


def titles(ids):
    """{task id: description} for `ids` (a page of events' tasks): one query by primary key."""
    return dict(Task.objects.filter(id__in=list(ids)).values_list("id", "description"))


def active_by_priority():
    """{(status, priority): n} for pending and in-progress tasks (idx_tasks_claim ranges)."""
    # Grouped by the rank expression, which idx_tasks_claim holds, not by
    # priority, which it does not: index only, no visit to each task's row.
    rows = (
        Task.objects.filter(status__in=ACTIVE)
        .order_by()
        .annotate(rank=priority_rank())
        .values_list("status", "rank")
        .annotate(n=Count("*"))
    )
    priority = {rank: p for p, rank in PRIORITY_RANK.items()}
    return {(status, priority.get(rank)): n for status, rank, n in rows}


def oldest_pending_age(now=None):
    """Seconds since the oldest pending task was added, or None: one index seek per priority."""
    firsts = [claim_ordered(Status.PENDING, priority=p).values_list("created_at", flat=True).first() for p in PRIORITY_RANK]
    firsts = [f for f in firsts if f is not None]
    return ((now or timezone.now()) - min(firsts)).total_seconds() if firsts else None


def active_by_project(projects):
    """{(project, status): n} for pending, paused and in-progress tasks of `projects`.

    Listing the projects (from main.db) lets SQLite count each one from
    idx_tasks_project_claim alone, instead of visiting every active task's row.
    """
    if not projects:
        return {}
    rows = (
        Task.objects.filter(project__in=list(projects), status__in=(*ACTIVE, Status.PAUSED))
        .order_by()
        .values_list("project", "status")
        .annotate(n=Count("*"))
    )
    return {(project, status): n for project, status, n in rows}


class HourOf(Func):
    """The UTC hour a datetime falls in, as text: "2026-12-01 14".

    On SQLite (and libSQL) the first 13 characters of the stored text, a core
    function and no date parsing; on PostgreSQL to_char of the UTC time.
    """

    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="substr(%(expressions)s, 1, 13)", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')", **extra
        )


def finished_per_hour(now, hours=24):
    """Completed and failed tasks per hour over the last `hours`, oldest first.

    One range query on completed_at, read from idx_tasks_completed alone,
    grouped by the hour's text (HourOf), which costs a third of comparing
    each row with every hour's bounds.
    """
    hour = timedelta(hours=1)
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + hour
    starts = [end - (hours - i) * hour for i in range(hours)]
    rows = (
        # No status filter here: with one, SQLite (no statistics) prefers the
        # status index and visits all 900k completed tasks. Cancelled ones
        # are counted and left out below.
        Task.objects.filter(completed_at__gte=starts[0], completed_at__lt=end)
        .order_by()
        .annotate(hour=HourOf("completed_at"))
        .values_list("hour", "status")
        .annotate(n=Count("*"))
    )
    counts = {(hour, status): n for hour, status, n in rows}
    return [
        {
            "start": start,
            "completed": counts.get((f"{start:%Y-%m-%d %H}", Status.COMPLETED), 0),
            "failed": counts.get((f"{start:%Y-%m-%d %H}", Status.FAILED), 0),
        }
        for start in starts
    ]


def claim_ordered(status, project=None, priority=None, text=None):
    """Tasks of one status in claim order, filtered, read in index order."""
    queryset = Task.objects.filter(status=status)
    if project:
        queryset = queryset.for_project(project)
    if text:
        # No index can answer this: it reads every task of the status.
        queryset = queryset.filter(Q(pk=text) | Q(description__icontains=text))
    if priority:
        # One priority is one rank: filtering on the rank expression lets
        # SQLite seek to (status, rank) in idx_tasks_claim (or to (project,
        # status, rank) in idx_tasks_project_claim), and then claim order is
        # just created_at. (Filtering on `priority` instead, or also ordering
        # by the constant rank, makes SQLite 3.40 scan or sort the status.)
        return queryset.alias(rank=priority_rank()).filter(rank=PRIORITY_RANK.get(priority, 4)).order_by("created_at")
    return queryset.in_claim_order()


def listing(statuses, project=None, priority=None, text=None, offset=0, limit=100):
    """Rows [offset, offset+limit) of the tasks of `statuses`, status by status
    in LISTING_ORDER, each in claim order; and whether more follow.

    One query per status, each read in index order with a LIMIT, so a page
    costs the same whatever the queue's size; no COUNT over the table.
    """
    rows, skip, want = [], offset, limit + 1
    for status in [s for s in LISTING_ORDER if s in statuses]:
        ordered = claim_ordered(status, project, priority, text)
        page = list(ordered[skip : skip + want - len(rows)])
        if skip:
            # Rows of this status before the page: all of them when the page is empty.
            skip = 0 if page else skip - ordered[:skip].count()
        rows += page
        if len(rows) >= want:
            break
    return rows[:limit], len(rows) > limit


# Keyset paging (the API's task list) --------------------------------------


def page(status=None, project=None, cursor=None, limit=100):
    """Up to `limit` tasks after `cursor`, and the cursor of the next page (None on the last).

    With a status, in claim order (priority rank, created_at, id), read from
    idx_tasks_claim / idx_tasks_project_claim; without, in order of creation
    (created_at, id), from idx_tasks_created / idx_tasks_project_created.
    The cursor is the last row's key: each page seeks to it, never skips
    rows with OFFSET, so the millionth page costs what the first does.
    """
    queryset = Task.objects.all()
    if status:
        queryset = queryset.filter(status=status)
    if project:
        queryset = queryset.filter(project=project)
    key = ["created_at", "id"]
    if status:
        queryset = queryset.alias(rank=priority_rank())
        key = ["rank", *key]
    if cursor:
        queryset = queryset.filter(_after(key, decode_cursor(cursor, len(key))))
    rows = list(queryset.order_by(*key)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if not more:
        return rows, None
    last = rows[-1]
    values = ([PRIORITY_RANK.get(last.priority, 4)] if status else []) + [last.created_at.isoformat(), last.id]
    return rows, encode_cursor(values)


def _after(key, values):
    """(key…) > (values…), as nested ORs the index can seek by."""
    condition = Q()
    for i in reversed(range(len(key))):
        later = Q(**{f"{key[i]}__gt": values[i]})
        condition = later if i == len(key) - 1 else later | (Q(**{key[i]: values[i]}) & condition)
    return condition


def encode_cursor(values):
    return urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor, length):
    try:
        values = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != length:
            raise ValueError
        *rest, created, task_id = values
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in rest) or not isinstance(task_id, str):
            raise ValueError
        return [*rest, datetime.fromisoformat(created), task_id]
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API gave out (start again without it)") from None
