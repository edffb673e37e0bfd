from django.contrib import admin, messages

from common.errors import ADTError
from common.paging import ReadOnly
from common.web import OperatorActions, by
from schedules import recurring
from schedules.models import Schedule


@admin.register(Schedule)
class ScheduleAdmin(OperatorActions, ReadOnly, admin.ModelAdmin):
    """Read-only: schedules change through add_schedule / remove_schedule, which write their events."""

    list_display = ["name", "project", "cron", "zone", "priority", "last_slot", "last_task", "last_error"]
    list_filter = ["project"]
    search_fields = ["name", "description"]
    actions = ["run_now", "remove"]

    @admin.action(description="Run the selected schedules now (one task each)", permissions=["act"])
    def run_now(self, request, queryset):
        for name in queryset.values_list("name", flat=True):
            try:
                task = recurring.run_now(name, by=by(request))
                self.message_user(request, f"Added task {task.id} from {name}.")
            except ADTError as e:
                self.message_user(request, str(e), messages.ERROR)

    @admin.action(description="Remove the selected schedules (their tasks stay)", permissions=["act"])
    def remove(self, request, queryset):
        for name in list(queryset.values_list("name", flat=True)):
            recurring.remove(name, by=by(request))
            self.message_user(request, f"Removed schedule {name}.")
