"""`make bench BENCH=pages`: how long the web pages take, server side, at 1,000 rows and at full size.

Fills two temporary ADT_HOMEs (`manage.py migrate`, then bench/fill.py's
raw bulk load): one with 1,000 tasks and 1,000 events, one with --tasks
(1,000,000) and --events (10,000,000). Then, for each, a separate process
asks every page through Django's test Client (in process: no network, the
whole request, middleware to template) and prints the median and the 95th
percentile of --repeat requests. The goal (issue 24): every page under
100 ms p95 at full size.

    python bench/pages.py                  # 1M tasks, 10M events (fill takes several minutes)
    python bench/pages.py --quick          # 20k tasks, 200k events
    python bench/pages.py --tasks 200000 --events 2000000 --keep /tmp/adt-bench
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_MS = 100
# A run's page reads the tail of this much log (the bench writes it once).
LOG_BYTES = 5 * 1024 * 1024


def pages(detail_task, newest_event, run, older_run, log_size):
    """(label, url) of every page measured; the ones the first goal named come first."""
    return [
        ("dashboard", "/"),
        ("queue (active)", "/tasks/"),
        ("feed poll, 5 new", f"/events/feed?after={newest_event - 5}"),
        ("feed poll, none new", f"/events/feed?after={newest_event}"),
        ("admin tasks", "/admin/tasks/task/"),
        ("admin events", "/admin/events/event/"),
        ("admin runs", "/admin/events/agentrun/"),
        ("admin projects", "/admin/projects/project/"),
        ("admin agents", "/admin/agents/agent/"),
        # Beyond the goal's list:
        ("queue (all statuses)", "/tasks/?status=all"),
        ("queue (project+low)", "/tasks/?status=all&project=project-03&priority=low"),
        ("queue (more, offset 1000)", "/tasks/?status=all&offset=1000"),
        ("task page", f"/tasks/{detail_task}/"),
        ("events page", "/events/"),
        ("events page (level=error)", "/events/?level=error"),
        ("agents page", "/agents/"),
        ("projects page", "/projects/"),
        ("admin tasks (completed)", "/admin/tasks/task/?status__exact=completed"),
        ("admin tasks (project)", "/admin/tasks/task/?project=project-03"),
        ("admin events (error)", "/admin/events/event/?level__exact=error"),
        ("admin events (task id)", f"/admin/events/event/?q={detail_task}"),
        ("runs page", "/runs/"),
        ("runs page (agent)", "/runs/?agent=project-03"),
        ("runs page (status=error)", "/runs/?status=error"),
        ("runs page (agent+running)", "/runs/?agent=project-03&status=running"),
        ("runs page (more, keyset)", f"/runs/?before={older_run}"),
        ("run page, 5 MB log", f"/runs/{run}/"),
        ("run log poll, 1 KB new", f"/runs/{run}/log?offset={log_size - 1024}"),
        ("run log poll, none new", f"/runs/{run}/log?offset={log_size}"),
        ("healthz", "/healthz"),
    ]


GOAL_PAGES = 9


def environment(home, static_root):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADT_", "DJANGO_"))}
    env.update(
        ADT_HOME=str(home), ADT_STATIC_ROOT=str(static_root), DJANGO_SETTINGS_MODULE="adt_admin.settings",
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    return env


def prepare(home, n_tasks, n_events, static_root):
    """A migrated, filled ADT_HOME (kept from an earlier run when it matches)."""
    marker = home / "filled.json"
    wanted = {"tasks": n_tasks, "events": n_events}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        print(f"  reusing {home}", flush=True)
        return
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=environment(home, static_root), check=True)
    from bench import fill

    fill.fill(home, n_tasks, n_events, say=lambda line: print(line, flush=True))
    marker.write_text(json.dumps(wanted))


def bench_run():
    """A running run of project-03 whose log (under ADT_HOME) holds LOG_BYTES: (id, log size)."""
    from django.conf import settings

    from events.models import AgentRun, RunStatus

    log = settings.ADT_HOME / "logs" / "bench-run.log"
    if not log.exists() or log.stat().st_size != LOG_BYTES:
        log.parent.mkdir(exist_ok=True)
        line = b"2026-12-01 12:00:00 step of an agent's work, as it writes its log " + b"x" * 60 + b"\n"
        log.write_bytes((line * (LOG_BYTES // len(line) + 1))[:LOG_BYTES])
    run = AgentRun.objects.filter(log_path=str(log)).first() or AgentRun.objects.create(
        project="project-03", provider="cursor", status=RunStatus.RUNNING, log_path=str(log)
    )
    return run.id, LOG_BYTES


def percentile(times, p):
    """The p-th percentile (nearest rank) of `times`."""
    ranked = sorted(times)
    return ranked[min(len(ranked) - 1, max(0, -(-p * len(ranked) // 100) - 1))]


def measure(repeat):
    """In the child process: time every page for this ADT_HOME; print JSON."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from events.models import AgentRun, Event
    from tasks.models import Task

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", password="bench")
    # As production requests arrive: through the TLS proxy.
    client = Client(headers={"X-Forwarded-Proto": "https", "Host": "testserver"})
    client.force_login(user)
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # A task from the middle of the table (its timeline is ~10 events).
    detail = Task.objects.order_by("created_at").values_list("id", flat=True)[Task.objects.count() // 2]
    run, log_size = bench_run()
    # A run from the middle of the table: "show more" far down the list.
    older = AgentRun.objects.order_by("-id").values_list("id", flat=True)[AgentRun.objects.count() // 2]
    out = {}
    for label, url in pages(detail, newest, run, older, log_size):
        times = []
        for i in range(repeat + 1):
            began = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code not in (200, 204):
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            if i:  # the first one warms the caches of this process
                times.append(elapsed)
        out[label] = [statistics.median(times), percentile(times, 95)]
    print(json.dumps(out))


def run_size(home, n_tasks, n_events, static_root, repeat):
    print(f"\n{n_tasks:,} tasks, {n_events:,} events:", flush=True)
    prepare(home, n_tasks, n_events, static_root)
    result = subprocess.run(
        [sys.executable, __file__, "--measure", "--repeat", str(repeat)],
        cwd=ROOT, env=environment(home, static_root), capture_output=True, text=True,
    )
    if result.returncode:
        sys.exit(f"measuring failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 tasks and 200,000 events")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page (the median and p95 are printed)")
    parser.add_argument("--keep", type=Path, help="fill (or reuse) the databases under this directory and keep them")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.repeat)
    if args.quick:
        args.tasks, args.events = 20_000, 200_000
    if args.tasks < 1000 or args.events < 1000:
        sys.exit("error: --tasks and --events must be at least 1000")

    base = args.keep or Path(tempfile.mkdtemp(prefix="adt-bench-pages-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        static_root = base / "static"
        if not (static_root / "staticfiles.json").exists():
            subprocess.run(
                [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                cwd=ROOT, env=environment(base / "collect", static_root), check=True,
            )
        small = run_size(base / "small", 1000, 1000, static_root, args.repeat)
        full = run_size(base / f"full-{args.tasks}-{args.events}", args.tasks, args.events, static_root, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print(f"\nServer-side time per page over {args.repeat} requests (ms); goal: p95 under {GOAL_MS} ms at full size.")
    print(f"{'page':28} {'1k median':>10} {'1k p95':>8} {'full median':>12} {'full p95':>9}")
    slow = []
    for i, (label, (small_median, small_p95)) in enumerate(small.items()):
        full_median, full_p95 = full[label]
        if i == GOAL_PAGES:
            print("  (beyond the first goal's pages)")
        mark = ""
        if full_p95 >= GOAL_MS:
            mark = "  over goal"
            slow.append(label)
        print(f"{label:28} {small_median:10.1f} {small_p95:8.1f} {full_median:12.1f} {full_p95:9.1f}{mark}")
    print("goal met" if not slow else f"goal missed: {', '.join(slow)}")


if __name__ == "__main__":
    main()
