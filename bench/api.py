"""The HTTP API against the queue in process and the command line, in one run.

8 client processes claim and complete tasks over HTTP (POST /api/v1/claim,
POST /api/v1/tasks/ID/complete, each with an agent's token) through
gunicorn started with gunicorn.conf.py (`make serve`'s settings), beside the
same 8 processes calling agents.lifecycle.claim and tasks.queue.complete in
process, and beside 8 at a time running `manage.py claim_task` and
`complete_task` (a smaller count: each is two Python start-ups). Every line
checks that each task was completed exactly once.

    python bench/api.py [--tasks 20000] [--clients 8] [--cli-tasks 200] [--quick]
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.claim import fill, setup_ours  # noqa: E402

GOALS = {"p50_ms": 10, "p99_ms": 50, "per_second": 500}


def env_of(home):
    return {**os.environ, "ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings"}


def make_tokens(home, agents):
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "import json; from agents import tokens; "
         f"print(json.dumps([tokens.create(a, 'bench')[1] for a in {agents!r}]))"],
        cwd=ROOT, env=env_of(home), check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# Clients ------------------------------------------------------------------


def http_client(port, token, out):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    claims, done = [], []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(path, body):
        nonlocal conn
        for _ in range(3):
            try:
                conn.request("POST", path, json.dumps(body), headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                conn.close()  # gunicorn's sync workers close after each response
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        raise RuntimeError(f"{path}: no answer")

    while True:
        started = time.perf_counter()
        status, body = post("/api/v1/claim", {"project": "bench"})
        claims.append(time.perf_counter() - started)
        if status == 204:
            break
        if status != 200:
            raise RuntimeError(f"claim: {status} {body[:200]!r}")
        task = json.loads(body)
        status, body = post(f"/api/v1/tasks/{task['id']}/complete", {"lease": task["lease"]})
        if status != 200:
            raise RuntimeError(f"complete: {status} {body[:200]!r}")
        done.append(task["id"])
    out.put((claims[:-1], done))


def inprocess_client(home, agent, out):
    os.environ.update(env_of(home))
    import django

    django.setup()
    from agents import lifecycle
    from tasks import queue

    claims, done = [], []
    while True:
        started = time.perf_counter()
        task = lifecycle.claim(agent, "bench")
        claims.append(time.perf_counter() - started)
        if task is None:
            break
        queue.complete(task.id, agent, lease=task.started_at)
        done.append(task.id)
    out.put((claims[:-1], done))


def cli_client(home, agent, out):
    env, claims, done = env_of(home), [], []
    while True:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "manage.py", "claim_task", "--agent", agent, "--project", "bench", "--json"],
                                cwd=ROOT, env=env, capture_output=True, text=True)
        claims.append(time.perf_counter() - started)
        if result.returncode == 3:
            break
        task = json.loads(result.stdout)
        subprocess.run([sys.executable, "manage.py", "complete_task", task["id"], "--agent", agent, "--lease", task["lease"]],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        done.append(task["id"])
    out.put((claims[:-1], done))


def run_clients(target, args_of, clients):
    out = mp.Queue()
    procs = [mp.Process(target=target, args=(*args_of(i), out)) for i in range(clients)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    seconds = time.perf_counter() - started
    for p in procs:
        p.join()
    if any(p.exitcode for p in procs):
        raise RuntimeError("a client failed")
    claims = sorted(c for r, _ in results for c in r)
    done = [t for _, d in results for t in d]
    return claims, done, seconds


# Lines --------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home, port):
    env = {**env_of(home), "ADT_BIND": f"127.0.0.1:{port}", "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdef",
           "DJANGO_HTTPS": "0", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    log = open(home / "gunicorn.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError((home / "gunicorn.log").read_text())


def check(home, done, expected):
    conn = sqlite3.connect(home / "data" / "tasks.db")
    completed = conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'completed'").fetchone()[0]
    conn.close()
    return {"dup": len(done) - len(set(done)), "lost": expected - len(set(done)), "completed": completed}


def line(name, claims, done, seconds, home, expected):
    ok = check(home, done, expected)
    return {
        "line": name,
        "tasks": len(done),
        "per_second": len(done) / seconds,
        "p50_ms": statistics.median(claims) * 1000 if claims else 0,
        "p99_ms": claims[int(len(claims) * 0.99) - 1] * 1000 if claims else 0,
        **ok,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cli-tasks", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="2,000 tasks and 40 on the command line")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.cli_tasks = 2000, 40
    folder = Path(tempfile.mkdtemp(prefix="adt-bench-api-"))
    agents = [f"agent{i}" for i in range(args.clients)]
    results = []
    try:
        home = setup_ours(folder, [args.clients])
        tokens = make_tokens(home, agents)

        fill(home / "data" / "tasks.db", args.tasks)
        port = free_port()
        server = serve(home, port)
        try:
            claims, done, seconds = run_clients(http_client, lambda i: (port, tokens[i]), args.clients)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        results.append(line("HTTP API (gunicorn, make serve settings)", claims, done, seconds, home, args.tasks))

        fill(home / "data" / "tasks.db", args.tasks)
        claims, done, seconds = run_clients(inprocess_client, lambda i: (home, agents[i]), args.clients)
        results.append(line("in process (tasks.queue)", claims, done, seconds, home, args.tasks))

        fill(home / "data" / "tasks.db", args.cli_tasks)
        claims, done, seconds = run_clients(cli_client, lambda i: (home, agents[i]), args.clients)
        results.append(line("command line (claim_task, complete_task)", claims, done, seconds, home, args.cli_tasks))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\n{args.clients} clients claim and complete until the queue is empty\n")
    print(f"{'line':42} {'tasks':>7} {'claim+complete/s':>17} {'claim p50 ms':>13} {'claim p99 ms':>13} {'dup':>4} {'lost':>5}")
    for r in results:
        print(f"{r['line']:42} {r['tasks']:7,} {r['per_second']:17,.0f} {r['p50_ms']:13.1f} {r['p99_ms']:13.1f} {r['dup']:4} {r['lost']:5}")
    http_line = results[0]
    print("\nGoals (HTTP line):")
    print(f"  claim p50 < {GOALS['p50_ms']} ms: {http_line['p50_ms']:.1f} ms, {'met' if http_line['p50_ms'] < GOALS['p50_ms'] else 'NOT met'}")
    print(f"  claim p99 < {GOALS['p99_ms']} ms: {http_line['p99_ms']:.1f} ms, {'met' if http_line['p99_ms'] < GOALS['p99_ms'] else 'NOT met'}")
    print(f"  >= {GOALS['per_second']} claim+complete/s: {http_line['per_second']:,.0f}/s, "
          f"{'met' if http_line['per_second'] >= GOALS['per_second'] else 'NOT met'}")
    print(f"  no duplicates or losses: {'yes' if all(r['dup'] == 0 and r['lost'] == 0 for r in results) else 'NO'}")


if __name__ == "__main__":
    main()
