"""Event ids that commit in id order, so `id > last_seen` cursors never skip one.

SQLite and libSQL have one writer at a time: ids commit in order. On
PostgreSQL two transactions appending events take ids from the sequence
and may commit in the other order; a reader between the two commits sees
the later id, moves its cursor past it, and never sees the earlier one.
Appenders there take one transaction-scoped advisory lock first, so the
next appender takes its ids only after the previous one committed.
"""

# pg_advisory_xact_lock's key: any constant no other code uses ("ADTevent").
EVENTS_KEY = 0x4144546576656E74


def appending_events(connection):
    """Call inside the logs transaction, before inserting into `events`."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENTS_KEY])
