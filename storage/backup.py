"""Online backups of the three databases: consistent copies taken while agents write.

Each file is copied with SQLite's backup API in one step, which reads the
source in one read transaction: the copy is the database as of one commit,
and under WAL the writers carry on meanwhile. Each copy is switched to a
rollback journal (one self-contained file), must pass PRAGMA
integrity_check, and only then gets its final name.

The three files cannot be copied at one instant, so the order is chosen:
main.db and tasks.db before logs.db. Their outboxes hold events not yet
copied into logs.db; an event relayed between two copies is then still in
the earlier copy's outbox, and logs.db's relay receipts keep it from being
copied twice after a restore. The other order could lose it.
"""

import os
import sqlite3
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from common.errors import ADTError, InvalidInput
from storage import localdb

FILES = (("default", "main.db"), ("tasks", "tasks.db"), ("logs", "logs.db"))


class BackupFailed(ADTError):
    pass


def backup(to=None):
    """Copy every database into directory `to` (default ADT_BACKUP_DIR/YYYYmmdd-HHMMSS). Returns a summary."""
    sources = [(alias, name, localdb.path(alias)) for alias, name in FILES]  # a remote database is refused here
    for alias, _, source in sources:
        if not source.exists():
            raise InvalidInput(f"no database {alias!r} at {source} (run `python manage.py migrate`)")
    started_at = timezone.now()
    dest = Path(to).expanduser() if to else settings.ADT_BACKUP_DIR / started_at.strftime("%Y%m%d-%H%M%S")
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a directory")
    taken = [name for _, name, _ in sources if (dest / name).exists()]
    if taken:
        raise InvalidInput(f"{dest} already holds {', '.join(taken)}; back up into a new directory")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    files = []
    try:
        for alias, name, _ in sources:
            files.append(_copy(alias, dest / name))
    except BaseException:
        # No partial backup that looks whole: remove what this run wrote.
        for done in files:
            Path(done["file"]).unlink(missing_ok=True)
        if created and not any(dest.iterdir()):
            dest.rmdir()
        raise
    return {
        "dir": str(dest),
        "started_at": started_at.isoformat(),
        "seconds": round(time.monotonic() - started, 3),
        "files": files,
    }


def _copy(alias, target):
    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)
    try:
        source = localdb.connect(alias)
        try:
            copy = sqlite3.connect(part, isolation_level=None)
            try:
                source.backup(copy)  # every page in one step: one consistent snapshot
                copy.execute("PRAGMA journal_mode=DELETE")
                problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
                if problems != ["ok"]:
                    raise BackupFailed(f"the copy of {alias!r} failed integrity_check: {problems[0]}")
                rows = {
                    table: copy.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                    for (table,) in copy.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
                    )
                }
            finally:
                copy.close()
        finally:
            source.close()
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return {"database": alias, "file": str(target), "bytes": target.stat().st_size, "integrity": "ok", "rows": rows}
