"""Turn ADT_*_DB values into Django DATABASES entries.

The one place that knows what a database value can look like. Settings call
`database(value, default_path, token)`; nothing else in the project looks at
paths, URLs or tokens. A value is one of:

- a path (or file:/sqlite: URL): a local SQLite file;
- libsql://, https:// or http:// URL: a libSQL server (Turso, sqld), with a token;
- postgres:// or postgresql:// URL: PostgreSQL (psycopg 3).
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

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
            # A checkpoint copies every page the WAL holds back into the
            # database and syncs it. The queue rewrites the same few index
            # pages on every claim, so checkpointing every 10,000 pages
            # instead of SQLite's 1,000 copies each of them a tenth as often
            # (claims+completes/s up by a fifth in bench/peers.py); the WAL
            # file it leaves behind is cut back to 64 MB.
            "PRAGMA wal_autocheckpoint=10000",
            "PRAGMA journal_size_limit=67108864",
        ]
    ),
}


class DatabaseURLError(ValueError):
    pass


def sqlite(path, page_size=None):
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    options = dict(SQLITE_OPTIONS)
    if page_size:
        # Like auto_vacuum, fixed when the file is created (WAL mode keeps it
        # from changing later); a no-op on an existing file.
        options["init_command"] = f"PRAGMA page_size={int(page_size)};" + options["init_command"]
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": options,
        # A gunicorn worker keeps its three connections: opening them and
        # running the PRAGMAs above cost more than the API request itself.
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
        # Test runners (manage.py test, pytest) create and then delete the
        # test database: a throw-away file of this process, never the live one.
        "TEST": {"NAME": test_path(path)},
    }


def test_path(path):
    return str(Path(tempfile.gettempdir()) / f"adt-test-{os.getpid()}-{Path(path).name}")


def libsql(url, token, timeout):
    return {
        "ENGINE": "storage.libsql_backend",
        "NAME": url,
        "OPTIONS": {"auth_token": token or "", "timeout": timeout, "transaction_mode": "IMMEDIATE"},
        # One remote session per process and thread is plenty; checked before reuse.
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
    }


def postgresql(url):
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise DatabaseURLError(f"no database name in {_redact(url)!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # sslmode, options=-c search_path=…, connect_timeout… pass through.
        "OPTIONS": {"connect_timeout": 10, **dict(parse_qsl(parts.query))},
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def _redact(url):
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def database(value, default_path, token=None, timeout=10, page_size=None):
    """A DATABASES entry for an ADT_*_DB value (empty means the default file).

    `page_size` applies to a SQLite file created from then on."""
    value = (value or "").strip()
    if not value:
        return sqlite(default_path, page_size)
    if "://" not in value:
        return sqlite(value, page_size)
    scheme = value.split("://", 1)[0].lower()
    if scheme in ("file", "sqlite"):
        return sqlite(value.split("://", 1)[1], page_size)
    if scheme in ("libsql", "https", "http"):
        return libsql(value, token, timeout)
    if scheme in ("postgres", "postgresql"):
        return postgresql(value)
    raise DatabaseURLError(f"unsupported database URL scheme {scheme!r} in {_redact(value)!r}")
