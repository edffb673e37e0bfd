"""Agents' runs (agent_runs): the list, newest first and keyset-paged, and a run's page
that shows its log and follows it while the run is running."""

from urllib.parse import quote, urlencode

from django import forms
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from common.web import PAGE_ROWS, render_page, viewer_required
from events import runlogs
from events.models import AgentRun, RunStatus
from projects.models import Project


class RunFilters(forms.Form):
    agent = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "agent"}))
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *RunStatus.choices],
                               widget=forms.Select(attrs={"aria-label": "status"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An agent's name is its project's. One no longer registered can still be asked for.
        names = list(Project.objects.values_list("name", flat=True))
        asked = (self.data.get("agent") or "").strip()
        if asked and asked not in names:
            names.append(asked)
        self.fields["agent"].choices = [("", "Any agent"), *((n, n) for n in names)]

    def apply(self, queryset):
        data = self.cleaned_data if self.is_valid() else {}
        if agent := data.get("agent"):
            queryset = queryset.filter(project=agent)
        if status := data.get("status"):
            queryset = queryset.filter(status=status)
        # idx_runs_project, idx_runs_status or idx_runs_project_status, read in id order.
        return queryset.order_by("-id")

    def query(self):
        data = self.cleaned_data if self.is_valid() else {}
        return {k: v for k, v in data.items() if v}


def duration(seconds):
    """4 s, 3 min 12 s, 2 h 05 min, 3 d 4 h."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


class Links:
    """The links of a row. reverse() three times a row was a third of the runs
    page's time (bench/pages.py), so each URL is reversed once and the value
    filled in; a task id no page can have (the seed's rows may hold anything)
    gets a quoted link that answers 404 instead of a NoReverseMatch."""

    MARK = "0000000000"

    def __init__(self):
        self.run = reverse("runs:detail", args=[self.MARK]).split(self.MARK)
        self.task = reverse("tasks:detail", args=[self.MARK]).split(self.MARK)
        self.runs = reverse("runs:list")

    def row(self, run):
        return {
            "url": f"{self.run[0]}{run.id}{self.run[1]}",
            "agent_url": f"{self.runs}?{urlencode({'agent': run.project})}",
            "task_url": f"{self.task[0]}{quote(run.task, safe='')}{self.task[1]}" if run.task else None,
        }


def run_row(run, now, links):
    # Only a run started as running and not ended yet: the seed's rows may have no status.
    running = run.ended_at is None and run.status == RunStatus.RUNNING
    end = run.ended_at or (now if running else None)
    return {
        "run": run,
        "running": running,
        "duration": duration((end - run.started_at).total_seconds()) if end and run.started_at else None,
        **links.row(run),
    }


@require_GET
@viewer_required
def run_list(request):
    form = RunFilters(request.GET)
    runs = form.apply(AgentRun.objects.all())
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        before = None
    if before is not None:
        # Keyset paging: the next rows are the ones older than the last shown, never an OFFSET.
        runs = runs.filter(id__lt=before)
    runs = list(runs[: PAGE_ROWS + 1])
    more = len(runs) > PAGE_ROWS
    runs = runs[:PAGE_ROWS]
    now = timezone.now()
    query = form.query()
    links = Links()
    context = {
        "form": form,
        "rows": [run_row(run, now, links) for run in runs],
        "before": before,
        "more_query": urlencode({**query, "before": runs[-1].id}) if more else None,
    }
    fragment = "rows" if before is not None else "results"
    return render_page(request, "events/runs.html", fragment, context)


def log_context(run, chunk=None, problem=None):
    row = run_row(run, timezone.now(), Links())
    return {
        **row,
        "chunk": chunk,
        "problem": problem,
        "offset": chunk.end if chunk else 0,
        "following": row["running"],
        "tail_kb": runlogs.TAIL_BYTES // 1024,
    }


@require_GET
@viewer_required
def run_detail(request, run_id):
    run = get_object_or_404(AgentRun, pk=run_id)
    try:
        context = log_context(run, chunk=runlogs.tail(run))
    except runlogs.LogUnavailable as e:
        context = log_context(run, problem=str(e))
    return render(request, "events/run.html", context)


@require_GET
@viewer_required
def run_log(request, run_id):
    """The bytes appended after `offset`, for the run's page while it follows the log.

    204 when nothing is new and the run still runs; otherwise the new text,
    with the poller (out of band) carrying the next offset, or gone once
    the run has ended.
    """
    try:
        offset = int(request.GET.get("offset", ""))
    except ValueError:
        return HttpResponseBadRequest("offset must be a byte offset (an integer)\n", content_type="text/plain")
    if offset < 0:
        return HttpResponseBadRequest("offset must not be negative\n", content_type="text/plain")
    run = get_object_or_404(AgentRun, pk=run_id)
    try:
        chunk = runlogs.since(run, offset)
    except runlogs.LogUnavailable as e:
        context = {**log_context(run, problem=str(e)), "offset": offset}
    else:
        context = log_context(run, chunk=chunk)
        # Nothing read (bytes that show as nothing, like colour codes, still move the offset on).
        if chunk.end == offset and not chunk.restarted and context["following"] and request.GET.get("problem") != "1":
            return HttpResponse(status=204)
    return render(request, "events/run.html#appended", {**context, "oob": True})
