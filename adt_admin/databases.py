"""Turn ADT_*_DB values into Django DATABASES entries.

The one place that knows what a database value can look like. Settings call
`database(value, default_path)`; nothing else in the project looks at paths,
URLs or tokens.
"""

from pathlib import Path

# Why each SQLite option is set:
SQLITE_OPTIONS = {
    # Writers queue on the busy handler for up to this many seconds instead
    # of failing at once with "database is locked".
    "timeout": 30,
    # BEGIN IMMEDIATE takes the write lock up front, so a transaction never
    # has to upgrade a read lock (which fails immediately under WAL).
    "transaction_mode": "IMMEDIATE",
    "init_command": ";".join(
        [
            # Lets prune_logs give space back a little at a time. Takes effect
            # on new files only, so it comes before anything writes the header.
            "PRAGMA auto_vacuum=INCREMENTAL",
            # Readers never block the writer and the writer never blocks readers.
            "PRAGMA journal_mode=WAL",
            # In WAL mode NORMAL is still crash-safe for the database; only the
            # last commits before a power loss can roll back. Saves an fsync
            # per commit.
            "PRAGMA synchronous=NORMAL",
            # Django already turns this on; repeated here so it is visible.
            "PRAGMA foreign_keys=ON",
        ]
    ),
}


class DatabaseURLError(ValueError):
    pass


def sqlite(path):
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": dict(SQLITE_OPTIONS),
        "TEST": {"NAME": str(path)},
    }


def database(value, default_path):
    """A DATABASES entry for an ADT_*_DB value (empty means the default file)."""
    value = (value or "").strip()
    if not value:
        return sqlite(default_path)
    if "://" in value:
        scheme = value.split("://", 1)[0].lower()
        if scheme in ("file", "sqlite"):
            return sqlite(value.split("://", 1)[1])
        raise DatabaseURLError(f"unsupported database URL scheme {scheme!r} in {value!r}")
    return sqlite(value)
