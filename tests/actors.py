"""Stand-ins for agents and cron, run as real processes by the concurrency tests.

    python tests/actors.py agent NAME --project P [--work-ms N] [--seed S]
        claims, "works" (sleeping, heartbeating), completes, until no task is
        left unfinished; prints "claimed ID", "completed ID" or "fenced ID".
    python tests/actors.py reaper --threshold SECONDS --for SECONDS
        runs the reaper's sweep in a loop (dead agents, tasks past their deadline).
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adt_admin.settings")

import django  # noqa: E402

django.setup()

from agents import lifecycle  # noqa: E402
from common.errors import Conflict  # noqa: E402
from tasks import queue  # noqa: E402
from tasks.models import FINISHED, Task  # noqa: E402


def say(*words):
    print(*words, flush=True)


def agent(name, project, work_ms, seed):
    rng = random.Random(seed)
    while True:
        task = lifecycle.claim(name, project)
        if task is None:
            if not Task.objects.exclude(status__in=FINISHED).exists():
                lifecycle.heartbeat(name, "idle")
                return
            time.sleep(0.02)
            continue
        say("claimed", task.id)
        if work_ms:
            time.sleep(rng.uniform(work_ms / 2, work_ms) / 1000)
            lifecycle.heartbeat(name, "working")
        try:
            queue.complete(task.id, name, result=f"done by {name}")
        except Conflict:
            say("fenced", task.id)
        else:
            say("completed", task.id)


def reaper(threshold, duration):
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        swept = lifecycle.sweep(threshold)
        for reaped in swept["agents"]:
            say("reaped", reaped["agent"], *reaped["requeued"])
        for task in swept["timed_out"]:
            say("timed-out", task["id"], task["agent"])
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    a = sub.add_parser("agent")
    a.add_argument("name")
    a.add_argument("--project", required=True)
    a.add_argument("--work-ms", type=float, default=0)
    a.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("reaper")
    r.add_argument("--threshold", type=float, required=True)
    r.add_argument("--for", dest="duration", type=float, required=True)
    args = parser.parse_args()
    if args.role == "agent":
        agent(args.name, args.project, args.work_ms, args.seed)
    else:
        reaper(args.threshold, args.duration)


if __name__ == "__main__":
    main()
