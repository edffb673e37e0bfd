"""The schedules page: every recurring task with its next run, and "run now"."""

from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from common.web import attempt, by, operator_required, render_page, viewer_required
from schedules import recurring
from schedules.models import Schedule
from tasks import pausing


def schedule_row(schedule, now, paused):
    return {
        "schedule": schedule,
        "next_run": recurring.next_run(schedule, now),
        "explained": recurring.explain(schedule),
        "paused": paused.get(schedule.project),
    }


@require_GET
@viewer_required
def schedule_list(request):
    now, paused = timezone.now(), pausing.paused_projects()
    rows = [schedule_row(s, now, paused) for s in Schedule.objects.all()]
    return render_page(request, "schedules/schedules.html", None, {"rows": rows, "now": now})


@require_POST
@operator_required
def run_now(request, name):
    attempt(request, lambda: recurring.run_now(name, by=by(request)), lambda task: f"Added task {task.id} from {name}.")
    if not request.htmx:
        return redirect("schedules:list")
    schedule = Schedule.objects.filter(pk=name).first()
    row = schedule_row(schedule, timezone.now(), pausing.paused_projects()) if schedule else None
    return render_page(request, "schedules/schedules.html", "acted", {"row": row})
