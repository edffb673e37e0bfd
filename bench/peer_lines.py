"""The lines of bench/peers.py: one class per queue, each driving the same
storage operations its own workers use.

Every class is used in fresh processes (a producer, the workers, a census),
so each can configure Django its own way; nothing here imports a peer until
`open()` runs. The operations:

    create()            schema, in the producer
    preload(n)          n pending tasks in the peer's own format, in bulk (untimed)
    enqueue(i)          one task, through the peer's enqueue
    claim(worker)       None when the queue is empty, [] when the attempt lost
                        a race or a lock (the worker tries again), else a list
                        of (task id, handle)
    complete(handle, worker)
    census()            (tasks still waiting, tasks recorded as finished or None
                        when the peer keeps no history)
"""

import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 10_000  # rows per executemany while preloading
AGENT = "agent{}"
PROJECT = "bench"


def utc_text(moment):
    """How Django (USE_TZ) and the seed store a datetime in SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def preload_times(n):
    """Creation times before any timed enqueue, so preloaded tasks are claimed first."""
    base = datetime.now(UTC) - timedelta(days=30)
    return (base + timedelta(microseconds=i) for i in range(n))


def insert_batches(path, sql, rows, pragmas=()):
    conn = sqlite3.connect(path)
    for pragma in pragmas:
        conn.execute(pragma)
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def count(path, sql):
    conn = sqlite3.connect(path, timeout=60)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


class Line:
    key = ""
    label = ""
    keeps = ""

    def __init__(self, folder):
        self.folder = Path(folder)

    def open(self):
        pass

    def create(self):
        pass


# This project ---------------------------------------------------------------


class ADT(Line):
    """The agents' claim and tasks.queue, Django set up from adt_admin.settings against a temporary ADT_HOME."""

    key = "adt"
    label = "ADT admin (tasks.queue)"
    keeps = "history, status, retries, priorities, an event per change"
    root = ROOT
    settings = {}

    @property
    def home(self):
        return self.folder / "adt"

    def env(self):
        return {**os.environ, **self.settings, "ADT_HOME": str(self.home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings"}

    def open(self):
        os.environ.update(self.settings, ADT_HOME=str(self.home), DJANGO_SETTINGS_MODULE="adt_admin.settings")
        sys.path.insert(0, str(self.root))
        import django

        django.setup()
        from tasks import queue

        if (self.root / "agents").is_dir():
            from agents import lifecycle
        else:  # a checkout from before the agents app
            from projects import agents as lifecycle
        self.agents, self.queue = lifecycle, queue
        # A checkout from before the agents' claim claims through the queue.
        self.claim_task = getattr(lifecycle, "claim", None) or queue.claim

    def create(self):
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0", "--skip-checks"], cwd=self.root, env=self.env(), check=True
        )
        for name in [PROJECT] + [AGENT.format(w) for w in range(64)]:
            self.agents.register(name, "/srv/bench")

    def preload(self, n):
        rows = (
            (f"{i:016x}", PROJECT, f"task {i}", "normal", "pending", utc_text(t), 0)
            for i, t in enumerate(preload_times(n))
        )
        sql = (
            "INSERT INTO tasks (id, project, description, priority, status, created_at, retry_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        insert_batches(self.home / "data" / "tasks.db", sql, rows)

    def enqueue(self, i):
        self.queue.enqueue(PROJECT, f"task {i}")

    def claim(self, worker):
        task = self.claim_task(AGENT.format(worker))
        return None if task is None else [(task.id, task)]

    def complete(self, task, worker):
        self.queue.complete(task.id, AGENT.format(worker), lease=task.started_at)

    def census(self):
        tasks = self.home / "data" / "tasks.db"
        return (
            count(tasks, "SELECT count(*) FROM tasks WHERE status = 'pending'"),
            count(tasks, "SELECT count(*) FROM tasks WHERE status = 'completed'"),
        )

    def queries(self, worker=0):
        """The SQL one enqueue, one claim and one complete run, per database."""
        from contextlib import ExitStack

        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        def capture(operation):
            with ExitStack() as stack:
                captured = {a: stack.enter_context(CaptureQueriesContext(connections[a])) for a in connections}
                result = operation()
            return result, {a: [q["sql"] for q in c.captured_queries] for a, c in captured.items()}

        _, enqueue = capture(lambda: self.enqueue(0))
        got, claim = capture(lambda: self.claim(worker))
        _, complete = capture(lambda: self.complete(got[0][1], worker))
        return {"enqueue": enqueue, "claim": claim, "complete": complete}

    def events(self):
        """Events relayed to logs.db, and events still waiting in the outbox."""
        return (
            count(self.home / "data" / "logs.db", "SELECT count(*) FROM events WHERE type LIKE 'task.%'"),
            count(self.home / "data" / "tasks.db", "SELECT count(*) FROM task_event_outbox WHERE NOT relayed"),
        )


class ADTEveryCommit(ADT):
    """This project with its events copied to logs.db after every commit (no pacing)."""

    key = "adt-every-commit"
    label = "ADT, events copied at every commit"
    settings = {"ADT_EVENT_RELAY_INTERVAL": "0"}


class ADTRelaySecond(ADT):
    key = "adt-relay-1s"
    label = "ADT, copies at most every 1 s"
    settings = {"ADT_EVENT_RELAY_INTERVAL": "1"}


class ADTBaseline(ADT):
    """Another checkout of this project (BENCH_BASELINE=path), to compare a change side by side in one run."""

    key = "adt-baseline"
    label = "ADT at BENCH_BASELINE"
    root = Path(os.environ.get("BENCH_BASELINE") or ROOT)


# Raw sqlite3: the seed's SQL -------------------------------------------------

RANK = "CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 WHEN 'low' THEN 3 ELSE 4 END"
SEED_SCHEMA = f"""
CREATE TABLE tasks (id TEXT PRIMARY KEY, project TEXT NOT NULL, description TEXT NOT NULL,
    priority TEXT DEFAULT 'normal', status TEXT DEFAULT 'pending', assigned_to TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, started_at TIMESTAMP, completed_at TIMESTAMP,
    result TEXT, error TEXT, retry_count INTEGER DEFAULT 0, metadata JSON);
CREATE INDEX idx_tasks_status ON tasks(status);
CREATE INDEX idx_tasks_project ON tasks(project);
CREATE INDEX idx_tasks_created ON tasks(created_at);
CREATE INDEX idx_tasks_claim ON tasks(status, ({RANK}), created_at);
"""
SEED_CLAIM = (
    "UPDATE tasks SET status = 'in_progress', assigned_to = ?, started_at = ? "
    f"WHERE id = (SELECT id FROM tasks WHERE status = 'pending' ORDER BY {RANK}, created_at LIMIT 1) "
    "RETURNING id"
)
SEED_COMPLETE = (
    "UPDATE tasks SET status = 'completed', completed_at = ?, result = ? "
    "WHERE id = ? AND status = 'in_progress' AND assigned_to = ?"
)


class Raw(Line):
    """Plain sqlite3 in autocommit: one statement claims, one completes."""

    key = "raw"
    label = "raw sqlite3 (seed SQL)"
    keeps = "history, status, priorities"

    @property
    def path(self):
        return self.folder / "raw.db"

    def open(self):
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def create(self):
        self.conn.executescript(SEED_SCHEMA)

    def preload(self, n):
        rows = (
            (f"{i:016x}", PROJECT, f"task {i}", "normal", "pending", utc_text(t), 0)
            for i, t in enumerate(preload_times(n))
        )
        sql = (
            "INSERT INTO tasks (id, project, description, priority, status, created_at, retry_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        insert_batches(self.path, sql, rows)

    def enqueue(self, i):
        self.conn.execute(
            "INSERT INTO tasks (id, project, description, priority, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex[:16], PROJECT, f"task {i}", "normal", "pending", utc_text(datetime.now(UTC))),
        )

    def claim(self, worker):
        now = utc_text(datetime.now(UTC))
        row = self.conn.execute(SEED_CLAIM, (AGENT.format(worker), now)).fetchone()
        return None if row is None else [(row[0], row[0])]

    def complete(self, task_id, worker):
        now = utc_text(datetime.now(UTC))
        done = self.conn.execute(SEED_COMPLETE, (now, None, task_id, AGENT.format(worker))).rowcount
        if done != 1:
            raise RuntimeError(f"task {task_id} was not in progress for {AGENT.format(worker)}")

    def census(self):
        return (
            count(self.path, "SELECT count(*) FROM tasks WHERE status = 'pending'"),
            count(self.path, "SELECT count(*) FROM tasks WHERE status = 'completed'"),
        )


class RawOnADTSchema(Raw):
    """The raw line's statements on ADT's tasks.db (its migrations: indexes,
    event triggers, pragmas), without Django and without relaying the events.
    Not a peer: it splits ADT's distance to the raw line into what the schema
    costs (raw -> this line) and what tasks.queue adds (this line -> ADT)."""

    key = "raw-adt-schema"
    label = "raw sqlite3 on ADT's schema"
    keeps = "as ADT, but its events stay in the outbox"

    home = ADT.home
    env = ADT.env
    settings = ADT.settings

    @property
    def path(self):
        return self.home / "data" / "tasks.db"

    def open(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().open()
        # What storage.databases sets on every connection, besides the above.
        self.conn.execute("PRAGMA wal_autocheckpoint=10000")

    def create(self):
        # ADT's migrations, without its agents (nothing here checks them).
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0", "--skip-checks"], cwd=ROOT, env=self.env(), check=True)

    def preload(self, n):
        ADT.preload(self, n)

    def enqueue(self, i):
        task_id, now = uuid.uuid4().hex[:16], utc_text(datetime.now(UTC))
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO tasks (id, project, description, priority, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, PROJECT, f"task {i}", "normal", "pending", now),
            )
            self.conn.execute(
                "INSERT INTO task_event_outbox (created_at, type, project, task_id, data, level) "
                "VALUES (?, 'task.created', ?, ?, '{\"status\": \"pending\"}', 'info')",
                (now, PROJECT, task_id),
            )


# huey ------------------------------------------------------------------------


class Huey(Line):
    """huey's SqliteStorage: enqueue, dequeue (+ the message (de)serialising the
    consumer does). A task returning None stores no result, so there is no
    completing write: dequeue deletes the row."""

    synchronous = None  # None: huey's default, which leaves SQLite's FULL

    keeps = "nothing once dequeued (no status, no history); priorities, retries in the message"

    @property
    def path(self):
        return self.folder / "huey.db"

    def open(self):
        from huey import SqliteHuey
        from huey.storage import SqliteStorage

        synchronous = self.synchronous

        class Storage(SqliteStorage):
            def _create_connection(self):
                conn = super()._create_connection()
                if synchronous:
                    conn.execute(f"pragma synchronous={synchronous}")
                return conn

        self.huey = SqliteHuey(PROJECT, filename=str(self.path), storage_class=Storage)
        self.noop = self.huey.task(name="noop")(noop)

    def preload(self, n):
        serialize = self.huey.serialize_task
        rows = ((PROJECT, serialize(self.noop.s(i)), 0) for i in range(n))
        insert_batches(self.path, "INSERT INTO task (queue, data, priority) VALUES (?, ?, ?)", rows)

    def enqueue(self, i):
        task = self.noop.s(i)
        self.huey.storage.enqueue(self.huey.serialize_task(task), task.priority)

    def claim(self, worker):
        task = self.huey.dequeue()
        return None if task is None else [(task.id, task)]

    def complete(self, task, worker):
        pass

    def census(self):
        return count(self.path, "SELECT count(*) FROM task"), None


class HueyFull(Huey):
    key = "huey-full"
    label = "huey SqliteStorage (default, FULL)"


class HueyNormal(Huey):
    key = "huey-normal"
    label = "huey SqliteStorage (NORMAL)"
    synchronous = "NORMAL"


def noop(i):
    return None


# Django peers ----------------------------------------------------------------

DJANGO_SQLITE_OPTIONS = {
    # The same WAL and synchronous=NORMAL this project uses; the peers'
    # docs say nothing about SQLite settings.
    "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
}


def configure_django(path, conn_max_age, apps, **extra):
    from django.conf import settings

    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(path),
                "CONN_MAX_AGE": conn_max_age,
                "OPTIONS": dict(DJANGO_SQLITE_OPTIONS),
            }
        },
        INSTALLED_APPS=apps,
        USE_TZ=True,
        SECRET_KEY="bench-only",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        **extra,
    )
    import django

    django.setup()


