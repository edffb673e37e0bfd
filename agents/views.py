"""The registry pages: agents (state, heartbeat, current tasks, runs) and projects."""

from django.conf import settings
from django.utils import timezone
from django.views.decorators.http import require_GET

from agents import lifecycle
from agents.models import Agent, AgentStatus
from common.web import render_page, staff_required
from events.models import AgentRun
from projects.models import Project
from tasks import board
from tasks.models import Status

RECENT_RUNS = 20


def agent_row(agent, now, **extra):
    """An agent with its heartbeat age and whether it looks dead: stale, or
    working but silent for longer than ADT_STALE_SECONDS (the reaper's rule),
    so about to be reaped."""
    age = agent.heartbeat_age(now)
    silent = agent.status == AgentStatus.WORKING and (age is None or age > settings.ADT_STALE_SECONDS)
    return {"agent": agent, "age": age, "stale": agent.status == AgentStatus.STALE, "silent": silent, **extra}


@require_GET
@staff_required
def agent_list(request):
    now = timezone.now()
    rows = [
        agent_row(entry["agent"], now, tasks=entry["tasks"], last_run=entry["last_run"])
        for entry in lifecycle.overview()
    ]
    context = {"agents": rows, "runs": AgentRun.objects.order_by("-id")[:RECENT_RUNS]}
    return render_page(request, "agents/agents.html", "registry", context)


@require_GET
@staff_required
def project_list(request):
    projects = list(Project.objects.all())
    registered = {agent.project_id: agent for agent in Agent.objects.all()}
    active = board.active_by_project([p.name for p in projects])
    rows = [
        {
            "project": project,
            "agent": registered.get(project.name),
            "pending": active.get((project.name, Status.PENDING), 0),
            "in_progress": active.get((project.name, Status.IN_PROGRESS), 0),
        }
        for project in projects
    ]
    return render_page(request, "agents/projects.html", None, {"projects": rows})
