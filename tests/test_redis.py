"""Redis (ADT_REDIS_URL): waiting claims woken at once, events fanned out, one runner per lock.

Against the machine's Redis with a key prefix per test, and, where a test
kills or freezes Redis, a redis-server of its own. Every waiter here trusts
Redis for a long time (ADT_REDIS_SAFETY_POLL=60) so that only a wake-up can
explain a quick claim; the fault tests show the safety net instead.
"""

import json
import signal
import subprocess
import time
import uuid

import pytest

from tests.servers import MACHINE_REDIS, RedisServer, free_port, machine_redis

# A wake-up, or the polling fallback, takes well under a second, but a
# process here may take seconds to start or exit when the machine is busy. A
# waiter that missed its wake-up would take its whole wait (30 s).
QUICK = 10.0


@pytest.fixture
def redis_client():
    return machine_redis()


@pytest.fixture
def prefix(redis_client):
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    for key in redis_client.scan_iter(f"{prefix}*"):
        redis_client.delete(key)


@pytest.fixture
def home(adt, prefix):
    adt.extra_env = {"ADT_REDIS_URL": MACHINE_REDIS, "ADT_REDIS_PREFIX": prefix, "ADT_REDIS_SAFETY_POLL": 60}
    for name in ("web", "api"):
        assert adt.manage("register_project", name, adt.home).returncode == 0
    return adt


