"""The task queue: every change of a task's state, and the event it writes.

Commands, views and the admin all call these functions; nothing else changes
a task. Each change commits its event to tasks.db's outbox in the same
transaction (claim and complete through the triggers of migration 0002, the
rest explicitly), and events.relay copies outbox rows to logs.db exactly
once after that transaction commits, so a process killed at any moment loses
no event and duplicates none, and a change rolled back leaves none.
"""

import time
from datetime import UTC, timedelta

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from common import durations
from common.errors import Conflict, InvalidInput, NotFound, NotHolder
from events import relay
from projects.models import Project
from storage import statements
from tasks import dependencies, outbox, pausing, wakeups
from tasks.checks import check_priority, check_project, check_timeout, whole_number
from tasks.models import PRIORITY_RANK_SQL, UNFINISHED, Outbox, Priority, Status, Task

TASKS = "tasks"
# Per project this process claims from: when it last read the project (it
# exists) and the time limit its config gives.
_project_limits = {}
# When this process last looked for scheduled tasks that are due.
_last_promotion = 0.0


# Reading ------------------------------------------------------------------


def get(task_id):
    try:
        return Task.objects.get(pk=task_id)
    except Task.DoesNotExist:
        raise NotFound(f"no task with id {task_id!r}") from None


def _config(project):
    config = Project.objects.filter(pk=project).values_list("config", flat=True).first()
    return config if isinstance(config, dict) else {}


def max_retries(project):
    """The project's `max_retries` from projects.config, else the setting."""
    value = _config(project).get("max_retries")
    return value if whole_number(value, 0) else settings.ADT_MAX_RETRIES


def task_timeout(project):
    """The project's `task_timeout` (seconds) from projects.config, else ADT_TASK_TIMEOUT (None: no limit)."""
    value = _config(project).get("task_timeout")
    return value if whole_number(value, 1) else settings.ADT_TASK_TIMEOUT


def timeout_of(task):
    """The time limit a claim gives `task`: its own, else its project's, else the setting."""
    return task.timeout or task_timeout(task.project)


# Changes ------------------------------------------------------------------


def enqueue(project, description, priority=Priority.NORMAL, metadata=None, timeout=None, run_at=None,
            unique_key=None, after=None):
    """Add a task and return it; see add() for the options."""
    return add(project, description, priority, metadata, timeout, run_at, unique_key, after)[0]


def add(project, description, priority=Priority.NORMAL, metadata=None, timeout=None, run_at=None,
        unique_key=None, after=None, by=None):
    """Add a task. Returns (task, created).

    With `run_at` in the future the task is `scheduled` until then (see
    promote_due). With `after` (task ids) it is `blocked` until they have all
    completed (see tasks.dependencies). With `unique_key`, while an unfinished
    task of the project has that key, that task is returned instead (created
    False): the partial unique index decides, so two processes adding one key
    at once make one task. In a paused project a ready task is `paused`.
    `by` (who asked, e.g. "web:alice") goes in the event.
    """
    check_project(project)
    check_priority(priority)
    check_timeout(timeout)
    if not description or not description.strip():
        raise InvalidInput("a task needs a description")
    if unique_key is not None and not str(unique_key).strip():
        raise InvalidInput("a unique key cannot be empty")
    after = dependencies.check_ids(after)
    if after and run_at is not None:
        raise InvalidInput("a task waits for other tasks or for a time, not both (--after with --at/--in)")
    scheduled = run_at is not None and run_at > timezone.now()
    data = {"priority": priority, **({"timeout": timeout} if timeout else {}), **({"unique": unique_key} if unique_key else {})}
    if by:
        data["by"] = by
    try:
        with transaction.atomic(using=TASKS):
            upstream = dependencies.upstream(None, after) if after else []
            if scheduled:
                status = Status.SCHEDULED
            elif any(other.status != Status.COMPLETED for other in upstream):
                status = Status.BLOCKED
            else:
                status = pausing.ready_status(project)
            task = Task.objects.create(
                project=project, description=description, priority=priority, metadata=metadata, timeout=timeout,
                status=status, run_at=run_at if scheduled else None, unique_key=unique_key,
            )
            if upstream:
                dependencies.link(task, upstream)
                data["after"] = after
            if scheduled:
                _event("task.scheduled", task, data={**data, "run_at": run_at.isoformat()})
            else:
                _event("task.created", task, data=data)
    except IntegrityError:
        existing = Task.objects.filter(project=project, unique_key=unique_key, status__in=UNFINISHED).first()
        if unique_key is None or existing is None:
            raise
        return existing, False
    return task, True


