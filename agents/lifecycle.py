"""Projects and agents: registration, heartbeats, run history, and reaping the dead.

Reaping is the delicate part. An agent that stops heartbeating is marked
stale first (in main.db, only if it is still silent at that instant); only
then are its tasks taken back (tasks.db) and its open runs closed (logs.db).
Every step can be re-run: a reaper killed half way is finished by the next.
"""

import os
import re
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.db.models.expressions import RawSQL
from django.utils import timezone

from agents.models import Agent, AgentStatus
from common.errors import Busy, Conflict, InvalidInput, NotFound, NotHolder
from events import feed, relay, shipping
from events.models import AgentRun, RunStatus
from projects.models import Outbox, Project
from schedules import recurring
from storage import hub
from tasks import checks, pausing, queue, wakeups
from tasks.models import Status, Task

# The statuses of an agent's project's tasks that agent_status counts: not yet claimed.
QUEUED = (Status.PENDING, Status.PAUSED, Status.BLOCKED, Status.SCHEDULED)

MAIN = "default"
LOGS = "logs"
# Per agent claiming in this process: when its claim last beat, and the
# status it left the agent in.
_claim_beats = {}
# When this process last ran the reaper's sweep (see maybe_sweep).
_last_sweep = 0.0


def _event(type, agent, data=None, level="info"):
    """Write the change's event to main.db's outbox; it is copied to logs.db once the change commits."""
    relay.changed(Outbox)
    return Outbox.objects.create(type=type, project=agent, agent=agent, data=data, level=level)


def record(type, agent, data=None):
    """An event about `agent` from another module of this app (tokens), inside its change's transaction."""
    return _event(type, agent, data=data)


def get_agent(name):
    try:
        return Agent.objects.get(pk=name)
    except Agent.DoesNotExist:
        raise _unknown_agent(name) from None


def _unknown_agent(name):
    return NotFound(f"unknown agent {name!r} (agents are created by register_project)")


# A project's name is also its agent's name, a URL segment, a file name in
# backups and a shell word in agents' scripts: nothing that needs quoting.
PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit, at most 100 characters"


def check_name(name):
    if not name or not PROJECT_NAME.fullmatch(name):
        raise InvalidInput(f"a project name may hold only {NAME_RULE}, not {name!r}")
    return name


def check_path(path):
    if not path:
        raise InvalidInput("a project needs a path")
    if not os.path.isabs(path):
        raise InvalidInput(f"a project's path must be absolute (start with /), not {path!r}")
    return path


def register(name, path, provider="cursor", worktree=None, config=None, by=None):
    """Create or update a project and its agent. Returns (project, created).
    `by` (a person: "web:NAME") goes into the event."""
    check_name(name)
    check_path(path)
    if config is not None:
        check_config(config)
    with transaction.atomic(using=MAIN):
        project, created = Project.objects.update_or_create(
            name=name, defaults={"path": path, **({"config": config} if config is not None else {})}
        )
        Agent.objects.update_or_create(
            project=project, defaults={"provider": provider, "preferred_worktree": worktree}
        )
        _event(
            "project.registered" if created else "project.updated",
            name,
            data={"path": path, "provider": provider, "worktree": worktree, **({"by": by} if by else {})},
        )
    return project, created


# What a project's config may set, and the values each accepts.
CONFIG_KEYS = {
    "max_retries": ("a whole number, 0 or more", 0),
    "task_timeout": ("a whole number of seconds, 1 or more", 1),
}


def check_config(config):
    """A project's config: a JSON object whose known keys hold valid values (other keys are kept as they are)."""
    if not isinstance(config, dict):
        raise InvalidInput("--config must be a JSON object")
    for key, (expected, minimum) in CONFIG_KEYS.items():
        if key in config and not checks.whole_number(config[key], minimum):
            raise InvalidInput(f"config {key!r} must be {expected}, not {config[key]!r}")
    return config


def heartbeat(name, status=None):
    if status is not None and status not in (AgentStatus.WORKING, AgentStatus.IDLE):
        raise InvalidInput(f"heartbeat status must be working or idle, not {status!r}")
    _beat(name, status)
    _claim_beats.pop(name, None)
    return get_agent(name)


