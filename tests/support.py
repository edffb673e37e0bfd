"""Helpers for tests that drive ADT as a user does: real processes, real files."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def environment(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADT_", "DJANGO_"))}
    env.update({"ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings", "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Result:
    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"<Result {self.returncode} stdout={self.stdout!r} stderr={self.stderr!r}>"


class ADT:
    """One ADT_HOME, with its three migrated databases."""

    def __init__(self, home, env=None):
        self.home = Path(home)
        self.extra_env = env or {}

    @property
    def env(self):
        return environment(self.home, **self.extra_env)

    def manage(self, *args, timeout=120, input=None):
        proc = subprocess.run(
            [PYTHON, "manage.py", *map(str, args)],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, input=input,
        )
        return Result(proc)

    def popen(self, *args, **kwargs):
        return subprocess.Popen([PYTHON, *map(str, args)], cwd=ROOT, env=self.env, **kwargs)

    def path(self, db):
        return self.home / "data" / f"{db}.db"

    def sql(self, db, query, params=()):
        with sqlite3.connect(self.path(db), timeout=30) as conn:
            return conn.execute(query, params).fetchall()

    def scalar(self, db, query, params=()):
        return self.sql(db, query, params)[0][0]

    def snapshot(self):
        """Every row of every table of the three files: to prove nothing was written."""
        out = {}
        for db in ("main", "tasks", "logs"):
            with sqlite3.connect(self.path(db)) as conn:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
                for table in tables:
                    out[f"{db}.{table}"] = sorted(map(repr, conn.execute(f'SELECT * FROM "{table}"')))
        return out


class InProcess:
    """The commands run in the test process by call_command, on the test
    databases, for tests where the process boundary does not matter; the same
    interface as ADT. `subprocess` runs one as a real process on the same
    files (for exit status 2, which only argparse's own exit gives)."""

    ALIASES = {"main": "default", "tasks": "tasks", "logs": "logs"}

    def manage(self, *args, input=None):
        from io import StringIO

        from django.core.management import CommandError, call_command

        from events import relay

        out, err = StringIO(), StringIO()
        returncode = 0
        try:
            call_command(*map(str, args), stdout=out, stderr=err)
        except CommandError as e:
            returncode = e.returncode
            err.write(f"error: {e}\n")
        except SystemExit as e:
            returncode = e.code
        finally:
            relay.flush()  # what the end of a command's process does
        return Result(subprocess.CompletedProcess(args, returncode, out.getvalue(), err.getvalue()))

    def path(self, db):
        from django.db import connections

        return Path(connections[self.ALIASES[db]].settings_dict["NAME"])

    @property
    def env(self):
        paths = {"ADT_MAIN_DB": self.path("main"), "ADT_TASKS_DB": self.path("tasks"), "ADT_LOGS_DB": self.path("logs")}
        return environment(self.path("main").parent, **paths)

    def subprocess(self, *args, timeout=120):
        proc = subprocess.run(
            [PYTHON, "manage.py", *map(str, args)],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )
        return Result(proc)

    def popen(self, *args, **kwargs):
        return subprocess.Popen([PYTHON, *map(str, args)], cwd=ROOT, env=self.env, **kwargs)

    sql = ADT.sql
    scalar = ADT.scalar
    snapshot = ADT.snapshot