def start_time(at=None, delay=None, names=("--at", "--in")):
    """When a task added now becomes claimable, from a time (UTC unless it has an
    offset) or a duration such as "2h"; None: at once."""
    if at is not None and delay is not None:
        raise InvalidInput(f"give {names[0]} or {names[1]}, not both")
    if at is not None:
        return at if timezone.is_aware(at) else at.replace(tzinfo=UTC)
    if delay is not None:
        return timezone.now() + timedelta(seconds=durations.seconds(delay, names[1]))
    return None


def add_dependency(task_id, after, by=None):
    """Make a task not yet claimed wait for more tasks (blocked until they complete).

    Refuses unknown tasks, the task itself, failed or cancelled ones, and a
    wait that would close a cycle, with nothing written.
    """
    after = dependencies.check_ids(after)
    if not after:
        raise InvalidInput("give at least one --after task id")
    with transaction.atomic(using=TASKS):
        task = _locked(task_id)
        if task.status not in (Status.PENDING, Status.PAUSED, Status.BLOCKED):
            raise Conflict(f"task {task.id} is {task.status}; only pending, paused or blocked tasks can wait for others")
        upstream = dependencies.upstream(task.id, after)
        dependencies.link(task, upstream)
        if any(other.status != Status.COMPLETED for other in upstream) and task.status != Status.BLOCKED:
            task.status = Status.BLOCKED
            task.save(update_fields=["status"])
        _event("task.blocked" if task.status == Status.BLOCKED else "task.dependency_added", task,
               data={"after": after, "by": by})
    return task


def promote_due(now=None, limit=500):
    """Scheduled tasks whose time has come become pending (event task.due). Returns their ids.

    The agents' claim calls it about once a second (agents.lifecycle), the
    reaper's sweep every time; a first read without the write lock keeps the
    common case (nothing due) from taking it.
    """
    now = now or timezone.now()
    if not Task.objects.due(now).exists():
        return []
    with transaction.atomic(using=TASKS):
        tasks = list(Task.objects.select_for_update().due(now).order_by("run_at")[:limit])
        paused = pausing.paused_projects()
        for task in tasks:
            task.status = Status.PAUSED if task.project in paused else Status.PENDING
            task.save(update_fields=["status"])
            _event("task.due", task, data={"run_at": task.run_at.isoformat()})
    return [task.id for task in tasks]


def claim(agent, project=None):
    """Give `agent` the next pending task (of `project` when given), or None.

    One UPDATE … WHERE id = (SELECT the first pending in claim order) …
    RETURNING, so two claimers can never take the same task. The subquery
    reads idx_tasks_claim / idx_tasks_project_claim in order: its cost does
    not grow with the queue. The same statement sets the task's deadline from
    its own time limit, else the project's (ADT_TASK_TIMEOUT when claiming
    across projects). The agent's side of a claim (its heartbeat, its status)
    is agents.lifecycle.claim's.
    """
    limit = project_limit(project) if project is not None else settings.ADT_TASK_TIMEOUT
    _promote_now_and_then()
    connection = connections[TASKS]
    now = _now(connection)
    params = [agent, now, now, limit] + ([project, project] if project else [])
    task = _returning(connection, _build_claim_sql, project is not None, params)
    if task is None:
        relay.idle()
        return None
    relay.changed(Outbox)
    return task


def seconds_until_due(now=None):
    """Seconds until the next scheduled task is due (0 if one is), or None when none is scheduled."""
    run_at = Task.objects.filter(status=Status.SCHEDULED).order_by("run_at").values_list("run_at", flat=True).first()
    if run_at is None:
        return None
    return max(0.0, (run_at - (now or timezone.now())).total_seconds())