def _beat(name, status=None):
    """last_heartbeat = now, and `status` if given (a stale agent comes back idle).

    The read of the previous status and the write are one transaction, so
    exactly one beat of a stale agent writes `agent.recovered`. Returns the
    status the agent is left in.
    """
    with transaction.atomic(using=MAIN):
        was = Agent.objects.select_for_update().filter(pk=name).values_list("status", flat=True).first()
        if was is None:
            raise _unknown_agent(name)
        Agent.objects.filter(pk=name).beat(status=status)
        now = status or (AgentStatus.IDLE if was == AgentStatus.STALE else was)
        # A heartbeat is not news, unless the agent was given up for dead.
        if was == AgentStatus.STALE:
            _event("agent.recovered", name, data={"status": now})
    return now


def claim(name, project=None):
    """The agent `name` claims its next task (of `project` when given): queue.claim with the agent's side.

    The claim is a heartbeat, written at most once per
    ADT_CLAIM_HEARTBEAT_INTERVAL by an agent claiming in a loop (plenty
    against a 30 s threshold); like any heartbeat it brings a stale agent
    back. A claim that finds nothing leaves the agent's status as it was; one
    that gets a task makes the agent `working`.
    """
    if project is not None and project != name:  # an agent's own project exists when the agent does
        queue.project_limit(project)  # an unknown project is refused before anything is written
    beat = _claim_beats.get(name)
    if beat is None or time.monotonic() - beat[0] >= settings.ADT_CLAIM_HEARTBEAT_INTERVAL:
        beat = _claim_beats[name] = (time.monotonic(), _beat(name))
    task = queue.claim(name, project)
    if task is not None and beat[1] != AgentStatus.WORKING:
        Agent.objects.filter(pk=name).update(status=AgentStatus.WORKING, last_heartbeat=timezone.now())
        _claim_beats[name] = (beat[0], AgentStatus.WORKING)
    return task


def claim_waiting(name, project=None, wait=0):
    """claim(), again and again for up to `wait` seconds until a task comes (claim_task --wait, the API's wait).

    With Redis the wait is woken by tasks.wakeups the moment a task of the
    project becomes claimable, and otherwise looks only every
    ADT_REDIS_SAFETY_POLL seconds (or when a scheduled task is due): an idle
    agent costs the database nothing in between. Without Redis, or while it
    is down, it polls with a back-off up to a second.

    While it waits, the agent does the reaper's rounds now and then: time
    limits and schedules hold even where no cron runs reap_stale_agents.
    """
    deadline = time.monotonic() + max(0.0, wait or 0)
    task = claim(name, project)
    if task is not None or time.monotonic() >= deadline:
        return task
    delay = 0.05
    with wakeups.listener(project) as listener:
        while True:
            listener.revive()  # Redis back after a restart: listen again
            # Also the first look after subscribing: a task readied before then was not announced to us.
            task = claim(name, project)
            left = deadline - time.monotonic()
            if task is not None or left <= 0:
                return task
            maybe_sweep()
            if listener.active:
                due = queue.seconds_until_due()
                listener.wait(min(left, settings.ADT_REDIS_SAFETY_POLL, due if due is not None else left))
            else:
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)


# Run history --------------------------------------------------------------


def start_run(name, task=None, log_path=None, provider=None):
    agent = get_agent(name)
    if task is not None:
        queue.get(task)
    with transaction.atomic(using=LOGS):
        run = AgentRun.objects.create(
            project=name,
            provider=provider or agent.provider,
            task=task,
            log_path=log_path,
            started_at=timezone.now(),
            status=RunStatus.RUNNING,
        )
        feed.record("agent.started", project=name, agent=name, task_id=task, data={"run": run.id, "provider": run.provider})
    _beat(name, AgentStatus.WORKING)
    return run


