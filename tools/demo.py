"""Realistic demo data in the ADT_HOME of the environment: for `make screenshots`
and the browser layout tests (tests/web/test_layout.py).

    ADT_HOME=/tmp/x python tools/demo.py [--long]

Three projects with their agents, tasks in every status, a schedule, a paused
project, agent runs (one still running) and the events all of that writes,
made through the domain modules as the commands make them. `--long` adds a
task whose description holds a 5,000-character token. Prints one JSON
document: the ids the caller needs.
"""

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adt_admin.settings")

# A realistic 100-character URL, as people paste them into descriptions.
LONG_URL = "https://github.com/example-org/payments-service/blob/main/src/payments/webhooks/stripe_handler.py#L120"
# One unbroken word of 5,000 characters (a pasted token or a minified line).
LONG_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" * 140)[:5000]


def fail_for_good(project, task_id, error):
    """Claim and fail the task until it has no retries left (each failure requeues it)."""
    from agents import lifecycle
    from tasks import queue

    while queue.get(task_id).status != "failed":
        claimed = lifecycle.claim(project, project)
        assert claimed is not None and claimed.id == task_id, (claimed, task_id)
        queue.fail(task_id, project, error)


def populate(long=False):
    from django.conf import settings
    from django.utils import timezone

    from agents import lifecycle
    from schedules import recurring
    from tasks import pausing, queue
    from tasks.models import Task

    for name, path, provider in (("api", "/srv/api", "claude"), ("web", "/srv/web", "cursor"), ("docs", "/srv/docs", "codex")):
        lifecycle.register(name, path, provider=provider, worktree=f"{path}/.worktrees/{name}-1")

    # Finished work, spread over the last day so the chart has bars.
    now = timezone.now()
    finished = []
    for i in range(18):
        project = ("api", "web")[i % 2]
        task = queue.enqueue(project, f"Nightly job {i + 1}: rebuild the search index and check the links")
        if i % 7 == 3:
            fail_for_good(project, task.id, "pytest exited 1: 3 tests failed in tests/test_checkout.py")
        else:
            assert lifecycle.claim(project, project).id == task.id
            queue.complete(task.id, project, result="done; 0 warnings")
        finished.append((task.id, now - timedelta(hours=i * 1.3, minutes=7)))
    for task_id, moment in finished:  # demo only: pretend they finished earlier
        Task.objects.filter(pk=task_id).update(completed_at=moment, started_at=moment - timedelta(minutes=4))

    # A failed task that ran out of retries, a cancelled one.
    failing = queue.enqueue("api", "Upgrade Django to 5.2 and fix the deprecation warnings", priority="high")
    fail_for_good("api", failing.id, "ImportError: cannot import name 'url' from 'django.conf.urls'")
    cancelled = queue.enqueue("web", "Try the new bundler (abandoned: the old one is fine)", priority="low")
    queue.cancel(cancelled.id, by="web:admin")

    # In progress: each agent holds one, with a run whose log (under ADT_HOME) it writes.
    runs = {}
    for project, text in (("api", "Add pagination to GET /v1/invoices and document the cursor parameter"),
                          ("web", "Make the settings page readable on a phone")):
        task = queue.enqueue(project, text, priority="urgent" if project == "api" else "normal")
        assert lifecycle.claim(project, project).id == task.id
        log = settings.ADT_HOME / "logs" / f"{task.id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"".join(
            f"2026-12-01 12:{i:02d}:00 step {i}: ran the checks of {LONG_URL}\n".encode() for i in range(40)
        ) + b"a byte that is not UTF-8: \xff, and a NUL: \x00\n")
        runs[project] = lifecycle.start_run(project, task=task.id, log_path=str(log)).id
    ended = lifecycle.start_run("docs", log_path="/srv/docs/.adt/logs/run.log")
    lifecycle.end_run(ended.id, 1, error="codex: rate limited (429), giving up after 3 tries")

    url_task = queue.enqueue(
        "web", f"Fix the flaky checkout test; the failing line is at {LONG_URL} and the trace is in the CI log.",
        priority="high", metadata={"issue": 412, "labels": ["flaky", "ci"]},
    )
    ids = {"url_task": url_task.id, "run": runs["web"]}
    if long:
        ids["long_task"] = queue.enqueue("api", f"Rotate the leaked token {LONG_TOKEN} and update the vault.").id

    # Pending, scheduled and blocked work.
    pending = [queue.enqueue("api", text, priority=priority) for text, priority in (
        ("Return 404, not 500, for an unknown invoice id", "normal"),
        ("Log the request id with every error", "low"),
        ("Speed up the invoices query (it scans the whole table for one customer)", "high"),
    )]
    queue.enqueue("web", "Deploy the checkout fix to staging", after=[pending[0].id])
    queue.enqueue("web", "Re-run the accessibility audit after the release", run_at=now + timedelta(hours=6))
    queue.enqueue("docs", "Document the new pagination cursor in the API guide")
    queue.enqueue("docs", "Fix the broken links on the install page", priority="low")
    pausing.pause("docs", by="web:admin", reason="rebasing the docs branch")

    recurring.add("nightly-deps", "api", "0 3 * * *", "Update the dependencies and open a pull request", by="demo")
    recurring.add("weekly-audit", "web", "30 6 * * 1", "Run the accessibility audit on every page", zone="Europe/Paris", by="demo")

    lifecycle.heartbeat("api", "working")
    lifecycle.heartbeat("web", "working")
    return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="add a task with a 5,000-character token")
    args = parser.parse_args()
    import django

    django.setup()
    print(json.dumps(populate(long=args.long)))


if __name__ == "__main__":
    main()
