"""The live event feed: the page, and the poll that brings only newer events."""

from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from common.web import PAGE_ROWS, render_page, viewer_required
from events import describe, history
from events.models import Event, Level
from projects.models import Project

# Offered in the type filter: the ones the domain modules write. A prefix
# ("task.") matches every known type it begins; any other value is matched exactly.
KNOWN_TYPES = [
    "task.created", "task.scheduled", "task.due", "task.blocked", "task.unblocked", "task.claimed",
    "task.completed", "task.attempt_failed", "task.failed", "task.retried", "task.cancelled", "task.extended",
    "task.requeued", "task.reprioritized", "task.dependency_added",
    "agent.started", "agent.stopped", "agent.error", "agent.stale", "agent.recovered",
    "project.registered", "project.updated", "project.paused", "project.resumed",
    "schedule.added", "schedule.changed", "schedule.removed",
]
PREFIXES = list(dict.fromkeys(t.split(".")[0] + "." for t in KNOWN_TYPES))
# One poll brings at most this many events; the next poll brings the rest.
POLL_ROWS = 200


def matching_types(value):
    """The types a type filter finds: itself if known, else the known types it begins, and itself."""
    if value in KNOWN_TYPES:
        return [value]
    found = [t for t in KNOWN_TYPES if t.startswith(value)]
    return found if value.endswith(".") else [*found, value]


class FeedFilters(forms.Form):
    # The filters show no labels of their own: screen readers get these names.
    project = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "project"}))
    type = forms.CharField(required=False, max_length=100)
    level = forms.ChoiceField(required=False, choices=[("", "Any level"), *Level.choices],
                              widget=forms.Select(attrs={"aria-label": "level"}))
    # The search: the filters above over a time range (from ClickHouse when configured).
    days = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, widget=forms.Select(attrs={"aria-label": "time range"}), choices=[
        ("", "Any time"), ("1", "Last 24 hours"), ("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"),
        ("365", "Last year"),
    ])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = Project.objects.values_list("name", flat=True)
        self.fields["project"].choices = [("", "Any project"), *((n, n) for n in names)]

    def filters(self):
        data = self.cleaned_data if self.is_valid() else {}
        return {field: value for field in ("project", "type", "level") if (value := (data.get(field) or "").strip())}

    def since(self, now):
        days = self.cleaned_data.get("days") if self.is_valid() else None
        return now - timedelta(days=days) if days else None

    def apply(self, queryset):
        # Each of these has its own index, which also yields rows in id order.
        queryset = queryset.filter(**self.filters())
        if since := self.since(timezone.now()):
            queryset = queryset.filter(timestamp__gte=since)
        return queryset

    def value(self, field):
        data = self.cleaned_data if self.is_valid() else {}
        return (data.get(field) or "").strip()

    def rows(self, queryset, order, limit):
        """Up to `limit` matching events of `queryset` in `order` ("id" or "-id").

        Each filter has its own index, which also yields rows in id order. A
        type prefix reads each type's index apart (ids only, `limit` each),
        merges them here and fetches the page by id: bounded by the limit,
        where one `type IN (…)` would sort every match.
        """
        for field in ("project", "level"):
            if value := self.value(field):
                queryset = queryset.filter(**{field: value})
        types = matching_types(self.value("type")) if self.value("type") else []
        if len(types) <= 1:
            if types:
                queryset = queryset.filter(type=types[0])
            return list(queryset.order_by(order)[:limit])
        ids = []
        for type in types:
            ids += queryset.filter(type=type).order_by(order).values_list("id", flat=True)[:limit]
        ids = sorted(ids, reverse=order.startswith("-"))[:limit]
        return list(Event.objects.filter(id__in=ids).order_by(order)) if ids else []

    def query(self):
        data = self.cleaned_data if self.is_valid() else {}
        return urlencode({k: v for k, v in data.items() if v})

    def nothing_found(self):
        """What to say when the filters match no event, or None without filters."""
        chosen = {field: self.value(field) for field in ("project", "type", "level") if self.value(field)}
        if not chosen:
            return None
        what = " ".join(filter(None, [chosen.get("level"), chosen.get("type")]))
        where = f" in project {chosen['project']}" if "project" in chosen else ""
        said = f"No {what} events{where}" if what else f"No events{where}"
        type = chosen.get("type", "")
        if type and not type.endswith(".") and "." in type:
            hint = f"try {type.split('.')[0]}. for every {type.split('.')[0]} event, or clear the filters"
        else:
            hint = "try another type or level, or clear the filters"
        return f"{said} — {hint}."


@require_GET
@viewer_required
def event_list(request):
    form = FeedFilters(request.GET)
    filters, since = form.filters(), form.since(timezone.now())
    counts = notice = None
    one_type = not filters.get("type") or len(matching_types(filters["type"])) == 1
    if since and one_type:
        # A search over a time range: history reads ClickHouse when configured (months), else logs.db.
        found = history.search(filters, since, limit=PAGE_ROWS)
        events, notice = describe.annotate(found.rows), found.notice
        by_type = history.counts_by_type({k: v for k, v in filters.items() if k != "type"}, since)
        counts, notice = by_type.rows, notice or by_type.notice
    else:
        # The newest events, as the live feed shows them: logs.db has them.
        recent = Event.objects.filter(timestamp__gte=since) if since else Event.objects.all()
        events = describe.annotate(form.rows(recent, "-id", PAGE_ROWS))
    # The cursor: the newest event shown, else the newest of all (so the
    # poll starts from now, not from the beginning of time).
    cursor = events[0].id if events else (Event.objects.order_by("-id").values_list("id", flat=True).first() or 0)
    context = {
        "form": form, "events": events, "cursor": cursor, "filter_query": form.query(),
        "types": KNOWN_TYPES, "prefixes": PREFIXES, "type": form.value("type"),
        "nothing_found": form.nothing_found(), "counts": counts, "notice": notice,
    }
    return render_page(request, "events/feed.html", "feed", context)


@require_GET
@viewer_required
def feed(request):
    """Events after `after` (the seed's cursor: id > last seen), newest first.

    204 and no body when there is nothing new; otherwise the rows, and the
    poller again (out of band) carrying the new cursor.
    """
    try:
        after = int(request.GET.get("after", ""))
    except ValueError:
        return HttpResponseBadRequest("after must be an event id (an integer)\n", content_type="text/plain")
    form = FeedFilters(request.GET)
    events = describe.annotate(form.rows(Event.objects.after(after), "id", POLL_ROWS))
    if not events:
        return HttpResponse(status=204)
    context = {"events": events[::-1], "cursor": events[-1].id, "filter_query": form.query(), "oob": True}
    return render(request, "events/feed.html#new", context)
