"""A Django database backend for libSQL servers (sqld, Turso), over Turso's `libsql` driver.

It is Django's SQLite backend with the connection swapped: the SQL, schema
editor and introspection are SQLite's, because the server runs SQLite. What
the driver does differently is handled here:

- every error is a ValueError: mapped to sqlite3's classes, so Django raises
  IntegrityError, OperationalError… as on SQLite (also on fetch, since
  RETURNING rows are read then);
- a cursor's rowcount accumulates: each statement gets a fresh driver cursor;
- parameters must be a list of plain values: %s / %(name)s placeholders and
  datetime, date, Decimal, bool values are converted;
- no client timeout, and the driver holds the GIL while it waits on the
  network: it runs in a small worker process (worker.py), which is killed
  when a call takes longer than `timeout` seconds (OperationalError);
- the server answers "database is locked" at once instead of waiting:
  statements that can safely be repeated are retried with backoff;
- the server forgets a session after an autocommit write or ~10 s idle:
  PRAGMA foreign_keys goes with each BEGIN, and an idle session that expired
  is reopened and the statement retried once, never inside a transaction;
- a connection lost to a timeout is reopened by the next statement outside
  a transaction, so a long-lived process (an agent, a worker) carries on
  once the server answers again; inside one, every statement fails until
  Django rolls back.

Not available remotely, because the server cannot call Python: Django's
SQLite user functions (date truncation/extraction, regex lookups, random
ordering, some date arithmetic). The project's own queries avoid them.
"""

import datetime
import decimal
import os
import re
import sqlite3
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.sqlite3 import base as sqlite_base
from django.db.backends.sqlite3 import creation as sqlite_creation

WORKER = str(Path(__file__).with_name("worker.py"))
FORMAT = re.compile(r"(?<!%)%s")
PYFORMAT = re.compile(r"(?<!%)%\((\w+)\)s")
# How sqld words "that session is gone" (its streams expire after ~10 s idle).
EXPIRED = ("stream expired", "stream has expired", "stream_expired", "stream not found", "baton",
           "connection closed", "broken pipe")


def _error(exc, url):
    """The sqlite3 exception matching a driver ValueError, with a one-line message.

    The driver words SQLite's errors differently inside and outside a
    transaction; both carry the SQLite code and "SQLite error: <message>".
    """
    text = str(exc).replace("\n", " ")
    sqlite_message = re.search(r"SQLite error: ([^`\"]+)", text)
    message = sqlite_message.group(1).strip() if sqlite_message else text
    if "SQLITE_CONSTRAINT" in text or "constraint failed" in message:
        return sqlite3.IntegrityError(message)
    if "401" in text or "Unauthorized" in text:
        return sqlite3.OperationalError(f"libSQL server at {url} refused the token (401 Unauthorized)")
    if "error sending request" in text or "Connection refused" in text or "tcp connect" in text:
        return sqlite3.OperationalError(f"libSQL server at {url} is not reachable: {text}")
    return sqlite3.OperationalError(message)


