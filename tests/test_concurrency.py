"""Many agent processes on one queue: claimed once, never lost, never completed twice."""

import random
import signal
import subprocess
import time
from collections import Counter

import pytest

from tests.support import PYTHON  # noqa: F401

pytestmark = pytest.mark.slow


def load(adt, count, project="work", agents=(), max_retries=1000):
    """Register the project and agents, then enqueue `count` tasks in bulk (one process)."""
    config = f'{{"max_retries": {max_retries}}}'
    assert adt.manage("register_project", project, "/srv/work", "--config", config).returncode == 0
    for name in agents:
        assert adt.manage("register_project", name, f"/srv/{name}").returncode == 0
    script = (
        "from tasks import queue\n"
        f"for i in range({count}): queue.enqueue({project!r}, f'task {{i}}', ['urgent','high','normal','low'][i % 4])\n"
    )
    result = adt.manage("shell", "-c", script, timeout=600)
    assert result.returncode == 0, result.stderr


def start_agent(adt, name, project="work", work_ms=0, seed=0):
    return adt.popen("tests/actors.py", "agent", name, "--project", project, "--work-ms", work_ms, "--seed", seed,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outputs(procs, timeout=300):
    lines = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode not in (0, -signal.SIGKILL):
            raise AssertionError(f"agent exited {proc.returncode}: {err}")
        lines += [line.split() for line in out.splitlines() if line.strip()]
    return lines


def per_task_events(adt):
    counts = Counter()
    for task_id, type_, n in adt.sql("logs", "SELECT task_id, type, COUNT(*) FROM events WHERE task_id IS NOT NULL GROUP BY task_id, type"):
        counts[task_id, type_] = n
    return counts


def assert_every_change_has_its_event(adt, ids):
    events = per_task_events(adt)
    for task_id in ids:
        assert events[task_id, "task.created"] == 1
        assert events[task_id, "task.completed"] == 1, task_id
        # Every claim ends in exactly one completion or one requeue.
        assert events[task_id, "task.claimed"] == events[task_id, "task.requeued"] + 1, task_id
    assert adt.scalar("tasks", "SELECT COUNT(*) FROM task_event_outbox WHERE NOT relayed") == 0


def test_eight_processes_empty_the_queue_each_task_claimed_exactly_once(adt):
    names = [f"agent{i}" for i in range(8)]
    load(adt, 1200, agents=names)
    ids = {i for (i,) in adt.sql("tasks", "SELECT id FROM tasks")}
    lines = outputs([start_agent(adt, name) for name in names])
    claimed = Counter(task_id for verb, task_id in lines if verb == "claimed")
    completed = [task_id for verb, task_id in lines if verb == "completed"]
    assert set(claimed) == ids
    assert max(claimed.values()) == 1, "a task was claimed twice"
    assert sorted(completed) == sorted(ids)
    assert adt.sql("tasks", "SELECT status, COUNT(*) FROM tasks GROUP BY status") == [("completed", 1200)]
    assert_every_change_has_its_event(adt, ids)
    # More than one agent really took part.
    assert len({row[0] for row in adt.sql("tasks", "SELECT assigned_to FROM tasks")}) > 1


def test_a_reaper_racing_completions_never_lets_a_task_complete_twice(adt):
    """With threshold 0 the reaper treats the agent as dead at every instant,
    so requeues land between claim and complete all the time."""
    load(adt, 200, agents=["racer", "other"])
    ids = {i for (i,) in adt.sql("tasks", "SELECT id FROM tasks")}
    reaper = adt.popen("tests/actors.py", "reaper", "--threshold", "0", "--for", "30", stdout=subprocess.PIPE, text=True)
    lines = outputs([start_agent(adt, "racer", work_ms=40, seed=1), start_agent(adt, "other", work_ms=40, seed=2)])
    reaper.terminate()
    reaper.communicate(timeout=60)
    verbs = Counter(verb for verb, _ in lines)
    completed = Counter(task_id for verb, task_id in lines if verb == "completed")
    assert verbs["fenced"] > 0, "the race never happened; the test proves nothing"
    assert set(completed) == ids and max(completed.values()) == 1
    assert adt.sql("tasks", "SELECT status, COUNT(*) FROM tasks GROUP BY status") == [("completed", 200)]
    assert_every_change_has_its_event(adt, ids)


def test_agents_killed_at_random_moments_lose_no_task_and_double_none(adt):
    rng = random.Random(4242)
    first = [f"a{i}" for i in range(6)]
    spare = [f"b{i}" for i in range(3)]
    # Enough work that the last kill lands seconds before the queue is empty.
    load(adt, 1500, agents=first + spare)
    ids = {i for (i,) in adt.sql("tasks", "SELECT id FROM tasks")}
    # A living agent beats every few tens of ms; 3 s of silence is death even
    # on a loaded machine (if a slow living one is reaped anyway, it is fenced
    # and its task completed by another: the assertions still hold).
    threshold = 3
    reaper = adt.popen("tests/actors.py", "reaper", "--threshold", threshold, "--for", "180", stdout=subprocess.PIPE, text=True)
    procs = {name: start_agent(adt, name, work_ms=30, seed=i) for i, name in enumerate(first)}
    victims = rng.sample(first, 3)
    marks = ",".join("?" * len(victims))
    # Start-up takes seconds on a loaded machine; kill agents that have begun.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and adt.scalar("main", "SELECT COUNT(*) FROM agents WHERE last_heartbeat IS NOT NULL") < len(first):
        time.sleep(0.05)
    for n, victim in enumerate(victims):
        time.sleep(rng.uniform(0.5, 2.0))
        # The first dies at a purely random moment; the others while they hold
        # a task, so some work surely has to be taken back.
        deadline = time.monotonic() + 5
        while n and time.monotonic() < deadline and not adt.scalar(
            "tasks", "SELECT COUNT(*) FROM tasks WHERE status='in_progress' AND assigned_to=?", (victim,)
        ):
            time.sleep(0.002)
        assert procs[victim].poll() is None, f"{victim} finished before it could be killed; give the agents more work"
        procs[victim].send_signal(signal.SIGKILL)
    last_kill = time.monotonic()
    procs.update({name: start_agent(adt, name, work_ms=30, seed=10 + i) for i, name in enumerate(spare)})
    lines = outputs(procs.values())
    # The living may finish before the last victim has been silent for the
    # threshold (it can die holding nothing); cron would find it a moment later.
    deadline = last_kill + threshold + 30
    while time.monotonic() < deadline and adt.scalar(
        "main", f"SELECT COUNT(*) FROM agents WHERE status='stale' AND project IN ({marks})", victims
    ) < len(victims):
        time.sleep(0.1)
    reaper.send_signal(signal.SIGTERM)
    reaper.communicate(timeout=30)

    # A killed agent may have completed a task and died before saying so; the
    # database and the events are the record.
    said_completed = Counter(task_id for verb, task_id in lines if verb == "completed")
    assert max(said_completed.values()) == 1 and set(said_completed) <= ids
    assert adt.sql("tasks", "SELECT status, COUNT(*) FROM tasks GROUP BY status") == [("completed", 1500)]
    assert_every_change_has_its_event(adt, ids)

    # The dead were found out, and what they held was finished by the living.
    stale = {name for (name,) in adt.sql("main", "SELECT project FROM agents WHERE status='stale'")}
    assert set(victims) <= stale
    taken_back = adt.sql("logs", f"SELECT task_id, agent FROM events WHERE type='task.requeued' AND agent IN ({marks})", victims)
    assert taken_back, "no killed agent held a task; the test proves nothing"
    finisher = dict(adt.sql("tasks", "SELECT id, assigned_to FROM tasks"))
    assert all(finisher[task_id] != dead for task_id, dead in taken_back)
    assert {a for (a,) in adt.sql("logs", "SELECT agent FROM events WHERE type='agent.stale'")} >= set(victims)


def test_agents_killed_and_restarted_at_once_strand_no_task(adt):
    """A restarted agent beats again at once, so it never looks dead: only the
    tasks' time limit takes back what its previous life held."""
    rng = random.Random(1919)
    names = [f"r{i}" for i in range(4)]
    assert adt.manage("register_project", "work", "/srv/work", "--config", '{"max_retries": 1000, "task_timeout": 2}').returncode == 0
    for name in names:
        assert adt.manage("register_project", name, f"/srv/{name}").returncode == 0
    script = "from tasks import queue\nfor i in range(80): queue.enqueue('work', f'task {i}')\n"
    assert adt.manage("shell", "-c", script).returncode == 0
    ids = {i for (i,) in adt.sql("tasks", "SELECT id FROM tasks")}
    reaper = adt.popen("tests/actors.py", "reaper", "--threshold", "30", "--for", "240", stdout=subprocess.PIPE, text=True)
    procs = {name: start_agent(adt, name, work_ms=400, seed=i) for i, name in enumerate(names)}
    finished = []
    kills, deadline = 0, time.monotonic() + 180

    def unfinished():
        return adt.scalar("tasks", "SELECT COUNT(*) FROM tasks WHERE status != 'completed'")

    def holds_a_task(name):
        return adt.scalar("tasks", "SELECT COUNT(*) FROM tasks WHERE assigned_to = ? AND status = 'in_progress'", (name,))

    while time.monotonic() < deadline and kills < 12 and unfinished() > 8:
        name = rng.choice(names)
        # Killed while it holds a task (however slowly this machine starts it), at a random moment of that work.
        while not holds_a_task(name) and procs[name].poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        if procs[name].poll() is None:
            procs[name].send_signal(signal.SIGKILL)
            kills += 1
        finished.append(procs[name])
        procs[name] = start_agent(adt, name, work_ms=400, seed=100 + kills)
    lines = outputs(finished + list(procs.values()), timeout=240)
    reaper.terminate()
    reaper_lines = reaper.communicate(timeout=60)[0].splitlines()
    # Events a killed agent committed but did not copy: the next cron round takes them.
    assert adt.manage("reap_stale_agents").returncode == 0

    assert kills >= 6, "too few kills; the test proves little"
    assert adt.sql("tasks", "SELECT status, COUNT(*) FROM tasks GROUP BY status") == [("completed", 80)]
    said_completed = Counter(task_id for verb, task_id in lines if verb == "completed")
    assert set(said_completed) <= ids and max(said_completed.values()) == 1
    assert_every_change_has_its_event(adt, ids)
    assert adt.scalar("main", "SELECT COUNT(*) FROM main_event_outbox WHERE NOT relayed") == 0
    timed_out = adt.sql("logs", "SELECT COUNT(*) FROM events WHERE type = 'task.requeued' AND json_extract(data, '$.reason') = 'timeout'")
    assert timed_out[0][0] > 0 and any(line.startswith("timed-out") for line in reaper_lines), "no task timed out"
    assert adt.scalar("main", "SELECT COUNT(*) FROM agents WHERE status = 'stale'") == 0
