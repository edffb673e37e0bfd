"""The pages that belong to no one app: the dashboard and the health check."""

from django.db import connections
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from agents.models import Agent
from agents.views import agent_row
from common.web import render_page, viewer_required
from dashboard import charts
from events import describe, history
from events.models import Event
from projects.models import Project
from tasks import board, pausing
from tasks.models import Priority, Status

LATEST_EVENTS = 12


@require_GET
@viewer_required
def dashboard(request):
    now = timezone.now()
    counts = board.status_counts()
    by_priority = board.active_by_priority()
    names = list(Project.objects.values_list("name", flat=True))
    by_project = board.active_by_project(names)
    paused = pausing.paused_projects()
    context = {
        "now": now,
        "counts": [(status, label, counts.get(status, 0)) for status, label in Status.choices],
        "total": sum(counts.values()),
        "priorities": Priority.values,
        "depth": [
            (status, label, [by_priority.get((status, p), 0) for p in Priority.values])
            for status, label in Status.choices
            if status in board.ACTIVE
        ],
        "projects": [
            (name, by_project.get((name, Status.PENDING), 0) + by_project.get((name, Status.PAUSED), 0),
             by_project.get((name, Status.IN_PROGRESS), 0), paused.get(name))
            for name in names
        ],
        "agents": [agent_row(agent, now) for agent in Agent.objects.all()],
        # From the events in ClickHouse when configured (None when not, or when it does not answer).
        "chart": charts.hourly_bars(history.finished_per_hour(now) or board.finished_per_hour(now)),
        "events": describe.annotate(Event.objects.order_by("-id")[:LATEST_EVENTS]),
    }
    return render_page(request, "dashboard/dashboard.html", "board", context)


@never_cache
def healthz(request):
    """200 when every database answers a SELECT 1; 503 naming the ones that do not. No login."""
    failed = []
    for alias in connections:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as e:  # Anything at all means this database cannot serve.
            failed.append(f"{alias}: {e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    if failed:
        return HttpResponse("unavailable\n" + "\n".join(failed) + "\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