def _adapt(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    # Plain types only: TextChoices members and the like would not unpickle
    # in the worker, and mean nothing to the server anyway.
    for plain in (str, int, float, bytes):
        if isinstance(value, plain):
            return plain(value)
    return value


def _convert(query, params):
    """Django's %s / %(name)s placeholders and params to qmark and a list."""
    if params is None:
        return query, ()
    if isinstance(params, dict):
        names = PYFORMAT.findall(query)
        return PYFORMAT.sub("?", query).replace("%%", "%"), [_adapt(params[n]) for n in names]
    return FORMAT.sub("?", query).replace("%%", "%"), [_adapt(p) for p in params]


class Remote:
    """The driver connection, in a worker process, so a server that stops
    answering costs `timeout` seconds, not forever."""

    def __init__(self, url, auth_token, timeout):
        self.url, self.auth_token, self.timeout = url, auth_token, timeout
        self.broken = False
        self.in_transaction = False
        self.proc = None
        self._open()

    def _open(self):
        self._stop()
        self.proc = subprocess.Popen([sys.executable, WORKER, str(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        # The Connections own their descriptors; Popen's file objects let go.
        self._send = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self._recv = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.broken = False
        self.call("open", self.url, self.auth_token)

    def _stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for end in (self._send, self._recv):
            if not end.closed:
                end.close()

    def call(self, *message):
        if self.broken:
            if self.in_transaction:
                raise sqlite3.OperationalError(f"connection to libSQL server at {self.url} was lost")
            self._open()  # a timeout killed the worker; nothing was open on it
        try:
            self._send.send(message)
            if not self._recv.poll(self.timeout):
                self.broken = True
                self._stop()
                raise sqlite3.OperationalError(f"libSQL server at {self.url} did not answer within {self.timeout:g} s")
            status, value = self._recv.recv()
        except (EOFError, OSError):
            self.broken = True
            raise sqlite3.OperationalError(f"the libSQL client process for {self.url} died") from None
        if status == "error":
            raise _error(value, self.url)
        return value

    def run(self, query, params):
        """Execute and fetch everything: (description, rows, rowcount, lastrowid)."""
        # sqld answers "database is locked" at once where a local file would
        # wait on its busy timeout: wait here instead, when it is safe to
        # repeat the statement (no transaction open, or it is the BEGIN).
        waited, delay = 0.0, 0.002
        while True:
            try:
                return self._run_once(query, params)
            except sqlite3.OperationalError as e:
                retry = not self.in_transaction or query.lstrip().upper().startswith("BEGIN")
                if "database is locked" not in str(e) or not retry or waited >= self.timeout:
                    raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.1)

    def _run_once(self, query, params):
        try:
            return self.call("run", query, params)
        except sqlite3.OperationalError as e:
            if self.in_transaction or not any(s in str(e).lower() for s in EXPIRED):
                raise
            self._open()  # the server dropped an idle session
            return self.call("run", query, params)

    def run_many(self, query, param_list):
        return self.call("many", query, param_list)

    # What Django calls on a connection.
    def commit(self):
        if self.in_transaction:
            self.in_transaction = False
            if self.broken:  # the server rolls the abandoned session back
                raise sqlite3.OperationalError(f"connection to libSQL server at {self.url} was lost")
            self.run("COMMIT", ())

    def rollback(self):
        if self.in_transaction:
            self.in_transaction = False
            if not self.broken:
                self.run("ROLLBACK", ())

    def close(self):
        if self.proc is not None and self.proc.poll() is None and not self.broken:
            self._send.close()  # EOF: the worker closes its connection and exits
            try:
                self.proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                pass
        self._stop()
        self.broken = True


class Cursor:
    """A DB-API cursor over Remote, with Django's placeholder styles."""

    arraysize = 100

    def __init__(self, remote):
        self.remote = remote
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self._rows = []

    def execute(self, query, params=None):
        query, params = _convert(query, params)
        verb = query.lstrip()[:10].upper()
        self.description, rows, self.rowcount, self.lastrowid = self.remote.run(query, params)
        self._rows = list(rows or ())
        if verb.startswith("BEGIN"):
            self.remote.in_transaction = True
        elif verb.startswith(("COMMIT", "END", "ROLLBACK")) and "TO" not in query.upper():
            self.remote.in_transaction = False
        return self

    def executemany(self, query, param_list):
        param_list = list(param_list)
        if not param_list:
            return self
        query, _ = _convert(query, param_list[0])
        if isinstance(param_list[0], dict):
            names = PYFORMAT.findall(query)
            param_list = [[_adapt(p[n]) for n in names] for p in param_list]
        else:
            param_list = [[_adapt(v) for v in p] for p in param_list]
        self.description, self._rows = None, []
        self.rowcount = self.remote.run_many(query, param_list)
        return self

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size=None):
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self):
        return iter(self.fetchall())

    def close(self):
        self._rows = []


class DatabaseCreation(sqlite_creation.DatabaseCreation):
    def _create_test_db(self, verbosity, autoclobber, keepdb=False):
        raise ImproperlyConfigured(
            f"tests run on local SQLite files, never on a libSQL server ({self.connection.alias!r} is one): "
            "unset its ADT_*_DB variable for the test run"
        )


class DatabaseWrapper(sqlite_base.DatabaseWrapper):
    display_name = "libSQL"
    creation_class = DatabaseCreation

    def get_connection_params(self):
        options = self.settings_dict["OPTIONS"]
        self.transaction_mode = (options.get("transaction_mode") or "IMMEDIATE").upper()
        return {
            "url": self.settings_dict["NAME"],
            "auth_token": options.get("auth_token") or "",
            "timeout": float(options.get("timeout") or 10),
        }

    def get_new_connection(self, conn_params):
        return Remote(**conn_params)

    def init_connection_state(self):
        # Nothing to set: the server keeps no session state between
        # autocommit statements (see _start_transaction_under_autocommit).
        pass

    def create_cursor(self, name=None):
        return Cursor(self.connection)

    def _set_autocommit(self, autocommit):
        # Always autocommit; atomic() opens transactions with an explicit BEGIN.
        pass

    def is_usable(self):
        try:
            self.connection.run("SELECT 1", ())
        except sqlite3.Error:
            return False
        return not self.connection.broken

    foreign_keys = True

    def disable_constraint_checking(self):
        # Applied with the next BEGIN, like every session setting here.
        self.foreign_keys = False
        return True

    def enable_constraint_checking(self):
        self.foreign_keys = True

    def _start_transaction_under_autocommit(self):
        cursor = self.cursor()
        # A server session does not outlive an autocommit write, so the
        # setting is sent right before the BEGIN that opens the next one.
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if self.foreign_keys else 'OFF'}")
        cursor.execute(f"BEGIN {self.transaction_mode}")

    def is_in_memory_db(self):
        return False
