"""Admin for events and agent runs (logs.db): read-only; the domain modules write them."""

from django.contrib import admin

from common.paging import BigTableAdmin, ReadOnly, first_lines, when
from events.models import AgentRun, Event
from events.views import KNOWN_TYPES
from projects.admin import ProjectFilter


class TypeFilter(admin.SimpleListFilter):
    """The types the domain writes, not a DISTINCT over 10M events."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(t, t) for t in KNOWN_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


class ReadOnlyAdmin(ReadOnly, BigTableAdmin):
    pass


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    timestamp = when("timestamp", "time")
    list_display = ["id", timestamp, "level", "type", "project", "agent", "task_id", first_lines("data")]
    list_filter = ["level", TypeFilter, ProjectFilter]
    search_fields = ["task_id"]
    search_help_text = "A task id: that task's events (exact match, from the task_id index)."
    ordering = ["-id"]
    sortable_by = ["id", timestamp]

    def get_search_results(self, request, queryset, search_term):
        # Exact, so idx_events_task answers it; LIKE '%…%' would read every event.
        term = search_term.strip()
        return (queryset.filter(task_id=term) if term else queryset), False


@admin.register(AgentRun)
class AgentRunAdmin(ReadOnlyAdmin):
    started, ended = when("started_at", "started"), when("ended_at", "ended")
    list_display = ["id", "project", "provider", "task", started, ended, "status", "exit_code", "error"]
    list_filter = ["status", ProjectFilter]
    search_fields = ["task"]
    search_help_text = "A task id: the runs of that task (exact match)."
    ordering = ["-started_at"]
    sortable_by = ["id", started]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(task=term) if term else queryset), False
