"""Events as sentences people read: "web claimed *Fix the login test*", "agent api went stale after 31 s".

A sentence is a list of parts: plain strings, and Task references
(a task id with its description, when known) that a page renders as a link.
The descriptions live in tasks.db, which this app may not import: the tasks
app registers a lookup at startup (`use_titles`), and `annotate` calls it
once for a whole page of events.
"""

from dataclasses import dataclass
from datetime import datetime

from common import durations

# {task id: description} for a collection of ids, in one query; set by tasks.apps.
_titles = None


def use_titles(lookup):
    """Register the function that finds task descriptions: lookup(ids) -> {id: description}."""
    global _titles
    _titles = lookup


@dataclass(frozen=True)
class Task:
    id: str
    title: str | None = None

    def __str__(self):
        return self.title or f"task {self.id}"


def annotate(events, titles=None):
    """Give each event its `sentence`, looking up the descriptions of all their tasks at once.

    `titles` ({id: description}) skips the lookup when the caller knows them.
    Returns the events (a list).
    """
    events = list(events)
    if titles is None:
        ids = {e.task_id for e in events if e.task_id}
        titles = _titles(ids) if ids and _titles else {}
    for event in events:
        event.sentence = describe(event, titles.get(event.task_id))
    return events


def text(parts):
    """A sentence as plain text (the task's description in place of its reference)."""
    return "".join(str(part) for part in parts)


def describe(event, title=None):
    """The sentence for one event: a list of strings and Task references."""
    data = event.data if isinstance(event.data, dict) else {}
    task = Task(event.task_id, title) if event.task_id else None
    kind = event.kind
    write = SENTENCES.get(kind)
    if write is not None:
        try:
            parts = write(event, data, task)
        except (KeyError, TypeError, ValueError, AttributeError):
            parts = None  # Data older or odder than the sentence expects: say it plainly.
        if parts:
            return [p for p in parts if p not in ("", None)]
    return _generic(event, kind, task)


def _generic(event, kind, task):
    parts = [kind]
    if task:
        parts += [" of ", task]
    if event.agent:
        parts.append(f" by agent {event.agent}")
    elif event.project:
        parts.append(f" in project {event.project}")
    return parts


def who(by, default="someone"):
    """The person or process in a `by`: "web:alice" (or api:, cli:) → "alice"; None → `default`."""
    if not by:
        return default
    by = str(by)
    return by.split(":", 1)[1] if by.startswith(("web:", "api:", "cli:")) else by


def _n(count, thing, things=None):
    return f"{count} {thing}" if count == 1 else f"{count} {things or thing + 's'}"


def _when(value):
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _retries(data):
    if "retry_count" in data and data.get("max_retries") is not None:
        return f" (retry {data['retry_count']} of {data['max_retries']})"
    return ""


def _error(data):
    return f": {data['error']}" if data.get("error") else ""


def _created(event, data, task):
    if data.get("by"):
        parts = [f"{who(data['by'])} added ", task, f" to project {event.project}"]
    else:
        parts = [task, f" added to project {event.project}"]
    if data.get("priority") and data["priority"] != "normal":
        parts.append(f", {data['priority']} priority")
    if data.get("after"):
        parts.append(f", after {_n(len(data['after']), 'other task')}")
    if data.get("unique"):
        parts.append(f", unique key {data['unique']}")
    return parts


def _scheduled(event, data, task):
    return [task, f" scheduled for {_when(data['run_at'])} in project {event.project}"]


def _requeued(event, data, task):
    reason, holder = data.get("reason"), event.agent
    if reason == "agent_stale":
        why = [task, f" requeued: agent {holder} went stale"]
    elif reason == "timeout":
        why = [task, f" requeued: it ran past its time limit on agent {holder}"]
    else:
        why = [f"{who(data.get('by'))} requeued ", task, f", taking it from agent {holder}" if holder else ""]
    return [*why, _retries(data)]


def _failed(event, data, task):
    reasons = {"agent_stale": f" after agent {event.agent} went stale", "timeout": " after running past its time limit"}
    tries = data.get("retry_count")
    parts = [task, " failed for good", reasons.get(data.get("reason"), "")]
    if tries is not None:
        parts.append(f" after {_n(tries, 'retry', 'retries')}")
    if event.agent and data.get("reason") is None:
        parts.append(f" on agent {event.agent}")
    parts.append(_error(data))
    return parts