def migrate():
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class DjangoQ2(Line):
    """django-q2's ORM broker: enqueue, dequeue, acknowledge, with the signed
    package its async_task() makes and its pusher unpacks."""

    conn_max_age = 0
    keeps = "nothing in the broker once acknowledged (results go to its Task table from the monitor, not measured)"

    # The ORM broker example of django-q2's docs (brokers page); its workers
    # and queue_limit size the cluster, which is not measured here.
    Q_CLUSTER = {"name": PROJECT, "timeout": 90, "retry": 120, "bulk": 10, "orm": "default"}

    @property
    def path(self):
        return self.folder / "q2.db"

    def open(self):
        configure_django(self.path, self.conn_max_age, ["django_q"], Q_CLUSTER=dict(self.Q_CLUSTER))
        from django.utils import timezone
        from django_q.brokers import get_broker
        from django_q.humanhash import uuid as tag
        from django_q.signing import SignedPackage

        self.broker = get_broker()
        self.timezone, self.tag, self.signed = timezone, tag, SignedPackage

    def create(self):
        migrate()

    def package(self, i):
        """What async_task() builds and signs."""
        name, task_id = self.tag()
        task = {"id": task_id, "name": name, "func": "bench.peer_lines.noop", "args": (i,), "kwargs": {}}
        task["started"] = self.timezone.now()
        return self.signed.dumps(task)

    def preload(self, n):
        from django_q.models import OrmQ

        lock = utc_text(datetime.now(UTC) - timedelta(days=30))
        rows = ((PROJECT, self.package(i), lock) for i in range(n))
        insert_batches(self.path, f"INSERT INTO {OrmQ._meta.db_table} (key, payload, lock) VALUES (?, ?, ?)", rows)

    def enqueue(self, i):
        self.broker.enqueue(self.package(i))

    def claim(self, worker):
        got = self.broker.dequeue()
        if got is None:
            return None
        return [(self.signed.loads(payload)["id"], ack_id) for ack_id, payload in got]

    def complete(self, ack_id, worker):
        self.broker.acknowledge(ack_id)

    def census(self):
        from django_q.models import OrmQ

        return count(self.path, f"SELECT count(*) FROM {OrmQ._meta.db_table}"), None


