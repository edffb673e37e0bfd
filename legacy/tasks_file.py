"""queue/tasks.json: the task queue and its history.

The top level is a list of tasks (ADT 0.x) or an object holding that list
under `tasks` (ADT 1.x) or `queue` (ADT 2.x). Each task becomes a row of the
`tasks` table as it was: same id, status, priority, timestamps, result,
error and retry count; fields we do not know go into its metadata.
"""

from legacy import json_file
from legacy.values import (
    TASK_STATUS,
    Malformed,
    as_text,
    enum,
    jsonable,
    keep_unknown,
    kind,
    mtime,
    priority,
    take,
    text,
    when,
)

LIST_KEYS = ("tasks", "queue")
FILE_KEYS = {"version", "schema", "updated_at", "saved_at"}

ALIASES = {
    "id": ("id", "task_id"),
    "project": ("project",),
    "description": ("description", "task", "prompt", "title"),
    "priority": ("priority",),
    "status": ("status", "state"),
    "assigned_to": ("assigned_to", "agent", "claimed_by"),
    "created_at": ("created_at", "created", "enqueued_at", "added_at"),
    "started_at": ("started_at", "claimed_at"),
    "completed_at": ("completed_at", "finished_at", "ended_at"),
    "result": ("result", "output"),
    "error": ("error", "last_error"),
    "retry_count": ("retry_count", "retries"),
    "metadata": ("metadata", "meta"),
}


def read(path, warn, default_created=None):
    """Every task of the file as a dict of Task fields, or Malformed.

    A task without a creation time gets `default_created`, else the file's mtime.
    """
    items = _items(json_file.load(path), warn)
    default_created = default_created or mtime(path)
    tasks, seen = [], {}
    for index, item in enumerate(items, 1):
        task = _task(item, index, warn, default_created)
        if task["id"] in seen:
            if seen[task["id"]] != item:
                raise Malformed(f"task id {task['id']!r} is listed twice with different contents")
            warn(f"task {task['id']!r} is listed twice; imported once")
            continue
        seen[task["id"]] = item
        tasks.append(task)
    return tasks


def _items(doc, warn):
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise Malformed(f"the top level must be a list of tasks or an object holding one, not {kind(doc)}")
    keys = [key for key in LIST_KEYS if key in doc]
    if len(keys) != 1:
        raise Malformed("the top-level object must hold its tasks under exactly one of 'tasks' or 'queue'")
    items = doc[keys[0]]
    if not isinstance(items, list):
        raise Malformed(f"{keys[0]!r} must be a list of tasks, not {kind(items)}")
    ignored = sorted(set(doc) - FILE_KEYS - {keys[0]})
    if ignored:
        warn(f"top-level fields not imported: {', '.join(ignored)}")
    return items


def _task(item, index, warn, default_created):
    if not isinstance(item, dict):
        raise Malformed(f"task #{index} must be an object, not {kind(item)}")
    doc = dict(item)
    raw = {key: take(doc, aliases) for key, aliases in ALIASES.items()}
    task_id = text(raw["id"], f"task #{index}: id", required=True)
    where = f"task {task_id!r}"
    description = text(raw["description"], f"{where}: description", required=True)
    if not description.strip():
        raise Malformed(f"{where}: description is empty")
    task = {
        "id": task_id,
        "project": text(raw["project"], f"{where}: project", required=True),
        "description": description,
        "priority": priority(raw["priority"], f"{where}: priority", warn),
        "assigned_to": text(raw["assigned_to"], f"{where}: assigned_to"),
        "created_at": when(raw["created_at"], f"{where}: created_at") or default_created,
        "started_at": when(raw["started_at"], f"{where}: started_at"),
        "completed_at": when(raw["completed_at"], f"{where}: completed_at"),
        "result": as_text(raw["result"]),
        "error": as_text(raw["error"]),
        "retry_count": _retries(raw["retry_count"], where),
        "metadata": _metadata(raw["metadata"], doc, where, warn),
    }
    task["status"] = enum(raw["status"], TASK_STATUS, f"{where}: status", _guess_status(task), warn) or "pending"
    _fit_in_progress(task, where, warn)
    return task


def _retries(value, where):
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Malformed(f"{where}: retry_count must be a whole number of at least 0, not {value!r}")
    return value


def _metadata(value, unknown, where, warn):
    """The task's own metadata with the fields we do not know added to it.

    Metadata may be any JSON value (add_task allows that too); one that is not
    an object is kept as is, or under "metadata" when unknown fields join it.
    """
    value = jsonable(value, where)
    unknown = jsonable(unknown, where)
    if not unknown:
        return value if value not in ({}, None) else None
    base = dict(value) if isinstance(value, dict) else ({} if value is None else {"metadata": value})
    return keep_unknown(base, unknown, warn, where)


def _guess_status(task):
    """The nearest status for one we do not know, from what the task shows."""
    if task["completed_at"] is not None:
        return "failed" if task["error"] else "completed"
    return "pending"


def _fit_in_progress(task, where, warn):
    """An in-progress row must have a holder and a claim time, or nothing can
    ever finish or reap it (complete/fail check the holder; the reaper and
    the lease use started_at)."""
    if task["status"] != "in_progress":
        return
    if not task["assigned_to"]:
        warn(f"{where} is in progress but held by no agent; imported as pending")
        task["status"] = "pending"
        task["started_at"] = None
    elif task["started_at"] is None:
        warn(f"{where} is in progress with no start time; its created_at is used")
        task["started_at"] = task["created_at"]
