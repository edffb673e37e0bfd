"""The queue page, a task's page, and the actions on tasks (all through tasks.queue)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from common.errors import ADTError, NotFound
from common.templatetags.adt_format import upto
from common.web import PAGE_ROWS, by, operator_required, render_page, viewer_required
from events import describe
from events.models import Event
from tasks import board, dependencies, many, pausing, queue
from tasks.forms import AddTaskForm, QueueFilters
from tasks.models import Priority, Status, Task

ACTIONS = {
    "cancel": ("Cancelled", lambda task_id, who, data: queue.cancel(task_id, by=who)),
    "retry": ("Retried", lambda task_id, who, data: queue.retry(task_id, by=who)),
    "requeue": ("Requeued", lambda task_id, who, data: queue.requeue(task_id, by=who)),
    "reprioritize": (
        "Reprioritized",
        lambda task_id, who, data: queue.reprioritize(task_id, data.get("priority", ""), by=who),
    ),
}
# Bulk actions take the ticked rows of the page; more than this is a mistake.
MAX_BULK = 1000
TIMELINE_ROWS = 500
# The status tabs count exactly up to this many tasks, then say "10k+".
COUNT_CAP = 10_000


def _listing_context(request, params):
    form = QueueFilters(params)
    filters = form.filters()
    try:
        offset = max(int(params.get("offset", 0)), 0)
    except ValueError:
        offset = 0
    tasks, more = board.listing(**filters, offset=offset, limit=PAGE_ROWS)
    query = {k: v for k, v in params.items() if k in form.fields and v}
    # "Show more" brings rows only; the tabs are counted with the first page.
    tabs = None if offset else _tabs(form, filters, query)
    return {
        "tabs": tabs,
        # No task at all (in the project chosen): say how to add one.
        "queue_empty": bool(tabs) and tabs[-1][2] == "0",
        "form": form,
        "tasks": tasks,
        "more": more,
        "offset": offset,
        "query": urlencode(query),
        "more_query": urlencode({**query, "offset": offset + PAGE_ROWS}),
        "priorities": Priority.choices,
        "back": _back(request),
    }


def _tabs(form, filters, query):
    """(status filter, label, count text, url query, current) per tab: active, each status, all.

    A tab of several statuses is their sum: exact while each of them is, else "10k+".
    """
    counts = board.capped_counts(COUNT_CAP, project=filters["project"], priority=filters["priority"])
    current = (form.cleaned_data.get("status") if form.is_valid() else "") or "active"
    labels = dict(Status.choices)

    def text(statuses):
        if any(counts[s] > COUNT_CAP for s in statuses):
            return upto(COUNT_CAP + 1, COUNT_CAP)
        return f"{sum(counts[s] for s in statuses):,}"

    rows = [("active", "Active", text(board.ACTIVE))]
    rows += [(status, labels[status], text([status])) for status in board.LISTING_ORDER]
    rows.append(("all", "All", text(board.LISTING_ORDER)))
    rest = {k: v for k, v in query.items() if k not in ("status", "offset")}
    return [(key, label, n, urlencode({**rest, "status": key}), key == current) for key, label, n in rows]


def _back(request):
    """Where a no-JavaScript form post returns to: the page the user is looking at."""
    if request.htmx and request.htmx.current_url_abs_path:
        return request.htmx.current_url_abs_path
    return request.get_full_path()


@require_GET
@viewer_required
def queue_page(request):
    context = _listing_context(request, request.GET)
    context["paused"] = list(pausing.paused_projects().values())
    context["add_form"] = AddTaskForm()
    # "Load more" asks for the next rows only.
    fragment = "rows" if context["offset"] else "results"
    return render_page(request, "tasks/queue.html", fragment, context)


@require_GET
@viewer_required
def detail(request, task_id):
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        raise Http404(f"no task with id {task_id!r}")
    events = list(Event.objects.for_task(task_id).order_by("id")[: TIMELINE_ROWS + 1])
    waits_for, waited_on_by = dependencies.of(task)
    context = {
        "task": task,
        "waits_for": waits_for,
        "waited_on_by": waited_on_by,
        # Its own events: the page names the task already, so no lookup.
        "events": describe.annotate(events[:TIMELINE_ROWS], titles={}),
        "more_events": len(events) > TIMELINE_ROWS,
        "priorities": Priority.choices,
        "back": _back(request),
        "view": "detail",
    }
    return render_page(request, "tasks/detail.html", "summary", context)


@require_POST
@operator_required
def act(request, task_id, action):
    if action not in ACTIONS:
        raise Http404(f"no action {action!r}")
    done, change = ACTIONS[action]
    task = None
    try:
        task = change(task_id, by(request), request.POST)
        messages.success(request, f"{done} task {task.id}.")
    except NotFound as e:
        messages.error(request, str(e))
    except ADTError as e:
        messages.error(request, str(e))
        task = Task.objects.filter(pk=task_id).first()
    if not request.htmx:
        return _redirect_back(request)
    context = {"task": task, "priorities": Priority.choices, "back": _back(request)}
    if request.POST.get("view") == "detail":
        context["view"] = "detail"
        if task is not None:
            context["waits_for"], context["waited_on_by"] = dependencies.of(task)
        return render(request, "tasks/detail.html#acted", context)
    return render(request, "tasks/queue.html#acted", context)


@require_POST
@operator_required
def add(request):
    """The "Add task" form: queue.add with the form's options; refused, the form again with the reason."""
    form = AddTaskForm(request.POST)
    if form.is_valid():
        try:
            # options() reads the time through queue.start_time, which may refuse too;
            # queue.add checks the rest and writes nothing when it refuses.
            task, created = queue.add(**form.options(), by=by(request))
        except ADTError as e:
            form.add_error(None, str(e))
        else:
            if created:
                messages.success(request, f"Added task {task.id} to {task.project} ({task.get_status_display().lower()}).")
            else:
                messages.info(request, f"Task {task.id} of {task.project} has the key {task.unique_key!r} and is "
                                       "unfinished: nothing added.")
            if request.htmx:
                # The new task belongs somewhere in the listing: show the page again.
                return HttpResponseClientRefresh()
            return _redirect_back(request)
    context = {"add_form": form, "add_open": True, "back": _back(request)}
    if request.htmx:
        return render(request, "tasks/queue.html#add_form", context)
    context.update(_listing_context(request, request.GET), paused=list(pausing.paused_projects().values()))
    return render(request, "tasks/queue.html", context, status=400)


