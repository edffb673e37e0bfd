"""Importing a legacy folder: read every file, check it whole, then write what is new.

Order matters: projects and agents first (main.db), since a task may only
name a project that exists; then tasks (tasks.db); then each log (logs.db).
Each file is parsed and checked completely before anything of it is
written, and written in one transaction, so a file is either imported or
skipped, never half done. Every row is keyed (projects and agents by name,
tasks by id, log lines by file + line number + content hash) and a key
already in the database is left alone: a second run writes nothing.
"""

from contextlib import nullcontext
from pathlib import Path

from django.db import transaction

from agents.models import Agent
from common.errors import InvalidInput
from events import feed
from events.models import Event
from legacy import config_file, log_files, state_files, tasks_file
from legacy.report import Report
from legacy.values import Malformed, keep_unknown
from projects.models import Project
from tasks.models import Task

MAIN, TASKS, LOGS = "default", "tasks", "logs"
CONFIG = "config.yml"
AGENTS_DIR = "agents"
TASKS_FILE = "queue/tasks.json"
LOGS_DIR = "logs/agents"
LOG_EVENT = "agent.log"
# Rows per INSERT at most; on SQLite Django lowers it to fit 999 parameters.
BATCH = 500


def run(directory, dry_run=False):
    source = Path(directory).expanduser().resolve()
    if not source.is_dir():
        raise InvalidInput(f"{source} is not a directory")
    states_found, logs_found = _files(source / AGENTS_DIR, state_files.SUFFIX), _files(source / LOGS_DIR, ".log")
    config, tasks = source / CONFIG, source / TASKS_FILE
    if not (config.is_file() or tasks.is_file() or states_found or logs_found):
        raise InvalidInput(
            f"{source} holds none of {CONFIG}, {AGENTS_DIR}/*.state.json, {TASKS_FILE}, {LOGS_DIR}/*.log: nothing to import"
        )
    report = Report(str(source), dry_run)
    _warn_unread(report, source / AGENTS_DIR, states_found)
    _warn_unread(report, source / LOGS_DIR, logs_found)

    entries = _read(report, "projects", config, config_file.read) if config.is_file() else []
    states = {}
    for path in states_found:
        state = _read(report, "agents", path, state_files.read)
        if state is not None:
            states[state.name] = (path, state)
    task_rows = _read(report, "tasks", tasks, tasks_file.read) if tasks.is_file() else None

    # A project config.yml lists is there after the import (or was already).
    coming = {entry.name for entry in entries or ()}
    _import_projects(report, entries or [], states, dry_run)
    if task_rows is not None:
        _import_tasks(report, tasks, task_rows, coming, dry_run)
    for path in logs_found:
        _import_log(report, source, path, coming, dry_run)

    if not dry_run and report.imported:
        summary = report.as_dict()
        summary["warnings"] = len(report.warnings)
        feed.record("legacy.imported", data=summary, level="info" if report.complete else "warn")
    return report


def _files(folder, suffix):
    return sorted(p for p in folder.glob(f"*{suffix}") if p.is_file()) if folder.is_dir() else []


def _warn_unread(report, folder, read):
    if folder.is_dir():
        for path in sorted(set(folder.iterdir()) - set(read)):
            report.warn(path, "not a file import_legacy reads; left out")


def _read(report, kind, path, reader, *args):
    """The file parsed whole, or None when it is skipped (reported with its reason).

    Warnings count only for a file that is imported.
    """
    warnings = []
    try:
        parsed = reader(path, warnings.append, *args)
    except Malformed as e:
        report.skip_file(kind, path, str(e))
        return None
    except OSError as e:
        report.skip_file(kind, path, f"cannot read it: {e.strerror or e}")
        return None
    for message in warnings:
        report.warn(path, message)
    return parsed


def _writing(alias, dry_run):
    return nullcontext() if dry_run else transaction.atomic(using=alias)


# main.db ------------------------------------------------------------------