def end_run(run_id, exit_code, error=None, status=None, agent=None):
    """End a run; with `agent`, only a run of that agent."""
    if status not in (None, RunStatus.STOPPED):
        raise InvalidInput(f"--status can only be 'stopped', not {status!r}")
    with transaction.atomic(using=LOGS):
        run = AgentRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound(f"no run with id {run_id!r}")
        if agent is not None and run.project != agent:
            raise NotHolder(f"run {run.id} belongs to agent {run.project!r}, not {agent!r}")
        if run.status != RunStatus.RUNNING:
            raise Conflict(f"run {run.id} already ended ({run.status})")
        run.status = status or (RunStatus.COMPLETED if exit_code == 0 else RunStatus.ERROR)
        run.exit_code = exit_code
        run.error = error
        run.ended_at = timezone.now()
        run.save()
        failed = run.status == RunStatus.ERROR
        feed.record(
            "agent.error" if failed else "agent.stopped",
            project=run.project,
            agent=run.project,
            task_id=run.task,
            data={"run": run.id, "exit_code": exit_code, "status": run.status, "error": error},
            level="error" if failed else "info",
        )
    Agent.objects.filter(pk=run.project).exclude(status=AgentStatus.STALE).update(status=AgentStatus.IDLE)
    return run


# Reaping ------------------------------------------------------------------


def reap_stale(threshold=None, dry_run=False):
    """Mark silent working agents stale and give their tasks and runs back.

    Returns one dict per agent reaped (or that would be, with dry_run).
    """
    threshold = settings.ADT_STALE_SECONDS if threshold is None else threshold
    if threshold < 0:
        raise InvalidInput("--threshold must not be negative")
    now = timezone.now()
    cutoff = now - timedelta(seconds=threshold)
    holders = set(Task.objects.in_progress().values_list("assigned_to", flat=True).distinct())
    candidates = list(Agent.objects.stale_candidates(cutoff, holders).values_list("project", "last_heartbeat"))
    if dry_run:
        return [_would_reap(name, beat, now) for name, beat in candidates]

    # Events a killed process left in an outbox.
    relay.relay_all()

    reaped = {}
    for name, beat in candidates:
        with transaction.atomic(using=MAIN):
            # Only if still silent: a heartbeat since the read above saves it.
            if not Agent.objects.stale_candidates(cutoff, holders).filter(pk=name).update(status=AgentStatus.STALE):
                continue
            silent = (now - beat).total_seconds() if beat else None
            _event("agent.stale", name, data={"last_heartbeat": beat.isoformat() if beat else None, "silent_seconds": silent}, level="warn")
        reaped[name] = {"agent": name, "last_heartbeat": beat, "requeued": [], "failed": [], "runs_closed": []}

    # The agents just found dead (even if one beat again since: the decision
    # stands and it will be fenced), those a reaper killed half way left
    # stale, and holders that are not registered agents at all.
    known = set(Agent.objects.filter(pk__in=list(holders)).values_list("project", flat=True))
    stale = set(Agent.objects.filter(status=AgentStatus.STALE).values_list("project", flat=True))
    stale |= set(reaped) | (holders - known)
    holders = set(
        Task.objects.in_progress().filter(assigned_to__in=stale, started_at__lt=now)
        .values_list("assigned_to", flat=True).distinct()
    )
    runners = set(
        AgentRun.objects.filter(project__in=stale, status=RunStatus.RUNNING, started_at__lt=now)
        .values_list("project", flat=True).distinct()
    )
    for name in sorted(holders | runners):
        entry = reaped.setdefault(name, {"agent": name, "last_heartbeat": None, "requeued": [], "failed": [], "runs_closed": []})
        reason = f"agent {name} stopped heartbeating"
        for task in queue.requeue_held_by(name, reason, started_before=now):
            entry["failed" if task.status == "failed" else "requeued"].append(task.id)
        entry["runs_closed"] = _close_runs(name, reason, now)
    return list(reaped.values())


@hub.one_at_a_time("reap_stale_agents", unless="dry_run")
def sweep(threshold=None, dry_run=False, ship_events=False):
    """The reaper's whole round (reap_stale_agents, and long-running processes now and then):
    dead agents reaped, tasks past their deadline taken back even from living agents,
    scheduled tasks whose time has come made pending, and recurring tasks enqueued."""
    global _last_sweep
    _last_sweep = time.monotonic()
    reaped = reap_stale(threshold, dry_run=dry_run)
    if dry_run:
        overdue = Task.objects.overdue(timezone.now()).order_by("deadline", "id")
        timed_out = [{"id": t.id, "agent": t.assigned_to, "status": t.status} for t in overdue]
    else:
        timed_out = queue.requeue_overdue()
    due = list(Task.objects.due(timezone.now()).values_list("id", flat=True)) if dry_run else queue.promote_due()
    if dry_run:
        recurring_due = [{"schedule": s.name, "slot": slot, "task": None} for s, slot in recurring.due()]
    else:
        recurring_due = [{"schedule": s.name, "slot": slot, "task": task.id} for s, slot, task in recurring.tick()]
    swept = {"agents": reaped, "timed_out": timed_out, "due": due, "recurring": recurring_due}
    if ship_events and not dry_run and shipping.configured():
        swept["shipped"] = _ship()
    return swept


