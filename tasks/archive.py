"""Moving old finished tasks out of tasks.db into monthly archive files.

A finished task's age is its completed_at, or its created_at when it has no
completed_at. Tasks older than the cutoff go to ADT_ARCHIVE_DIR/tasks-YYYY-MM.db
by the month of that date (tasks-undated.db when it is not a date): plain
SQLite files with the same `tasks` table, readable by any SQLite tool.
Unfinished tasks are never touched, nor a finished one that an unfinished
task still waits for (tasks.dependencies); the dependencies of a task that
leaves go with it.

The run reads eligible rows in rounds (ROUND batches at a time) and for each:
1. writes the ids it is about to move, per file, to a journal (in-flight.json),
2. copies the rows into their archive files (INSERT OR REPLACE, one commit
   per file: a round spans many months, and each commit costs fsyncs),
3. deletes them from tasks.db a batch at a time, each batch one short
   transaction that deletes only the rows still equal to their archived copy,
4. removes from the archive the copies of rows that changed meanwhile (a
   failed task retried, say: the live row is the truth), drops the journal.
A run killed anywhere leaves at most one journal; the next run starts by
doing steps 3 and 4 for it. So every task ends up in exactly one place, and
only step 3 holds tasks.db's write lock, one batch at a time: claims wait
for one batch at most.
"""

import fcntl
import json
import os
import re
import time
from contextlib import contextmanager
from datetime import UTC, timedelta

from django.conf import settings
from django.utils import timezone

from common.errors import Conflict, InvalidInput
from common.maintenance import check_batch_size, check_days
from events import feed
from storage import hub, localdb
from tasks.models import FINISHED, UNFINISHED

TASKS = "tasks"
# Rows per batch. tasks.db's write lock is held to delete one batch, so it is
# small enough for claims to cut in between (bench/archive.py).
BATCH_SIZE = 500
# Batches per round: the rows copied to the archive files per commit.
ROUND = 20
JOURNAL = "in-flight.json"
# A finished task's age, in SQL: when it finished, else when it was created.
AGE = "COALESCE(completed_at, created_at)"
MONTH = re.compile(r"\d{4}-\d{2}")
# Ids per `IN (…)`; far below SQLite's limit on bound parameters.
CHUNK = 500


# Validation ---------------------------------------------------------------


def check_statuses(statuses):
    """A tuple of finished statuses from a list or a comma-separated string."""
    if isinstance(statuses, str):
        statuses = statuses.split(",")
    names = [s.strip() for s in statuses if s and s.strip()]
    if not names:
        raise InvalidInput("--status needs at least one of completed, failed, cancelled")
    for name in names:
        if name in UNFINISHED:
            raise InvalidInput(f"{name} tasks are never archived (choose from completed, failed, cancelled)")
        if name not in FINISHED:
            raise InvalidInput(f"unknown status {name!r} (choose from completed, failed, cancelled)")
    return tuple(s.value for s in FINISHED if s in names)


def archive_name(age):
    """The archive file of a task finished (or created) at `age`, as stored."""
    month = str(age)[:7] if age is not None else ""
    return f"tasks-{month if MONTH.fullmatch(month) else 'undated'}.db"


# The run ------------------------------------------------------------------


@hub.one_at_a_time("archive_tasks", unless="dry_run")
def archive(older_than, statuses=FINISHED, *, delete=False, dry_run=False, batch_size=BATCH_SIZE, progress=None):
    """Archive (or with `delete`, drop) finished tasks older than `older_than` days.

    `progress(done, total)` is called after each round. Returns a summary dict;
    a real run also writes it as one `tasks.archived` event.
    """
    days = check_days(older_than)
    statuses = check_statuses(statuses)
    batch_size = check_batch_size(batch_size)
    started = time.monotonic()
    cutoff = timezone.now() - timedelta(days=days)
    conn = localdb.connect(TASKS)
    try:
        run = _Run(conn, statuses, cutoff)
        by_file = run.count_by_file()
        summary = {
            "mode": "delete" if delete else "archive",
            "dry_run": dry_run,
            "older_than_days": days,
            "cutoff": cutoff.isoformat(),
            "statuses": list(statuses),
            "archive_dir": str(run.dir),
            "matched": sum(by_file.values()),
            "archived": 0,
            "deleted": 0,
            "recovered": 0,
            "skipped": 0,
            "batches": 0,
            "files": {} if delete else by_file,
            "freed_bytes": 0,
            "longest_batch_ms": 0,
        }
        if dry_run:
            return _timed(summary, started)
        with run.locked():
            # What an interrupted run left half done comes first.
            summary["files"], summary["skipped"], summary["batches"] = run.settle(batch_size)
            summary["recovered"] = sum(summary["files"].values())
            for rows in run.rounds(batch_size * ROUND):
                if delete:
                    deleted, batches = run.drop(rows, batch_size)
                    summary["deleted"] += deleted
                else:
                    moved, skipped, batches = run.move(rows, batch_size)
                    for name, count in moved.items():
                        summary["files"][name] = summary["files"].get(name, 0) + count
                    summary["archived"] += sum(moved.values())
                    summary["skipped"] += skipped
                summary["batches"] += batches
                if progress:
                    progress(summary["archived"] + summary["deleted"] + summary["skipped"], summary["matched"])
        summary["longest_batch_ms"] = round(max(run.holds, default=0) * 1000, 1)
    finally:
        conn.close()
    if summary["archived"] or summary["deleted"] or summary["recovered"]:
        summary["freed_bytes"] = localdb.reclaim(TASKS)
    _timed(summary, started)
    feed.record("tasks.archived", data={k: v for k, v in summary.items() if k != "dry_run"})
    return summary