def _import_projects(report, entries, states, dry_run):
    """Projects from config.yml; their agents from config.yml and agents/*.state.json together."""
    count, agent_count = report.counts["projects"], report.counts["agents"]
    names = [entry.name for entry in entries] + list(states)
    with _writing(MAIN, dry_run):
        projects = set(Project.objects.filter(name__in=names).values_list("name", flat=True))
        agents = set(Agent.objects.filter(project__in=names).values_list("project", flat=True))
        new_projects, new_agents = [], []
        for entry in entries:
            if entry.name in projects:
                count.already_present += 1
            else:
                new_projects.append(Project(name=entry.name, path=entry.path, config=entry.config or None))
                count.imported += 1
            state_path, state = states.pop(entry.name, (None, None))
            if entry.name in agents:
                agent_count.already_present += 1
            else:
                new_agents.append(_agent(entry.name, entry, state, lambda m, p=state_path: report.warn(p, m)))
                agent_count.imported += 1
        # State files of projects config.yml does not list: fine if registered already.
        for name, (path, state) in states.items():
            if name in agents:
                agent_count.already_present += 1
            elif name in projects:
                new_agents.append(_agent(name, None, state, lambda m, p=path: report.warn(p, m)))
                agent_count.imported += 1
            else:
                report.skip_file("agents", path, f"project {name!r} is not in {CONFIG} and not registered")
        if not dry_run:
            Project.objects.bulk_create(new_projects, batch_size=BATCH)
            Agent.objects.bulk_create(new_agents, batch_size=BATCH)


def _agent(name, entry, state, warn):
    """One agent from its config.yml entry and its state file (either may be None).

    config.yml says what the agent should use, so its provider and worktree
    win; a state file that disagrees has its value kept in the agent's config.
    """
    chosen = {"provider": entry.provider if entry else None, "worktree": entry.worktree if entry else None}
    config = dict(entry.agent_config) if entry else {}
    if state is not None:
        for key in chosen:
            value = getattr(state, key)
            if value is None:
                continue
            if chosen[key] is None:
                chosen[key] = value
            elif chosen[key] != value:
                warn(f"{key} {value!r} differs from {CONFIG}'s {chosen[key]!r}; {CONFIG} wins, this one is kept as state_{key}")
                keep_unknown(config, {f"state_{key}": value}, warn, f"agent {name!r}")
        keep_unknown(config, state.config, warn, f"agent {name!r}")
    return Agent(
        project_id=name,
        provider=chosen["provider"] or "cursor",
        preferred_worktree=chosen["worktree"],
        config=config or None,
        status=state.status if state else "idle",
        last_heartbeat=state.last_heartbeat if state else None,
    )


# tasks.db -----------------------------------------------------------------


def _import_tasks(report, path, rows, coming, dry_run):
    count = report.counts["tasks"]
    with _writing(TASKS, dry_run):
        present = _present_task_ids([row["id"] for row in rows])
        # tasks.project names a row in another file: checked here, not by SQLite.
        known = set(Project.objects.filter(name__in={row["project"] for row in rows}).values_list("name", flat=True))
        known |= coming if dry_run else set()
        new = []
        for row in rows:
            if row["id"] in present:
                count.already_present += 1
            elif row["project"] not in known:
                report.skip(
                    "tasks", path,
                    f"task {row['id']!r} ({row['description'][:60]!r}) names project {row['project']!r}, "
                    f"which is not in {CONFIG} and not registered; skipped (register it and run again)",
                )
            else:
                new.append(Task(**row))
                count.imported += 1
        if not dry_run:
            Task.objects.bulk_create(new, batch_size=BATCH)


def _present_task_ids(ids):
    present = set()
    for start in range(0, len(ids), BATCH):
        present.update(Task.objects.filter(id__in=ids[start : start + BATCH]).values_list("id", flat=True))
    return present


# logs.db ------------------------------------------------------------------


def _import_log(report, source, path, coming, dry_run):
    lines = _read(report, "events", path, log_files.read)
    if lines is None:
        return
    count = report.counts["events"]
    project = log_files.project_of(path)
    name = path.relative_to(source).as_posix()
    if project not in coming and not Project.objects.filter(pk=project).exists():
        report.warn(path, f"project {project!r} is not registered; its log is imported as history all the same")
    with _writing(LOGS, dry_run):
        present = _imported_lines(project, name)
        new = [
            Event(
                type=LOG_EVENT,
                project=project,
                agent=project,
                timestamp=line.timestamp,
                level=line.level,
                data={"source": name, "line": line.line, "key": line.key, "text": line.text},
            )
            for line in lines
            if line.key not in present
        ]
        count.imported += len(new)
        count.already_present += len(lines) - len(new)
        if not dry_run:
            Event.objects.bulk_create(new, batch_size=BATCH)


def _imported_lines(project, source):
    """The keys of the lines of `source` imported before.

    Filtered in SQL by project and source only: SQLite then reads
    idx_events_project, so the check costs what this project's history
    costs. With `type` in the WHERE too it picks idx_events_type instead and
    reads every imported log line of every project.
    """
    rows = Event.objects.filter(project=project, data__source=source).values_list("type", "data__key")
    return {key for type, key in rows if type == LOG_EVENT}