def listening(client, prefix, timeout=20):
    """Wait until a process of this test has subscribed to a channel."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in client.client_list():
            if entry.get("name", "").startswith(prefix) and (int(entry.get("sub", 0)) or int(entry.get("psub", 0))):
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no process with prefix {prefix} subscribed within {timeout}s")


def start_waiter(adt, agent="web", project=None, wait=30):
    args = ["manage.py", "claim_task", "--agent", agent, "--wait", wait, "--json"]
    if project:
        args += ["--project", project]
    return adt.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def heartbeat_of(adt, agent="web"):
    return adt.scalar("main", "SELECT last_heartbeat FROM agents WHERE project = ?", (agent,))


def add(adt, *args):
    result = adt.manage("add_task", "--project", "web", "--json", *args)
    assert result.returncode == 0, result
    return result.json()


def test_a_waiting_claim_takes_a_new_task_at_once_and_costs_nothing_while_idle(home, redis_client, prefix):
    waiter = start_waiter(home)
    listening(redis_client, prefix)
    beat = heartbeat_of(home)
    time.sleep(2.5)
    # A claim beats at most once a second: a polling waiter would have moved it.
    assert heartbeat_of(home) == beat
    started = time.monotonic()
    task = add(home, "--description", "fix the login test")
    code, out, err = finish(waiter)
    assert (code, json.loads(out)["id"]) == (0, task["id"]), err
    assert time.monotonic() - started < QUICK
    assert "warning" not in err


def requeue(adt):
    task = add(adt, "--description", "held by api")
    assert adt.manage("claim_task", "--agent", "api", "--project", "web").returncode == 0
    return lambda: adt.manage("requeue_task", task["id"]), task["id"]


def retry(adt):
    task = add(adt, "--description", "failed once")
    assert adt.manage("cancel_task", task["id"]).returncode == 0
    return lambda: adt.manage("retry_task", task["id"]), task["id"]


def dependency(adt):
    first = add(adt, "--description", "first")
    second = add(adt, "--description", "second", "--after", first["id"])
    assert adt.manage("claim_task", "--agent", "api", "--project", "web").returncode == 0
    return lambda: adt.manage("complete_task", first["id"], "--agent", "api"), second["id"]


def resume(adt):
    assert adt.manage("pause_project", "web").returncode == 0
    task = add(adt, "--description", "held by the pause")
    return lambda: adt.manage("resume_project", "web"), task["id"]


def schedule(adt):
    assert adt.manage("add_schedule", "nightly", "--project", "web", "--cron", "0 3 * * *",
                      "--description", "nightly build").returncode == 0
    return lambda: adt.manage("run_schedule", "nightly"), None


@pytest.mark.parametrize("change", [requeue, retry, dependency, resume, schedule])
def test_every_change_that_readies_a_task_wakes_the_waiting_claim(home, redis_client, prefix, change):
    act, expected = change(home)
    waiter = start_waiter(home)
    listening(redis_client, prefix)
    result = act()
    started = time.monotonic()
    assert result.returncode == 0, result
    code, out, err = finish(waiter)
    assert code == 0, err
    assert time.monotonic() - started < QUICK
    claimed = json.loads(out)
    assert claimed["id"] == expected if expected else claimed["description"] == "nightly build"


def test_a_scheduled_task_is_claimed_when_due_not_at_the_next_safety_poll(home, redis_client, prefix):
    task = add(home, "--description", "in three seconds", "--in", "3s")
    started = time.monotonic()
    code, out, err = finish(start_waiter(home))
    assert (code, json.loads(out)["id"]) == (0, task["id"]), err
    assert 2.0 < time.monotonic() - started < 3.0 + QUICK


def follow(adt, *args):
    return adt.popen("manage.py", "tail_events", "--follow", "--json", "-n", "0", *args,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_following(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, [json.loads(line) for line in out.splitlines()], err


def created_ids(adt):
    return [row[0] for row in adt.sql("logs", "SELECT id FROM events WHERE type = 'task.created' ORDER BY id")]


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "polling"])
def test_tail_events_follow_prints_every_new_event_once_in_order(home, redis_client, prefix, with_redis):
    if not with_redis:
        home.extra_env = {}
    follower = follow(home, "--type", "task.created")
    if with_redis:
        listening(redis_client, prefix)
    else:
        time.sleep(2)
    # Four writers at once, ten tasks each.
    writers = [
        home.popen("-c", "import subprocess, sys\n"
                         f"for i in range(10): subprocess.run([sys.executable, 'manage.py', 'add_task', '--project', 'web', "
                         f"'--description', 'w{w}-' + str(i)], check=True, capture_output=True)")
        for w in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    expected = created_ids(home)
    deadline = time.monotonic() + 10
    time.sleep(1.5 if with_redis else 2.5)
    code, rows, err = stop_following(follower)
    assert time.monotonic() < deadline + 30
    assert code == 0 and "Traceback" not in err, err
    assert len(expected) == 40
    assert [row["id"] for row in rows] == expected  # each once, in id order
    assert {row["type"] for row in rows} == {"task.created"}


def test_tail_events_resumes_after_an_id_and_refuses_bad_input(home):
    ids = [add(home, "--description", f"t{i}")["id"] for i in range(3)]
    events = home.sql("logs", "SELECT id, task_id FROM events WHERE type = 'task.created' ORDER BY id")
    out = home.manage("tail_events", "--after", events[0][0], "--type", "task.*", "--json")
    assert out.returncode == 0, out
    assert [json.loads(line)["task_id"] for line in out.stdout.splitlines()] == ids[1:]
    for args, message in ((["-n", "ten"], "--lines must be a whole number"), (["--after", "-3"], "--after must be"),
                          (["--type", "*"], "--type needs a type")):
        bad = home.manage("tail_events", *args)
        assert bad.returncode == 1 and bad.stderr.startswith("error: ") and message in bad.stderr, bad
        assert len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [
    ["archive_tasks", "--older-than", "0"],
    ["prune_logs", "--older-than", "0"],
    ["reap_stale_agents"],
])
def test_a_run_another_machine_holds_is_skipped_and_runs_once_the_lock_expires(home, redis_client, prefix, command):
    lock = f"{prefix}lock:{command[0]}"
    redis_client.set(lock, "other-host:4242:abcd", px=60_000)
    skipped = home.manage(*command, "--json")
    assert skipped.returncode == 0, skipped
    assert skipped.json() == {"skipped": True, "run": command[0], "held_by": "other-host:4242:abcd"}
    plain = home.manage(*command)
    assert plain.stdout.strip() == f"skipped: {command[0]} is already running (other-host:4242:abcd, Redis lock); nothing done"
    redis_client.pexpire(lock, 50)  # the holder died: its lock runs out
    time.sleep(0.2)
    ran = home.manage(*command, "--json")
    assert ran.returncode == 0 and "held_by" not in ran.json(), ran
    assert not redis_client.exists(lock)  # released after the run


def test_a_dry_run_takes_no_lock(home, redis_client, prefix):
    redis_client.set(f"{prefix}lock:archive_tasks", "other-host:1:x", px=10_000)
    result = home.manage("archive_tasks", "--older-than", "0", "--dry-run", "--json")
    assert result.returncode == 0 and "held_by" not in result.json(), result


# Faults ---------------------------------------------------------------------


def warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("warning: Redis")]


def test_with_redis_unreachable_everything_works_by_polling_with_one_warning(adt):
    adt.extra_env = {"ADT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "ADT_REDIS_SAFETY_POLL": 60}
    assert adt.manage("register_project", "web", adt.home).returncode == 0
    waiter = start_waiter(adt, wait=20)
    time.sleep(2)
    started = time.monotonic()
    added = adt.manage("add_task", "--project", "web", "--description", "no redis", "--json")
    assert added.returncode == 0, added
    assert len(warnings(added.stderr)) == 1, added.stderr
    code, out, err = finish(waiter)
    assert (code, json.loads(out)["id"]) == (0, added.json()["id"])
    assert time.monotonic() - started < QUICK
    assert len(warnings(err)) == 1, err
    assert "Traceback" not in err


def test_a_connection_killed_mid_wait_still_gets_the_task(home, redis_client, prefix):
    waiter = start_waiter(home)
    entry = listening(redis_client, prefix)
    redis_client.client_kill_filter(_id=entry["id"])
    time.sleep(0.5)
    started = time.monotonic()
    task = add(home, "--description", "after the kill")
    code, out, err = finish(waiter)
    assert (code, json.loads(out)["id"]) == (0, task["id"]), err
    assert time.monotonic() - started < QUICK
    assert len(warnings(err)) <= 1 and "Traceback" not in err


@pytest.fixture
def own_redis(tmp_path):
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


def own(adt, server):
    adt.extra_env = {"ADT_REDIS_URL": server.url, "ADT_REDIS_PREFIX": "own:", "ADT_REDIS_SAFETY_POLL": 60}
    assert adt.manage("register_project", "web", adt.home).returncode == 0
    return adt


def test_redis_killed_while_a_claim_waits_falls_back_to_polling(adt, own_redis):
    adt = own(adt, own_redis)
    waiter = start_waiter(adt)
    listening(_client(own_redis), "own:")
    own_redis.kill()
    started = time.monotonic()
    added = adt.manage("add_task", "--project", "web", "--description", "redis is gone", "--json")
    assert added.returncode == 0 and len(warnings(added.stderr)) == 1, added
    code, out, err = finish(waiter)
    assert (code, json.loads(out)["id"]) == (0, added.json()["id"]), err
    assert time.monotonic() - started < QUICK
    assert len(warnings(err)) == 1 and "Traceback" not in err, err


def test_a_frozen_redis_slows_nothing_down(adt, own_redis):
    adt = own(adt, own_redis)
    own_redis.freeze()
    started = time.monotonic()
    added = adt.manage("add_task", "--project", "web", "--description", "redis hangs", "--json")
    assert added.returncode == 0 and len(warnings(added.stderr)) == 1, added
    claimed = adt.manage("claim_task", "--agent", "web", "--wait", "5", "--json")
    assert claimed.returncode == 0 and claimed.json()["id"] == added.json()["id"], claimed
    assert time.monotonic() - started < 3 * QUICK
    own_redis.thaw()


def test_a_follower_carries_on_through_a_redis_restart_missing_nothing(adt, own_redis):
    adt = own(adt, own_redis)
    follower = follow(adt, "--type", "task.created")
    listening(_client(own_redis), "own:")
    descriptions = []

    def add_some(label, n=3):
        for i in range(n):
            descriptions.append(f"{label}{i}")
            assert adt.manage("add_task", "--project", "web", "--description", f"{label}{i}").returncode == 0

    add_some("before")
    own_redis.kill()
    add_some("down")
    own_redis.start()
    time.sleep(6)  # the follower tries Redis again after a few seconds
    listening(_client(own_redis), "own:")
    add_some("after")
    time.sleep(2)
    code, rows, err = stop_following(follower)
    assert code == 0 and "Traceback" not in err, err
    tasks = dict(adt.sql("tasks", "SELECT id, description FROM tasks"))
    assert [tasks[row["task_id"]] for row in rows] == descriptions
    assert len(warnings(err)) == 1, err


def _client(server):
    import redis

    return redis.Redis.from_url(server.url, socket_timeout=2)
