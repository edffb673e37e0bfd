"""Raw sqlite3 access to the local files behind the database aliases, for maintenance.

archive_tasks, prune_logs and backup need what Django's connections do not
give: rows exactly as stored (Django turns `datetime` columns into datetime
objects), the backup API, and pragmas that must be stepped to the end. The
file of an alias still comes from settings (DATABASES), never from a path
written here. Remote databases (libSQL, PostgreSQL) are refused with a
one-line error: those have their own tools.
"""

import sqlite3
from pathlib import Path
from urllib.parse import quote

from django.db import connections

from adt_admin.errors import InvalidInput

# Pages released per incremental_vacuum step: 4 MiB with 4 KiB pages, a few
# milliseconds of work under the write lock, so agents' writes slip in between.
STEP_PAGES = 1024


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
    return conn


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
            # executescript steps the pragma to the end; execute() would free one page.
            conn.executescript(f"PRAGMA incremental_vacuum({min(free, step_pages)})")
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