def _cancelled(event, data, task):
    if data.get("by") == "dependency":
        return [task, f" cancelled: task {data.get('after')}, which it waited for, did not complete"]
    parts = [f"{who(data.get('by'))} cancelled ", task] if data.get("by") else [task, " cancelled"]
    if data.get("was_held_by"):
        parts.append(f", taking it from agent {data['was_held_by']}")
    return parts


def _stale(event, data, task):
    silent = data.get("silent_seconds")
    if silent is None:
        return [f"agent {event.agent} went stale (it never sent a heartbeat)"]
    return [f"agent {event.agent} went stale after {durations.short(silent)} without a heartbeat"]


def _run(event, data):
    return f" run #{data['run']}" if data.get("run") is not None else " a run"


def _agent_started(event, data, task):
    return [f"agent {event.agent} started{_run(event, data)}", *([" on ", task] if task else [])]


def _agent_stopped(event, data, task):
    code = data.get("exit_code")
    return [f"agent {event.agent} finished{_run(event, data)}", *([" on ", task] if task else []),
            f" (exit {code})" if code is not None else ""]


def _agent_error(event, data, task):
    code = data.get("exit_code")
    return [f"agent {event.agent}'s{_run(event, data).replace(' a run', ' run')} failed", *([" on ", task] if task else []),
            f" (exit {code})" if code is not None else "", _error(data)]


def _paused(event, data, task):
    held = data.get("tasks")
    return [f"{who(data.get('by'))} paused project {event.project}", f" ({data['reason']})" if data.get("reason") else "",
            f"; {_n(held, 'task')} held" if isinstance(held, int) else ""]


def _resumed(event, data, task):
    released, seconds = data.get("tasks"), data.get("paused_seconds")
    return [f"{who(data.get('by'))} resumed project {event.project}",
            f" after {durations.short(seconds)}" if seconds is not None else "",
            f"; {_n(released, 'task')} released" if isinstance(released, int) else ""]


def _schedule(verb):
    def write(event, data, task):
        cron = f": {data['cron']}" if data.get("cron") else ""
        zone = f" ({data['timezone']})" if data.get("timezone") else ""
        return [f"{who(data.get('by'))} {verb} schedule {data['schedule']} of project {event.project}{cron}{zone}"]
    return write


SENTENCES = {
    "task.created": _created,
    "task.scheduled": _scheduled,
    "task.due": lambda e, d, t: [t, " is due and ready to be claimed"],
    "task.blocked": lambda e, d, t: [f"{who(d.get('by'))} made " if d.get("by") else "", t,
                                     f" wait for {_n(len(d.get('after') or []), 'other task')}"],
    "task.unblocked": lambda e, d, t: [t, " is ready: the tasks it waited for have completed"],
    "task.claimed": lambda e, d, t: [f"{e.agent} claimed ", t, f" (retry {d['retry_count']})" if d.get("retry_count") else ""],
    "task.completed": lambda e, d, t: [t, f" completed by {e.agent}"],
    "task.attempt_failed": lambda e, d, t: [t, f" failed on agent {e.agent}" if e.agent else " failed", _error(d),
                                            "; it goes back in the queue", _retries(d)],
    "task.failed": _failed,
    "task.retried": lambda e, d, t: [f"{who(d.get('by'))} retried ", t],
    "task.cancelled": _cancelled,
    "task.extended": lambda e, d, t: [f"{e.agent or 'someone'} extended the time limit of ", t,
                                      f" by {durations.short(d['seconds'])}, to {_when(d['deadline'])}"],
    "task.requeued": _requeued,
    "task.reprioritized": lambda e, d, t: [f"{who(d.get('by'))} changed the priority of ", t,
                                           f" from {d['from']} to {d['to']}"],
    "task.dependency_added": lambda e, d, t: [f"{who(d.get('by'))} made ", t,
                                              f" also wait for {_n(len(d.get('after') or []), 'task')}"],
    "agent.started": _agent_started,
    "agent.stopped": _agent_stopped,
    "agent.error": _agent_error,
    "agent.stale": _stale,
    "agent.recovered": lambda e, d, t: [f"agent {e.agent} is back" + (f" ({d['status']})" if d.get("status") else "")],
    "project.registered": lambda e, d, t: [f"project {e.project} registered" + (f" at {d['path']}" if d.get("path") else "")],
    "project.updated": lambda e, d, t: [f"project {e.project} updated" + (f" (path {d['path']})" if d.get("path") else "")],
    "project.paused": _paused,
    "project.resumed": _resumed,
    "schedule.added": _schedule("added"),
    "schedule.changed": _schedule("changed"),
    "schedule.removed": _schedule("removed"),
}