# Bulk actions that take tasks away (from the queue, or from the agent holding
# them) are asked twice: the first post shows what they would do.
CONFIRM_BULK = {"cancel", "requeue"}


def _confirmation(action, ids):
    """What a bulk change would take away: how many of the tasks agents hold, and which agents (one query)."""
    held = dict(Task.objects.filter(id__in=ids, status=Status.IN_PROGRESS).values_list("id", "assigned_to"))
    return {"action": action, "verb": action.capitalize(), "ids": ids, "held": len(held),
            "agents": sorted({a for a in held.values() if a})}


@require_POST
@operator_required
def bulk(request):
    action = request.POST.get("action", "")
    ids = list(dict.fromkeys(request.POST.getlist("ids")))
    if action in CONFIRM_BULK and ids and len(ids) <= MAX_BULK and not request.POST.get("confirmed"):
        context = _listing_context(request, request.GET)
        context["confirm"] = _confirmation(action, ids)
        if request.htmx:
            return render(request, "tasks/queue.html#results", context)
        context.update(paused=list(pausing.paused_projects().values()), add_form=AddTaskForm())
        return render(request, "tasks/queue.html", context)
    if action not in ACTIONS:
        messages.error(request, "Choose what to do with the selected tasks.")
    elif not ids:
        messages.error(request, "Select at least one task.")
    elif len(ids) > MAX_BULK:
        messages.error(request, f"{len(ids)} tasks selected; at most {MAX_BULK} at a time.")
    else:
        done, change = ACTIONS[action]
        who = by(request)
        for level, text in many.apply(ids, lambda task_id: change(task_id, who, request.POST), done):
            messages.add_message(request, level, text)
    if not request.htmx:
        return _redirect_back(request)
    return render(request, "tasks/queue.html#bulked", _listing_context(request, request.GET))


def _redirect_back(request):
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = "tasks:queue"
    return redirect(target)