def _timed(summary, started):
    seconds = time.monotonic() - started
    summary["seconds"] = round(seconds, 3)
    done = summary["archived"] + summary["deleted"]
    summary["rows_per_second"] = round(done / seconds) if seconds > 0 else 0
    return summary


class _Run:
    """One archive run: tasks.db's connection, the archive files, the journal."""

    def __init__(self, conn, statuses, cutoff):
        self.conn = conn
        self.dir = settings.ADT_ARCHIVE_DIR
        self.columns = [row[1] for row in conn.execute("PRAGMA table_info(tasks)")]
        if not self.columns:
            raise InvalidInput("tasks.db has no tasks table (run `python manage.py migrate`)")
        self.quoted = ", ".join(f'"{c}"' for c in self.columns)
        self.completed, self.created = self.columns.index("completed_at"), self.columns.index("created_at")
        # Stored datetimes are UTC text; the cutoff is compared in the same form.
        self.where = f"status IN ({_marks(statuses)}) AND {AGE} < ?"
        self.params = [*statuses, str(timezone.make_naive(cutoff, UTC))]
        self.edges = bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'task_dependencies'").fetchone())
        if self.edges:
            self.where += (
                " AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks w ON w.id = d.task_id"
                f" WHERE d.after_id = tasks.id AND w.status IN ({_marks(UNFINISHED)}))"
            )
            self.params += list(UNFINISHED)
        self.archives = {}
        self.holds = []  # seconds tasks.db's write lock was held, per batch

    def age(self, row):
        return row[self.completed] if row[self.completed] is not None else row[self.created]

    def count_by_file(self):
        counts = {}
        query = f"SELECT substr({AGE}, 1, 7), COUNT(*) FROM tasks WHERE {self.where} GROUP BY 1"
        for month, count in self.conn.execute(query, self.params):
            name = archive_name(month)
            counts[name] = counts.get(name, 0) + count
        return dict(sorted(counts.items()))

    def rounds(self, size):
        """Eligible rows in rowid order, `size` at a time, read without any lock (WAL readers never block).

        NOT INDEXED: walking the table in rowid order is one pass over it;
        idx_tasks_status would find every remaining row again and sort them
        for each round.
        """
        last = 0
        query = f"SELECT rowid, {self.quoted} FROM tasks NOT INDEXED WHERE rowid > ? AND {self.where} ORDER BY rowid LIMIT ?"
        while rows := self.conn.execute(query, [last, *self.params, size]).fetchall():
            last = rows[-1][0]
            yield [row[1:] for row in rows]

    # Dropping ------------------------------------------------------------

    def drop(self, rows, batch_size):
        """Delete these rows, a batch per transaction, if they are still eligible.

        Returns (rows deleted, batches).
        """
        dropped = batches = 0
        for ids in _chunks([row[0] for row in rows], batch_size):
            with self._batch():
                for part in _chunks(ids):
                    dropped += self.conn.execute(
                        f"DELETE FROM tasks WHERE id IN ({_marks(part)}) AND {self.where}", [*part, *self.params]
                    ).rowcount
                self._forget_edges(ids)
            batches += 1
        return dropped, batches

    # Archiving -----------------------------------------------------------

    def move(self, rows, batch_size):
        started = time.monotonic()
        archived = self.copy(rows)
        # Copying holds no lock of tasks.db, but it takes CPU and disk from the
        # agents all the same (two cores are common): rest as long.
        time.sleep((time.monotonic() - started) * localdb.PAUSE)
        return self.settle(batch_size, archived)

    def copy(self, rows):
        """Steps 1 and 2: the journal, then the rows in their archive files."""
        groups = {}
        for row in rows:
            groups.setdefault(archive_name(self.age(row)), []).append(row)
        self._write_journal({name: [row[0] for row in group] for name, group in groups.items()})
        insert = f"INSERT OR REPLACE INTO tasks ({self.quoted}) VALUES ({_marks(self.columns)})"
        for name, group in groups.items():
            db = self._archive(name)
            with _write(db):
                db.executemany(insert, group)
        return groups

    def settle(self, batch_size, archived=None):
        """Steps 3 and 4 for the round in the journal, whose archived copies are
        `archived` ({file: rows}) when this run just wrote them, else read back.

        Returns ({archive file: rows moved}, rows left live because they changed, batches).
        """
        journal = self.dir / JOURNAL
        if archived is None:
            try:
                inflight = json.loads(journal.read_text())
            except FileNotFoundError:
                return {}, 0, 0
            archived = {}
            for name, ids in inflight.items():
                if (self.dir / name).exists():  # else killed before writing to it
                    db = self._archive(name)
                    archived[name] = [
                        row for part in _chunks(ids)
                        for row in db.execute(f"SELECT {self.quoted} FROM tasks WHERE id IN ({_marks(part)})", part)
                    ]
        # Only a row equal to its archived copy in every column goes.
        same = " AND ".join(['"id" = ?'] + [f'"{c}" IS ?' for c in self.columns[1:]])
        live, batches = set(), 0
        for rows in _chunks([row for group in archived.values() for row in group], batch_size):
            with self._batch():
                self.conn.executemany(f"DELETE FROM tasks WHERE {same}", rows)
                ids = [row[0] for row in rows]
                live.update(r[0] for part in _chunks(ids) for r in self.conn.execute(f"SELECT id FROM tasks WHERE id IN ({_marks(part)})", part))
                self._forget_edges(ids)
            batches += 1
        moved = {}
        for name, group in archived.items():
            changed = [row[0] for row in group if row[0] in live]
            if changed:
                db = self._archive(name)
                with _write(db):
                    for part in _chunks(changed):
                        db.execute(f"DELETE FROM tasks WHERE id IN ({_marks(part)})", part)
            if len(group) > len(changed):
                moved[name] = len(group) - len(changed)
        journal.unlink()
        return moved, len(live), batches

    def _forget_edges(self, ids):
        """The dependencies of those of `ids` no longer in tasks.db (what they waited for)."""
        if self.edges:
            for part in _chunks(ids):
                self.conn.execute(
                    f"DELETE FROM task_dependencies WHERE task_id IN ({_marks(part)})"
                    " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = task_dependencies.task_id)", part)

    def _write_journal(self, batch):
        # Written aside, flushed, renamed: the journal is whole or absent, and
        # on disk before any archive file can hold rows of its batch.
        journal = self.dir / JOURNAL
        tmp = journal.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(batch, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, journal)
        _fsync_dir(self.dir)

    def _archive(self, name):
        """An archive file's connection, the file created with tasks.db's own `tasks` schema."""
        if name in self.archives:
            return self.archives[name]
        db = localdb.open_file(self.dir / name)
        # A rollback journal and a full fsync per commit: the file stands
        # alone when closed, and a commit here is on disk before step 3 runs.
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=FULL")
        with _write(db):
            existing = [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
            if not existing:
                # The table and its indexes; not triggers, which write to tables an archive lacks.
                for (sql,) in self.conn.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'tasks' AND type IN ('table', 'index') AND sql IS NOT NULL "
                    "ORDER BY type = 'index'"
                ):
                    db.execute(sql)
            else:
                # A file from before a migration that added columns to tasks.
                types = {row[1]: row[2] for row in self.conn.execute("PRAGMA table_info(tasks)")}
                for column in self.columns:
                    if column not in existing:
                        db.execute(f'ALTER TABLE tasks ADD COLUMN "{column}" {types[column]}')
        self.archives[name] = db
        return db

    @contextmanager
    def _batch(self):
        """One batch's tasks.db transaction, then localdb.breathe()."""
        self.conn.execute("BEGIN IMMEDIATE")
        locked = time.monotonic()
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        held = time.monotonic() - locked
        self.holds.append(held + localdb.breathe(self.conn, held))

    @contextmanager
    def locked(self):
        """One run at a time per archive directory (the journal is per directory)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(f"another archive_tasks run is using {self.dir}; try again when it ends") from None
            try:
                yield
            finally:
                for db in self.archives.values():
                    db.close()
                self.archives.clear()


@contextmanager
def _write(conn):
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _chunks(items, size=CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(items):
    return ", ".join("?" * len(items))


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
