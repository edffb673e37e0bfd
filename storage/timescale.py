"""TimescaleDB on a PostgreSQL database, where the server has it: the SQL of
hypertables and of dropping their chunks.

Everything here answers "no" at once for SQLite and libSQL (no query), and
for a PostgreSQL server that does not offer the extension. The callers
(events' migration 0004, its system check, events.retention) decide what a
table is for; this module only knows how TimescaleDB is spoken to.
"""

from django.db import connections

EXTENSION = "timescaledb"

# Why a state is what it is, for the system check (see state()).
NOT_POSTGRESQL = "not postgresql"
NOT_OFFERED = "not offered"
NOT_LOADED = "not loaded"
PLAIN = "plain"
IN_USE = "in use"


def _postgresql(alias):
    return connections[alias].vendor == "postgresql"


def _scalar(alias, sql, params=()):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


def available(alias):
    """The server at `alias` is PostgreSQL and offers the extension (pg_available_extensions)."""
    return _postgresql(alias) and bool(
        _scalar(alias, "SELECT count(*) FROM pg_available_extensions WHERE name = %s", [EXTENSION])
    )


def loadable(alias):
    """Offered, and either already created here or preloaded by the server.

    CREATE EXTENSION fails unless the server was started with the library in
    shared_preload_libraries; a server that merely has the package installed
    is left alone rather than failing `migrate`.
    """
    if not available(alias):
        return False
    if _scalar(alias, "SELECT count(*) FROM pg_extension WHERE extname = %s", [EXTENSION]):
        return True
    # Through pg_settings, which hides what a user may not read instead of
    # failing: shared_preload_libraries is for superusers and
    # pg_read_all_settings only, but the settings the preloaded library
    # defines (timescaledb.max_background_workers, …) are there for anyone.
    return bool(_scalar(
        alias,
        "SELECT count(*) FROM pg_settings WHERE name LIKE %s OR (name = 'shared_preload_libraries' AND setting LIKE %s)",
        [f"{EXTENSION}.%", f"%{EXTENSION}%"],
    ))


def in_use(alias, table):
    """`table` at `alias` is a hypertable. False without a query on SQLite and libSQL."""
    if not _postgresql(alias) or not _scalar(alias, "SELECT count(*) FROM pg_extension WHERE extname = %s", [EXTENSION]):
        return False
    return bool(_scalar(
        alias,
        "SELECT count(*) FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = current_schema() AND hypertable_name = %s",
        [table],
    ))


def state(alias, table):
    """One of NOT_POSTGRESQL, NOT_OFFERED, NOT_LOADED, PLAIN, IN_USE."""
    if not _postgresql(alias):
        return NOT_POSTGRESQL
    if not available(alias):
        return NOT_OFFERED
    if not loadable(alias):
        return NOT_LOADED
    return IN_USE if in_use(alias, table) else PLAIN


def prepare(alias, table, time_column):
    """What a hypertable needs of a plain table, done on plain PostgreSQL too.

    1. The time column NOT NULL: rows without a time get the time of the row
       before them in id order (ids are handed out in insertion order, so
       that is the closest time known to be no later), else of the row
       after, else now. The column's default stays.
    2. Every unique index must hold the time column: the primary key on
       `id` becomes a unique index on (id, time column). Django still treats
       `id` as the key; ids come from the identity sequence, so they stay
       unique, and the index keeps lookups by id as fast as before.
    Running it again changes nothing.
    """
    with connections[alias].cursor() as cursor:
        quote = connections[alias].ops.quote_name
        t, c = quote(table), quote(time_column)
        cursor.execute(
            f"UPDATE {t} AS r SET {c} = COALESCE("
            f"(SELECT p.{c} FROM {t} AS p WHERE p.id < r.id AND p.{c} IS NOT NULL ORDER BY p.id DESC LIMIT 1), "
            f"(SELECT n.{c} FROM {t} AS n WHERE n.id > r.id AND n.{c} IS NOT NULL ORDER BY n.id LIMIT 1), "
            f"now()) WHERE r.{c} IS NULL"
        )
        cursor.execute(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL")
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", [table]
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {t} DROP CONSTRAINT {quote(name)}")
        cursor.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(unique_index(table))} ON {t} (id, {c})")


def unique_index(table):
    return f"uniq_{table}_id_time"


def make_hypertable(alias, table, time_column, chunk_days):
    """CREATE EXTENSION if needed, prepare(), then create_hypertable with the rows moved into chunks."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
    prepare(alias, table, time_column)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT create_hypertable(%s::regclass, %s::name, chunk_time_interval => %s * INTERVAL '1 day', "
            "if_not_exists => TRUE, migrate_data => TRUE)",
            [table, time_column, chunk_days],
        )


def chunks_older_than(alias, table, cutoff):
    """How many chunks hold only rows older than `cutoff` (what drop_chunks would drop)."""
    return _scalar(alias, "SELECT count(*) FROM show_chunks(%s::regclass, older_than => %s::timestamptz)", [table, cutoff])


def drop_chunks(alias, table, cutoff):
    """Drop every chunk of `table` whose rows are all older than `cutoff`; returns how many."""
    return _scalar(alias, "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s::timestamptz)", [table, cutoff])


def size(alias, table):
    """Bytes on disk of the hypertable with its chunks and indexes."""
    return _scalar(alias, "SELECT hypertable_size(%s::regclass)", [table]) or 0