def _promote_now_and_then():
    """promote_due() at most once per ADT_SCHEDULE_CHECK_INTERVAL in a claiming process."""
    global _last_promotion
    if time.monotonic() - _last_promotion >= settings.ADT_SCHEDULE_CHECK_INTERVAL:
        _last_promotion = time.monotonic()
        promote_due()


def project_limit(project):
    """The project's time limit, read at most once per ADT_CLAIM_HEARTBEAT_INTERVAL
    by a process claiming in a loop; the read also proves the project exists."""
    seen = _project_limits.get(project)
    if seen is None or time.monotonic() - seen[0] >= settings.ADT_CLAIM_HEARTBEAT_INTERVAL:
        check_project(project)
        seen = _project_limits[project] = (time.monotonic(), task_timeout(project))
    return seen[1]


def _claim_sql(connection, project):
    return _sql_for(connection, _build_claim_sql, project is not None)


def _build_claim_sql(connection, one_project):
    # pausing.pause() turns a paused project's pending tasks into paused ones
    # in one transaction; the NOT IN / NOT EXISTS refuses what a concurrent
    # add on PostgreSQL could still have left pending, and costs one lookup.
    if one_project:
        where = "status = 'pending' AND project = %s AND NOT EXISTS (SELECT 1 FROM paused_projects WHERE project = %s)"
    else:
        where = "status = 'pending' AND project NOT IN (SELECT project FROM paused_projects)"
    # PostgreSQL checks the outer WHERE again after waiting on a row lock, so
    # without SKIP LOCKED a loser would get no task at all; SQLite holds the
    # write lock for the whole statement and needs neither.
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return (
        f"UPDATE tasks SET status = 'in_progress', assigned_to = %s, started_at = %s, deadline = {_deadline_sql(connection)} "
        f"WHERE id = (SELECT id FROM tasks WHERE {where} "
        f"ORDER BY {PRIORITY_RANK_SQL}, created_at LIMIT 1{skip_locked}) "
        f"AND status = 'pending' RETURNING {_columns(connection)}"
    )


def _deadline_sql(connection):
    """`started_at` (a parameter) plus the task's time limit, else the parameter after it; NULL without either."""
    if connection.vendor == "postgresql":
        return "%s::timestamptz + make_interval(secs => COALESCE(timeout, %s))"
    # Text in the format Django stores (milliseconds), NULL when the limit is.
    return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '+' || COALESCE(timeout, %s) || ' seconds')"


def complete(task_id, agent, result=None, lease=None):
    """Finish a task. Only the agent holding it (and, with `lease`, holding it
    since that claim) may; a task taken from a dead agent and claimed again
    cannot be completed by the old one."""
    connection = connections[TASKS]
    params = [_now(connection), result, task_id, agent]
    if lease is not None:
        params.append(_db_datetime(connection, lease))
    task = _returning(connection, _build_complete_sql, lease is not None, params)
    if task is None:
        _check_holder(get(task_id), agent, lease)
        raise Conflict(f"task {task_id} changed while completing it; try again")  # pragma: no cover
    relay.changed(Outbox)
    wakeups.on_complete(task)
    return task


def _build_complete_sql(connection, with_lease):
    return (
        "UPDATE tasks SET status = 'completed', completed_at = %s, result = %s "
        "WHERE id = %s AND status = 'in_progress' AND assigned_to = %s"
        + (" AND started_at = %s" if with_lease else "")
        + f" RETURNING {_columns(connection)}"
    )


def fail(task_id, agent, error, lease=None):
    """The holder reports a failure: back to pending while retries remain, else failed."""
    if not error or not str(error).strip():
        raise InvalidInput("a failure needs an error message")
    with transaction.atomic(using=TASKS):
        task = _locked(task_id)
        _check_holder(task, agent, lease)
        task.error = error
        _give_back(task, "task.attempt_failed", agent=agent, error=error, final_error=error)
    return task


def cancel(task_id, by=None):
    with transaction.atomic(using=TASKS):
        task = _locked(task_id)
        if task.status not in UNFINISHED:
            raise Conflict(f"task {task.id} is {task.status}; only unfinished tasks can be cancelled")
        holder = task.assigned_to
        task.status = Status.CANCELLED
        task.completed_at = timezone.now()
        task.deadline = None
        task.save(update_fields=["status", "completed_at", "deadline"])
        _event("task.cancelled", task, data={"by": by, "was_held_by": holder})
        dependencies.cancel_waiting(task)
    return task


