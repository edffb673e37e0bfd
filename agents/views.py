"""The registry pages: agents (state, heartbeat, current tasks, runs) and projects."""

from django.conf import settings
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents import lifecycle
from agents.models import Agent, AgentStatus
from common.web import attempt, by, operator_required, render_page, viewer_required
from events.models import AgentRun
from projects.models import Project
from tasks import board, pausing
from tasks.models import Status

RECENT_RUNS = 20
# An agent normally holds one task; past this many the cell says how many more.
SHOWN_TASKS = 3


def agent_row(agent, now, **extra):
    """An agent with its heartbeat age and whether it looks dead: stale, or
    working but silent for longer than ADT_STALE_SECONDS (the reaper's rule),
    so about to be reaped."""
    age = agent.heartbeat_age(now)
    silent = agent.status == AgentStatus.WORKING and (age is None or age > settings.ADT_STALE_SECONDS)
    return {"agent": agent, "age": age, "stale": agent.status == AgentStatus.STALE, "silent": silent, **extra}


@require_GET
@viewer_required
def agent_list(request):
    now = timezone.now()
    rows = [
        agent_row(entry["agent"], now, tasks=entry["tasks"][:SHOWN_TASKS], more_tasks=len(entry["tasks"][SHOWN_TASKS:]),
                  last_run=entry["last_run"])
        for entry in lifecycle.overview()
    ]
    context = {"agents": rows, "runs": AgentRun.objects.order_by("-id")[:RECENT_RUNS]}
    return render_page(request, "agents/agents.html", "registry", context)


def project_rows(projects):
    registered = {agent.project_id: agent for agent in Agent.objects.all()}
    active = board.active_by_project([p.name for p in projects])
    paused = pausing.paused_projects()
    return [
        {
            "project": project,
            "agent": registered.get(project.name),
            "pending": active.get((project.name, Status.PENDING), 0) + active.get((project.name, Status.PAUSED), 0),
            "in_progress": active.get((project.name, Status.IN_PROGRESS), 0),
            "paused": paused.get(project.name),
        }
        for project in projects
    ]


@require_GET
@viewer_required
def project_list(request):
    return render_page(request, "agents/projects.html", None, {"projects": project_rows(list(Project.objects.all()))})


@require_POST
@operator_required
def project_pause(request, name, action):
    """Pause or resume a project from its row on the projects page."""
    if action == "pause":
        reason = request.POST.get("reason", "").strip() or None
        attempt(request, lambda: pausing.pause(name, by=by(request), reason=reason)[1],
                lambda held: f"Paused {name}: {held} pending task(s) held back.")
    else:
        attempt(request, lambda: pausing.resume(name, by=by(request)),
                lambda released: f"Resumed {name}: {released} task(s) pending again.")
    if not request.htmx:
        return redirect("agents:projects")
    rows = project_rows(list(Project.objects.filter(pk=name)))
    return render_page(request, "agents/projects.html", "acted", {"row": rows[0] if rows else None})
