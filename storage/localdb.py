"""Raw sqlite3 access to the local files behind the database aliases, for maintenance.

archive_tasks, prune_logs and backup need what Django's connections do not
give: rows exactly as stored (Django turns `datetime` columns into datetime
objects), the backup API, and pragmas that must be stepped to the end. The
file of an alias still comes from settings (DATABASES), never from a path
written here. Remote databases (libSQL, PostgreSQL) are refused with a
one-line error: those have their own tools.
"""

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connections

from common.errors import InvalidInput

# Pages released per incremental_vacuum step: 1 MiB with 4 KiB pages, a few
# milliseconds under the write lock (bench/archive.py measures the rest).
STEP_PAGES = 256
# After each short maintenance write, a pause of this many times as long as
# it held the lock (see breathe()).
PAUSE = 1.0


def path(alias):
    """The SQLite file of `alias`, or a one-line refusal when it is not a local SQLite file."""
    connection = connections[alias]
    name = connection.settings_dict.get("NAME")
    if connection.vendor != "sqlite" or not name or str(name) == ":memory:" or "://" in str(name):
        raise InvalidInput(
            f"database {alias!r} is not a local SQLite file ({connection.vendor}); "
            "use that database's own tools for it"
        )
    return Path(name)


def connect(alias):
    """A plain sqlite3 connection to `alias`'s file, in autocommit mode (BEGIN/COMMIT by hand).

    Opened read-write without create, so a missing file is a clear error
    rather than a new empty database.
    """
    file = path(alias)
    options = connections[alias].settings_dict.get("OPTIONS", {})
    try:
        conn = sqlite3.connect(
            f"file:{quote(str(file))}?mode=rw", uri=True, timeout=options.get("timeout", 30), isolation_level=None
        )
    except sqlite3.OperationalError:
        raise InvalidInput(f"no database at {file} (run `python manage.py migrate`)") from None
    conn.execute("PRAGMA synchronous=NORMAL")
    manual_checkpoints(conn)
    return conn


def open_file(file):
    """A plain sqlite3 connection to a file of our own (an archive), created if missing, in autocommit mode."""
    return sqlite3.connect(file, timeout=30, isolation_level=None)


def manual_checkpoints(conn):
    """Leave checkpoints to breathe(), which runs one after each write.

    A maintenance run writes far more WAL than agents do. Left to SQLite's
    autocheckpoint, the WAL would run past 1000 pages mostly through our
    writes and an agent's commit would pay for copying it back.
    """
    conn.execute("PRAGMA wal_autocheckpoint=0")


def breathe(conn, held):
    """After a maintenance write that held the lock `held` seconds: checkpoint, then pause.

    The checkpoint keeps the WAL short. PASSIVE copies what no reader still
    needs without making anyone wait. Agents read all the time, so some
    reader usually still sees the frames of our last write, the WAL is never
    fully copied, never starts over, and grows by a batch each time; past
    1000 pages every agent commit would try a checkpoint of its own. So when
    PASSIVE leaves frames behind, RESTART finishes the job: it waits for
    those readers (milliseconds) and blocks writers while it copies the rest.

    The pause is for agents waiting for the lock: they sleep in SQLite's busy
    handler and retry at moments of their own, and back-to-back writes would
    leave them only instants to get in. It lasts as long as the write and
    the RESTART held the lock, so the lock stays free at least half the time.
    Returns the seconds the RESTART blocked writers.
    """
    started = time.monotonic()
    busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    blocked = 0.0
    if log > 0 and copied < log:
        restart = time.monotonic()
        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        blocked = time.monotonic() - restart
    time.sleep(max(0.0, (held + blocked) * PAUSE - (time.monotonic() - started - blocked)))
    return blocked


def pragma(conn, name):
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def reclaim(alias, step_pages=STEP_PAGES):
    """Give free pages back to the file system a step at a time; returns the bytes released.

    Each step is its own short write transaction. Files made before
    auto_vacuum=INCREMENTAL was set (see adt_admin/databases.py) cannot do
    this; one full vacuum() converts them.
    """
    conn = connect(alias)
    try:
        if pragma(conn, "auto_vacuum") != 2:  # 2 is INCREMENTAL
            return 0
        released = 0
        free = pragma(conn, "freelist_count")
        while free > 0:
            started = time.monotonic()
            # executescript steps the pragma to the end; execute() would free one page.
            conn.executescript(f"PRAGMA incremental_vacuum({min(free, step_pages)})")
            breathe(conn, time.monotonic() - started)
            after = pragma(conn, "freelist_count")
            if after >= free:  # others free pages as fast as we release them
                break
            released += free - after
            free = after
        return released * pragma(conn, "page_size")
    finally:
        conn.close()


def vacuum(alias):
    """A full VACUUM: rewrites the file, holding the write lock throughout. Returns bytes released."""
    conn = connect(alias)
    try:
        before = pragma(conn, "page_count") * pragma(conn, "page_size")
        # Set again so files made without it switch to incremental mode here.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
        return max(0, before - pragma(conn, "page_count") * pragma(conn, "page_size"))
    finally:
        conn.close()