def _ship():
    """The cron reaper ships events to ClickHouse too; a ClickHouse that is down fails nothing else."""
    try:
        return shipping.ship()
    except shipping.Unavailable as e:
        return {"error": str(e)}
    except Busy as e:
        return {"busy": e.holder}


def maybe_sweep():
    """A sweep, if this process has not run one for ADT_SWEEP_INTERVAL seconds (a waiting claim_task calls this).

    With Redis, one waiting process across every machine sweeps per interval.
    """
    global _last_sweep
    if time.monotonic() - _last_sweep < settings.ADT_SWEEP_INTERVAL:
        return
    _last_sweep = time.monotonic()
    if hub.once_per("sweep", settings.ADT_SWEEP_INTERVAL):
        try:
            sweep()
        except Busy:
            pass  # a cron reaper is sweeping right now


def _would_reap(name, beat, now):
    return {
        "agent": name,
        "last_heartbeat": beat,
        "requeued": list(Task.objects.held_by(name).values_list("id", flat=True)),
        "failed": [],
        "runs_closed": list(AgentRun.objects.filter(project=name, status=RunStatus.RUNNING).values_list("id", flat=True)),
    }


def _close_runs(name, reason, now):
    with transaction.atomic(using=LOGS):
        runs = list(AgentRun.objects.select_for_update().filter(project=name, status=RunStatus.RUNNING, started_at__lt=now))
        for run in runs:
            run.status = RunStatus.ERROR
            run.error = reason
            run.ended_at = now
            run.save(update_fields=["status", "error", "ended_at"])
            feed.record("agent.error", project=name, agent=name, task_id=run.task, data={"run": run.id, "error": reason}, level="error")
    return [run.id for run in runs]


# Status -------------------------------------------------------------------


def _last_run_ids(names):
    """The id of each agent's newest run, as one subquery: per agent a MAX(id)
    that the database reads from the end of that agent's idx_runs_project
    entries, so it costs the same at any size of agent_runs.

    MAX(id) ... GROUP BY project read every run's entry (grew with the table);
    one ORM query per agent costs 8x this in Python (bench, 20 agents).
    """
    one = f"(SELECT MAX(id) FROM {AgentRun._meta.db_table} WHERE project = %s)"
    # A list of scalar subqueries, not a UNION: SQLite allows 500 SELECTs in a compound.
    return RawSQL(", ".join([one] * len(names)), names)


def overview():
    """Every agent with its state, heartbeat age, current tasks and last run."""
    now = timezone.now()
    agents = list(Agent.objects.all())
    names = [a.name for a in agents]
    current = {}
    for task_id, holder in Task.objects.in_progress().filter(assigned_to__in=names).order_by("started_at").values_list("id", "assigned_to"):
        current.setdefault(holder, []).append(task_id)
    last_runs = {run.project: run for run in AgentRun.objects.filter(id__in=_last_run_ids(names))} if names else {}
    waiting = {}
    for project, status, n in (
        Task.objects.filter(project__in=names, status__in=QUEUED).order_by().values_list("project", "status").annotate(n=Count("*"))
    ):
        waiting.setdefault(project, {})[status] = n
    paused = pausing.paused_projects()
    return [
        {
            "agent": agent,
            "heartbeat_age": agent.heartbeat_age(now),
            "tasks": current.get(agent.name, []),
            "last_run": last_runs.get(agent.name),
            "queue": {status: waiting.get(agent.name, {}).get(status, 0) for status in QUEUED},
            "paused": paused.get(agent.name),
        }
        for agent in agents
    ]
