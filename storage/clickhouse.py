"""ClickHouse, the optional long-term copy of the events (ADT_CLICKHOUSE_URL).

The only module that imports clickhouse_driver (the native protocol: the
HTTP clients of today fail against Debian's ClickHouse 18.16). Everything
here is SQL that 18.16 and current servers both accept: no DateTime64 (not
in 18.16), no LowCardinality (needs a setting there), no Nullable in the
sorting key.

The table, one row per event of logs.db, the same id:

- ReplacingMergeTree on the sorting key, which ends in the id: the shipper
  (events.shipping) never inserts an event twice, and should a copy ever
  slip in anyway, a merge drops it.
- PARTITION BY toYYYYMM(timestamp): months are dropped whole, and an INSERT
  whose rows fall in one month becomes one part, which appears atomically.
- ORDER BY (type, project, timestamp, id): the events page filters on type,
  then project, then a time range, so those reads touch only the granules of
  that type and project.
- `project` and `level` are '' for NULL (no Nullable in the key); `timestamp`
  is whole seconds in UTC.
"""

import logging
import re
import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings

from common.errors import ADTError

# The driver logs a failed connection with its traceback; Unavailable carries the one line that matters.
logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)

COLUMNS = ("id", "timestamp", "type", "project", "agent", "task_id", "data", "level")

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    id UInt64,
    timestamp DateTime('UTC'),
    type String,
    project String,
    agent Nullable(String),
    task_id Nullable(String),
    data Nullable(String),
    level String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (type, project, timestamp, id)
"""

# A page must not wait long for a server that is down: it falls back to logs.db.
CONNECT_TIMEOUT = 2
# The longest one statement may take (a ship's batch of up to a million rows included).
SEND_RECEIVE_TIMEOUT = 120


class Unavailable(ADTError):
    """ClickHouse is not configured, not reachable, or refused a statement."""


def configured():
    return bool(settings.ADT_CLICKHOUSE_URL)


def where():
    """host:port/database of the configured server, for messages (never the password)."""
    parts = urlsplit(settings.ADT_CLICKHOUSE_URL or "")
    try:
        port = parts.port or 9000
    except ValueError:
        port = "?"
    return f"{parts.hostname}:{port}/{database()}"


def database():
    path = urlsplit(settings.ADT_CLICKHOUSE_URL or "").path.strip("/")
    return path or "default"


def table():
    return f"`{database()}`.events"


_local = threading.local()


def _client():
    """One client per thread (a client is one connection, not thread-safe),
    remade when the setting changes (tests point it at a database of their own)."""
    from clickhouse_driver import Client

    url = settings.ADT_CLICKHOUSE_URL
    if not url:
        raise Unavailable("ADT_CLICKHOUSE_URL is not set")
    cached = getattr(_local, "client", None)
    if cached is not None and cached[0] == url:
        return cached[1]
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise Unavailable(f"ADT_CLICKHOUSE_URL must start with clickhouse:// or clickhouses://, not {parts.scheme}://")
    try:
        parts.port  # noqa: B018 — urlsplit checks the port only when asked
    except ValueError:
        raise Unavailable(f"ADT_CLICKHOUSE_URL has a port that is not a number: {where()}") from None
    # Connected to `default`: the hello fails when the URL's database does not
    # exist yet, and ensure_schema() is what creates it. Every statement names its table in full.
    query = f"connect_timeout={CONNECT_TIMEOUT}&send_receive_timeout={SEND_RECEIVE_TIMEOUT}"
    if parts.query:
        query = f"{query}&{parts.query}"
    client = Client.from_url(parts._replace(path="/default", query=query).geturl())
    _local.client = (url, client)
    return client


def _run(sql, params=None, **kwargs):
    from clickhouse_driver import errors

    try:
        return _client().execute(sql, params, **kwargs)
    except (errors.Error, OSError, EOFError) as e:
        # A broken connection is not reused.
        forget()
        raise Unavailable(f"ClickHouse at {where()}: {_first_line(e)}") from e


def _first_line(e):
    """The server's message without its code and stack trace."""
    text = re.sub(r"^Code: \d+\.\s*", "", str(e).strip())
    line = text.removeprefix("DB::Exception: ").split(" Stack trace:")[0].splitlines()
    return line[0].strip() if line and line[0].strip() else e.__class__.__name__


def forget():
    cached = getattr(_local, "client", None)
    _local.client = None
    if cached is not None:
        cached[1].disconnect()


def ensure_schema():
    _run(f"CREATE DATABASE IF NOT EXISTS `{database()}`")
    _run(TABLE_DDL.format(table=table()))


def drop_database():
    """For tests and benches that made a database of their own."""
    _run(f"DROP DATABASE IF EXISTS `{database()}`")


def insert(rows):
    """Insert rows (tuples in COLUMNS order, timestamp as epoch seconds) in one block.

    One block of rows from one month is one part, which the server makes
    visible all at once or not at all.
    """
    if rows:
        _run(f"INSERT INTO {table()} ({', '.join(COLUMNS)}) VALUES", rows, types_check=False)


def max_id():
    """The highest event id present (0 for none)."""
    return _run(f"SELECT max(id) FROM {table()}")[0][0]


def query(sql, params=None):
    """Run a SELECT; `{table}` in `sql` is the events table. Returns a list of tuples."""
    return _run(sql.format(table=table()), params)


def epoch(value):
    """Epoch seconds from what a database driver returns for a timestamp:
    a datetime (naive means UTC) or Django's SQLite text form."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    text = str(value)
    day = _days.get(text[:10])
    if day is None:
        day = _days[text[:10]] = int(datetime.fromisoformat(text[:10]).replace(tzinfo=UTC).timestamp())
    seconds = day + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
    offset = text[19:].lstrip("0123456789.")
    if offset and offset not in ("Z", "+00:00"):
        return int(datetime.fromisoformat(text).timestamp())
    return seconds


_days = {}


def aware(value):
    """A naive UTC datetime read back from DateTime('UTC') as an aware one."""
    return value.replace(tzinfo=UTC)