class DjangoQ2Default(DjangoQ2):
    key = "q2-default"
    label = "django-q2 ORM (CONN_MAX_AGE=0)"


class DjangoQ2Persistent(DjangoQ2):
    key = "q2-persistent"
    label = "django-q2 ORM (persistent conn)"
    conn_max_age = None


class TasksDB(Line):
    """django-tasks-db: the backend's enqueue; the claim and completion its
    db_worker runs (its loop body, close_old_connections() included)."""

    conn_max_age = 0
    keeps = "history, status, priorities, return values (no retries)"

    @property
    def path(self):
        return self.folder / "tasksdb.db"

    def open(self):
        configure_django(
            self.path,
            self.conn_max_age,
            ["django_tasks", "django_tasks_db"],
            TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}},
        )
        from django.db import close_old_connections
        from django.db.utils import OperationalError
        from django_tasks_db.models import DBTaskResult
        from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

        from bench.peer_tasks import noop as task

        self.task = task
        self.model = DBTaskResult
        self.close_old_connections = close_old_connections
        self.exclusive_transaction = exclusive_transaction
        self.is_locked = is_locked_database_exception
        self.OperationalError = OperationalError

    def create(self):
        migrate()

    def preload(self, n):
        table = self.model._meta.db_table
        run_after = utc_text(datetime(9999, 1, 1))  # get_date_max(): "run as soon as possible"
        rows = (
            (uuid.uuid4().hex, "READY", utc_text(t), f'{{"args": [{i}], "kwargs": {{}}}}', 0,
             self.task.module_path, "[]", "default", "default", run_after, "", "")
            for i, t in enumerate(preload_times(n))
        )
        sql = (
            f"INSERT INTO {table} (id, status, enqueued_at, args_kwargs, priority, task_path, worker_ids, "
            "queue_name, backend_name, run_after, exception_class_path, traceback) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        insert_batches(self.path, sql, rows)

    def enqueue(self, i):
        self.task.enqueue(i)

    def claim(self, worker):
        # db_worker's Worker.run(), one turn of its loop.
        self.close_old_connections()
        tasks = self.model.objects.ready().filter(backend_name="default").filter(queue_name__in=["default"])
        with self.exclusive_transaction(tasks.db):
            try:
                result = tasks.get_locked()
                if result is not None:
                    result.claim(AGENT.format(worker))
            except self.OperationalError as e:
                if not self.is_locked(e):
                    raise
                return []
        return None if result is None else [(str(result.id), result)]

    def complete(self, result, worker):
        result.set_successful(None)
        self.close_old_connections()

    def census(self):
        table = self.model._meta.db_table
        return (
            count(self.path, f"SELECT count(*) FROM {table} WHERE status = 'READY'"),
            count(self.path, f"SELECT count(*) FROM {table} WHERE status = 'SUCCESSFUL'"),
        )


class TasksDBDefault(TasksDB):
    key = "tasksdb-default"
    label = "django-tasks-db (CONN_MAX_AGE=0)"


class TasksDBPersistent(TasksDB):
    key = "tasksdb-persistent"
    label = "django-tasks-db (persistent conn)"
    conn_max_age = None


LINES = {
    cls.key: cls
    for cls in [
        ADT, ADTEveryCommit, ADTRelaySecond, ADTBaseline, Raw, RawOnADTSchema, HueyFull, HueyNormal, DjangoQ2Default, DjangoQ2Persistent, TasksDBDefault, TasksDBPersistent
    ]
}