def retry(task_id, by=None):
    """Put a failed or cancelled task back in the queue with a fresh set of retries."""
    with transaction.atomic(using=TASKS):
        task = _locked(task_id)
        if task.status not in (Status.FAILED, Status.CANCELLED):
            raise Conflict(f"task {task.id} is {task.status}; only failed or cancelled tasks can be retried")
        previous = {"status": task.status, "retry_count": task.retry_count}
        waiting_for = dependencies.unmet(task)
        broken = [other for other in waiting_for if other.status in dependencies.BROKEN]
        if broken:
            raise Conflict(f"task {task.id} waits for task {broken[0].id}, which is {broken[0].status}; retry that one first")
        _reset(task)
        if waiting_for:
            task.status = Status.BLOCKED
        task.retry_count = 0
        task.save(update_fields=["status", "assigned_to", "started_at", "completed_at", "deadline", "retry_count"])
        _event("task.retried", task, data={"by": by, "manual": True, "previous": previous})
    return task


def requeue(task_id, by=None):
    """Take an in-progress task away from its agent and put it back in the queue."""
    with transaction.atomic(using=TASKS):
        task = _locked(task_id)
        if task.status != Status.IN_PROGRESS:
            raise Conflict(f"task {task.id} is {task.status}; only in-progress tasks can be requeued")
        _give_back(task, "task.requeued", agent=task.assigned_to, by=by, reason="manual")
    return task


def requeue_held_by(agent, reason, started_before=None):
    """Every in-progress task of `agent` (claimed before `started_before`) back to the queue."""
    with transaction.atomic(using=TASKS):
        held = Task.objects.select_for_update().held_by(agent)
        if started_before is not None:
            held = held.filter(started_at__lt=started_before)
        tasks = list(held.order_by("id"))
        for task in tasks:
            _give_back(task, "task.requeued", agent=agent, error=reason, reason="agent_stale")
    return tasks


def requeue_overdue(now=None):
    """Every in-progress task past its deadline back to the queue (or failed past its retries).

    The holder may be alive (an agent that crashed and restarted at once keeps
    beating): its late complete or fail is refused, as for any requeue.
    Returns {"id", "agent", "status"} for each task taken back.
    """
    now = now or timezone.now()
    taken = []
    with transaction.atomic(using=TASKS):
        for task in list(Task.objects.select_for_update().overdue(now).order_by("deadline", "id")):
            limit = round((task.deadline - task.started_at).total_seconds()) if task.started_at else None
            error = f"timed out: still in progress {limit}s after its claim" if limit is not None else "timed out"
            holder = task.assigned_to
            _give_back(task, "task.requeued", agent=holder, error=error, reason="timeout",
                       extra={"deadline": task.deadline.isoformat()})
            taken.append({"id": task.id, "agent": holder, "status": task.status})
    return taken


def extend(task_id, agent, seconds=None, lease=None):
    """The holder needs longer: its deadline becomes now + `seconds` (default: the task's time limit)."""
    if seconds is not None and not whole_number(seconds, 1):
        raise InvalidInput(f"--seconds must be a whole number of seconds, 1 or more, not {seconds!r}")
    with transaction.atomic(using=TASKS):
        task = _locked(task_id)
        _check_holder(task, agent, lease)
        seconds = seconds or timeout_of(task)
        if seconds is None:
            raise InvalidInput(f"task {task.id} has no time limit to extend; give --seconds")
        previous = task.deadline
        task.deadline = timezone.now() + timedelta(seconds=seconds)
        task.save(update_fields=["deadline"])
        _event("task.extended", task, agent=agent, data={
            "deadline": task.deadline.isoformat(), "seconds": seconds,
            "previous": previous.isoformat() if previous else None,
        })
    return task


