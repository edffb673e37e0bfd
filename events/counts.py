"""The per-kind event counters (EventCount): one upsert per batch of events."""

import json
from collections import Counter

from django.db import connections

LOGS = "logs"


def key_of(type, data):
    """The counters an event moves: its type, and a requeue's reason too."""
    if type != "task.requeued":
        return [type]
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    reason = data.get("reason") if isinstance(data, dict) else None
    return [type, f"{type}.{reason}"] if reason else [type]


def add(events):
    """Count `events` ((type, data) pairs). Call inside the logs transaction that records them."""
    counted = Counter(key for type, data in events for key in key_of(type, data))
    if not counted:
        return
    connection = connections[LOGS]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO event_counts (key, n) VALUES {} ON CONFLICT (key) DO UPDATE SET n = event_counts.n + excluded.n"
            .format(", ".join(["(%s, %s)"] * len(counted))),
            [value for item in sorted(counted.items()) for value in item],
        )
