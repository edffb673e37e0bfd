"""The values legacy ADT files hold: timestamps, statuses, priorities, settings.

Several ADT versions wrote these files, each a little differently, so every
reader here accepts each spelling we know of. A value that matches none is
mapped to the nearest valid one and the caller is told (a warning); a value
of the wrong kind altogether makes the whole file malformed.
"""

import json
import math
from datetime import UTC, date, datetime


class Malformed(Exception):
    """The file cannot be imported as a whole; the message says why, in one line."""


def kind(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def text(value, what, required=False):
    """A string field; numbers are accepted and written as text."""
    if value is None or value == "":
        if required:
            raise Malformed(f"{what} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Malformed(f"{what} must be a string, not {kind(value)}")
    return str(value)


def take(doc, aliases):
    """Pop the first of `aliases` present in `doc`; any other stays in it (kept as unknown)."""
    for alias in aliases:
        if alias in doc:
            return doc.pop(alias)
    return None


# Timestamps ---------------------------------------------------------------

# Above this an epoch number is read as milliseconds (10^11 seconds is the year 5138).
EPOCH_MS_ABOVE = 10**11


def when(value, what):
    """An aware UTC datetime from an ISO-8601 string or epoch seconds (or ms); None stays None.

    Naive ISO strings are UTC; ones with an offset are converted to UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Malformed(f"{what} must be a timestamp, not a boolean")
    if isinstance(value, str) and _is_number(value.strip()):
        value = float(value.strip())
    if isinstance(value, int | float):
        return _epoch(value, what)
    if not isinstance(value, str):
        raise Malformed(f"{what} must be a timestamp, not {kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Malformed(f"{what} is not an ISO-8601 timestamp: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _is_number(s):
    try:
        float(s)
    except ValueError:
        return False
    return bool(s) and s[0] in "0123456789-+."


def _epoch(value, what):
    if not math.isfinite(value):
        raise Malformed(f"{what} is not a timestamp: {value!r}")
    seconds = value / 1000 if abs(value) > EPOCH_MS_ABOVE else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed(f"{what} is out of range: {value!r}") from None


def mtime(path):
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


# Enumerations -------------------------------------------------------------


def _normal(value):
    return str(value).strip().lower().replace("-", "_").replace(" ", "_")


def _synonyms(table):
    return {spelling: valid for valid, spellings in table.items() for spelling in (valid, *spellings)}


TASK_STATUS = _synonyms(
    {
        "pending": ("queued", "new", "todo", "waiting", "open", "ready"),
        "in_progress": ("running", "inprogress", "active", "claimed", "started", "working", "assigned", "processing"),
        "completed": ("done", "success", "succeeded", "complete", "finished", "ok"),
        "failed": ("error", "errored", "failure", "crashed"),
        "cancelled": ("canceled", "cancel", "aborted", "skipped"),
    }
)

PRIORITY = _synonyms(
    {
        "urgent": ("critical", "crit", "blocker", "highest", "asap", "p0"),
        "high": ("important", "hi", "p1"),
        "normal": ("medium", "med", "default", "regular", "standard", "p2"),
        "low": ("minor", "lowest", "trivial", "lo", "p3", "p4"),
    }
)
# Numbers are ranks, as in the claim order: 0 urgent … 3 low.
PRIORITY_BY_RANK = ("urgent", "high", "normal", "low")

AGENT_STATUS = _synonyms(
    {
        "idle": ("stopped", "ready", "waiting", "done", "exited", "paused", "sleeping"),
        "working": ("running", "busy", "active", "in_progress", "started"),
        "stale": ("dead", "crashed", "unresponsive", "lost", "hung", "timeout", "timed_out"),
    }
)


def priority(value, what, warn):
    if value is None or value == "":
        return "normal"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Malformed(f"{what} must be a name or a number, not {kind(value)}")
    if isinstance(value, str) and _is_number(value.strip()):
        value = float(value.strip())
    if isinstance(value, int | float):
        if not math.isfinite(value) or value != int(value):
            raise Malformed(f"{what} must be a whole number, not {value!r}")
        rank = int(value)
        mapped = PRIORITY_BY_RANK[min(max(rank, 0), 3)]
        if rank != min(max(rank, 0), 3):
            warn(f"{what} {rank} is outside 0 (urgent) to 3 (low); imported as {mapped}")
        return mapped
    mapped = PRIORITY.get(_normal(value))
    if mapped is None:
        warn(f"{what} {value!r} is not known; imported as normal")
        return "normal"
    return mapped


def enum(value, table, what, guess, warn):
    """Map a status through `table`; an unknown one becomes `guess` with a warning."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Malformed(f"{what} must be a string, not {kind(value)}")
    mapped = table.get(_normal(value))
    if mapped is None:
        warn(f"{what} {value!r} is not known; imported as {guess}")
        return guess
    return mapped


# Free-form settings -------------------------------------------------------


def jsonable(value, what):
    """YAML and JSON values as JSONField can store them (YAML dates become ISO strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, what) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v, what) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise Malformed(f"{what} holds {kind(value)}, which cannot be stored as JSON")


def as_text(value):
    """A result or error as text: strings as they are, anything else as its JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def keep_unknown(target, extra, warn, what):
    """Add `extra` fields to the `target` dict without overwriting any.

    A name already taken (with another value) is kept as legacy_<name>, so
    nothing is lost.
    """
    for key, value in extra.items():
        name = key
        while name in target and target[name] != value:
            name = f"legacy_{name}"
        if name != key:
            warn(f"{what}: field {key!r} is set twice; the second is kept as {name!r}")
        target[name] = value
    return target
