"""Admin for the queue (tasks.db). Tasks are added and changed only through tasks.queue,
which writes each change's event."""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm

from common.errors import ADTError
from common.paging import BigTableAdmin, ReadOnly, when
from common.web import OperatorActions, by
from projects.admin import ProjectFilter
from tasks import checks, many, pausing, queue
from tasks.models import PRIORITY_RANK, Pause, Priority, Task, priority_rank

TASK_ID = re.compile(r"[0-9a-f]{16}")
# An action takes at most this many tasks (one queue call each).
MAX_ACTION = 1000
CREATED, COMPLETED = when("created_at", "created"), when("completed_at", "completed")


class PriorityFilter(admin.SimpleListFilter):
    """Filters on the rank expression, so SQLite seeks (status, rank) in
    idx_tasks_claim instead of reading every task of the status (see
    tasks.board.claim_ordered)."""

    title = "priority"
    parameter_name = "priority"

    def lookups(self, request, model_admin):
        return Priority.choices

    def queryset(self, request, queryset):
        if self.value() not in PRIORITY_RANK:
            return queryset
        return queryset.alias(rank=priority_rank()).filter(rank=PRIORITY_RANK[self.value()])


class PriorityActionForm(ActionForm):
    priority = forms.ChoiceField(choices=[("", "new priority…"), *Priority.choices], required=False)


class TaskAddForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ["project", "description", "priority", "metadata"]

    def clean_project(self):
        # What enqueue checks, said on the form rather than as an error page.
        try:
            return checks.check_project(self.cleaned_data["project"])
        except ADTError as e:
            raise forms.ValidationError(str(e)) from None


@admin.register(Task)
class TaskAdmin(OperatorActions, BigTableAdmin):
    list_display = ["id", "project", "short_description", "priority", "status", "assigned_to", CREATED, COMPLETED, "retry_count"]
    list_filter = ["status", PriorityFilter, ProjectFilter]
    search_fields = ["description"]
    search_help_text = "A task id (exact), or words of the description (this reads every task)."
    ordering = ["-created_at"]
    # In idx_tasks_created, idx_tasks_claim and both project indexes.
    count_column = "created_at"

    def get_ordering(self, request):
        # Each order is one an index gives with the filters chosen. Filtered by
        # status: claim order, from idx_tasks_claim (idx_tasks_project_claim
        # with a project); one priority is one rank, so then just created_at.
        # Otherwise newest first, from idx_tasks_created (or
        # idx_tasks_project_created). An index on (status, created_at) would
        # also do, but every claim would have to update it.
        if request.GET.get("status__exact"):
            return ["created_at"] if request.GET.get("priority") else [priority_rank().asc(), "created_at"]
        return ["-created_at"]

    def get_sortable_by(self, request):
        # Only columns an index can sort; any other would sort a million rows.
        return [] if request.GET.get("status__exact") else [CREATED, COMPLETED]
    action_form = PriorityActionForm
    actions = ["cancel", "retry", "set_priority"]

    @admin.display(description="description")
    def short_description(self, task):
        return task.description[:80]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if TASK_ID.fullmatch(term):
            return queryset.filter(pk=term), False
        return super().get_search_results(request, queryset, search_term)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TaskAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return TaskAddForm._meta.fields if obj is None else [f.name for f in Task._meta.fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [f.name for f in Task._meta.fields]

    def save_model(self, request, obj, form, change):
        task = queue.enqueue(obj.project, obj.description, obj.priority, obj.metadata, by=by(request))
        for field in Task._meta.concrete_fields:
            setattr(obj, field.attname, getattr(task, field.attname))
        obj._state.adding = False
        obj._state.db = task._state.db

    def has_change_permission(self, request, obj=None):
        # A task's state changes only through the actions below.
        return False

    def has_delete_permission(self, request, obj=None):
        # Finished tasks leave through archiving, which keeps them.
        return False

    def _each(self, request, queryset, change, done):
        ids = list(queryset.values_list("pk", flat=True)[: MAX_ACTION + 1])
        if len(ids) > MAX_ACTION:
            self.message_user(request, f"More than {MAX_ACTION} tasks selected; narrow the filter.", messages.ERROR)
            return
        for level, text in many.apply(ids, change, done):
            self.message_user(request, text, level)

    @admin.action(description="Cancel the selected tasks", permissions=["act"])
    def cancel(self, request, queryset):
        self._each(request, queryset, lambda task_id: queue.cancel(task_id, by=by(request)), "Cancelled")

    @admin.action(description="Retry the selected tasks (failed or cancelled)", permissions=["act"])
    def retry(self, request, queryset):
        self._each(request, queryset, lambda task_id: queue.retry(task_id, by=by(request)), "Retried")

    @admin.action(description="Set the priority of the selected tasks", permissions=["act"])
    def set_priority(self, request, queryset):
        priority = request.POST.get("priority", "")
        if priority not in Priority.values:
            self.message_user(request, "Choose the new priority next to the action.", messages.ERROR)
            return
        self._each(
            request, queryset, lambda task_id: queue.reprioritize(task_id, priority, by=by(request)), f"Set to {priority}:"
        )


@admin.register(Pause)
class PauseAdmin(OperatorActions, ReadOnly, admin.ModelAdmin):
    """Paused projects; pausing is pause_project or the projects page, resuming the action here too."""

    list_display = ["project", "paused_at", "paused_by", "reason"]
    actions = ["resume"]

    @admin.action(description="Resume the selected projects", permissions=["act"])
    def resume(self, request, queryset):
        for project in list(queryset.values_list("project", flat=True)):
            try:
                released = pausing.resume(project, by=by(request))
                self.message_user(request, f"Resumed {project}: {released} task(s) pending again.")
            except ADTError as e:
                self.message_user(request, str(e), messages.ERROR)
