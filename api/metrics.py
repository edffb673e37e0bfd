"""/metrics: the queue's numbers in Prometheus's text format (prometheus_client).

Everything is read from the databases at scrape time, so every gunicorn
worker answers the same and a restart loses nothing: gauges from the
queue's index-only counts (tasks.board), counters from events.EventCount.
"""

import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from agents.models import Agent
from events import relay
from events.models import EventCount
from projects.models import Project
from schedules.models import Schedule
from tasks import board, pausing

# Counters of /metrics and the event kinds they count.
COUNTERS = {
    "claims": ("Tasks claimed.", ["task.claimed"]),
    "completions": ("Tasks completed.", ["task.completed"]),
    "failures": ("Failures reported by agents (retried or final).", ["task.attempt_failed", "task.failed"]),
    "requeues": ("Tasks put back in the queue (any reason).", ["task.requeued"]),
    "timeouts": ("Tasks taken back past their deadline.", ["task.requeued.timeout"]),
}
LOOPBACK = {"127.0.0.1", "::1"}


class QueueCollector:
    def collect(self):
        tasks = GaugeMetricFamily("adt_tasks", "Tasks by status.", labels=["status"])
        for status, n in board.status_counts().items():
            tasks.add_metric([status], n)
        yield tasks

        by_priority = GaugeMetricFamily("adt_tasks_active", "Pending and in-progress tasks by priority.",
                                        labels=["status", "priority"])
        for (status, priority), n in sorted(board.active_by_priority().items(), key=str):
            by_priority.add_metric([status, priority or "unknown"], n)
        yield by_priority

        names = list(Project.objects.values_list("name", flat=True))
        by_project = GaugeMetricFamily("adt_tasks_by_project", "Pending, paused and in-progress tasks by project.",
                                       labels=["project", "status"])
        for (project, status), n in sorted(board.active_by_project(names).items()):
            by_project.add_metric([project, status], n)
        yield by_project

        oldest = board.oldest_pending_age()
        yield GaugeMetricFamily("adt_oldest_pending_task_age_seconds", "Age of the oldest pending task (0: none).",
                                value=oldest or 0)

        agents = GaugeMetricFamily("adt_agents", "Agents by status.", labels=["status"])
        for status, n in Agent.objects.status_counts().items():
            agents.add_metric([status], n)
        yield agents

        outboxes = GaugeMetricFamily("adt_outbox_waiting", "Events not yet copied into logs.db, per outbox.",
                                     labels=["outbox"])
        for table, n in relay.waiting().items():
            outboxes.add_metric([table], n)
        yield outboxes

        yield GaugeMetricFamily("adt_paused_projects", "Projects paused.", value=len(pausing.paused_projects()))
        yield GaugeMetricFamily("adt_schedules", "Recurring schedules.", value=Schedule.objects.count())

        counts = dict(EventCount.objects.values_list("key", "n"))
        for name, (text, keys) in COUNTERS.items():
            yield CounterMetricFamily(f"adt_task_{name}", text, value=sum(counts.get(k, 0) for k in keys))
        events = CounterMetricFamily("adt_events", "Events recorded, by type.", labels=["type"])
        for key, n in sorted(counts.items()):
            if key.count(".") == 1:
                events.add_metric([key], n)
        yield events


@never_cache
@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponse("metrics need Authorization: Bearer <ADT_METRICS_TOKEN> from outside this machine\n",
                            status=401, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _allowed(request):
    token = settings.ADT_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given, f"Bearer {token}"):
        return True
    # Behind a proxy every request comes from loopback: one that says it was forwarded is not local.
    return request.META.get("REMOTE_ADDR") in LOOPBACK and "X-Forwarded-For" not in request.headers