def reprioritize(task_id, priority, by=None):
    check_priority(priority)
    with transaction.atomic(using=TASKS):
        task = _locked(task_id)
        if task.status in (Status.COMPLETED, Status.CANCELLED):
            raise Conflict(f"task {task.id} is {task.status}; its priority no longer matters")
        old = task.priority
        task.priority = priority
        task.save(update_fields=["priority"])
        _event("task.reprioritized", task, data={"from": old, "to": priority, "by": by})
    return task


# Helpers ------------------------------------------------------------------

# Per connection, statement and variant: the SQL, built once.
_sql = {}


def _sql_for(connection, build, variant):
    key = (connection.alias, build, variant)
    if key not in _sql:
        _sql[key] = build(connection, variant)
    return _sql[key]


def _returning(connection, build, variant, params):
    """Run one of the UPDATE … RETURNING statements and return its row as a Task, or None."""
    row = statements.fetch_one(connection, _sql_for(connection, build, variant), params)
    return None if row is None else _task_from_row(connection, row)


def _now(connection):
    return _db_datetime(connection, timezone.now())


def _db_datetime(connection, moment):
    return connection.ops.adapt_datetimefield_value(moment)


def _columns(connection):
    return ", ".join(connection.ops.quote_name(f.column) for f in Task._meta.concrete_fields)


def _task_from_row(connection, row):
    """A Task from a RETURNING row, converted by the backend and the fields as the ORM would."""
    values = list(row)
    for i, col, converters in _row_converters(connection):
        for converter in converters:
            values[i] = converter(values[i], col, connection)
    return Task.from_db(connection.alias, _ATTNAMES, values)


_ATTNAMES = [f.attname for f in Task._meta.concrete_fields]
_converters = {}


def _row_converters(connection):
    found = _converters.get(connection.alias)
    if found is None:
        found = _converters[connection.alias] = []
        for i, field in enumerate(Task._meta.concrete_fields):
            col = field.get_col(Task._meta.db_table)
            converters = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
            if converters:
                found.append((i, col, converters))
    return found


def _locked(task_id):
    task = Task.objects.select_for_update().filter(pk=task_id).first()
    if task is None:
        raise NotFound(f"no task with id {task_id!r}")
    return task


def _check_holder(task, agent, lease):
    if task.status != Status.IN_PROGRESS:
        raise Conflict(f"task {task.id} is {task.status}, not in progress; agent {agent!r} cannot finish it")
    if task.assigned_to != agent:
        raise NotHolder(
            f"task {task.id} is held by {task.assigned_to!r}, not {agent!r} (it was probably requeued and claimed again)"
        )
    if lease is not None and task.started_at != lease:
        raise Conflict(f"task {task.id} was claimed again since lease {lease.isoformat()}")


def _reset(task):
    task.status = pausing.ready_status(task.project)
    task.assigned_to = None
    task.started_at = None
    task.completed_at = None
    task.deadline = None


def _give_back(task, type, agent=None, error=None, by=None, final_error=None, reason=None, extra=None):
    """Pending again with one more retry counted, or failed once the limit is reached.

    A failure reported by the agent keeps its own error text (`final_error`);
    a task taken back from an agent gets one that says why it gave up.
    """
    limit = max_retries(task.project)
    attempts = (task.retry_count or 0) + 1
    data = {"retry_count": attempts, "max_retries": limit, **(extra or {})}
    if reason:
        data["reason"] = reason
    if by:
        data["by"] = by
    if error:
        data["error"] = error
    if attempts > limit:
        task.status = Status.FAILED
        task.completed_at = timezone.now()
        task.error = final_error or f"{error or 'requeued'}; gave up after {limit} retries"
        task.deadline = None
        task.save(update_fields=["status", "completed_at", "error", "deadline"])
        event = _event("task.failed", task, agent=agent, data={**data, "retry_count": task.retry_count}, level="error")
        dependencies.cancel_waiting(task)
        return event
    _reset(task)
    task.retry_count = attempts
    task.save(update_fields=["status", "assigned_to", "started_at", "completed_at", "deadline", "retry_count", "error"])
    return _event(type, task, agent=agent, data=data, level="warn")


def _event(type, task, agent=None, data=None, level="info"):
    return outbox.write(type, task, agent=agent, data=data, level=level)
