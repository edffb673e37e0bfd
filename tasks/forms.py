"""The queue page's filters."""

from django import forms

from projects.models import Project
from tasks import board
from tasks.models import Priority, Status

STATUS_FILTERS = {
    "active": board.ACTIVE,
    "waiting": board.WAITING,
    "all": board.LISTING_ORDER,
    **{status: (status,) for status in Status.values},
}


class QueueFilters(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("active", "Active (in progress, pending)"), ("waiting", "Waiting (paused, blocked, scheduled)"),
                 ("all", "All statuses"), *Status.choices],
        widget=forms.Select(attrs={"aria-label": "status"}),
    )
    # The filters show no labels of their own: screen readers get these names.
    project = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "project"}))
    priority = forms.ChoiceField(required=False, choices=[("", "Any priority"), *Priority.choices],
                                 widget=forms.Select(attrs={"aria-label": "priority"}))
    q = forms.CharField(required=False, max_length=200, label="Text")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The registry in main.db: a few rows, not a DISTINCT over the tasks.
        names = Project.objects.values_list("name", flat=True)
        self.fields["project"].choices = [("", "Any project"), *((n, n) for n in names)]

    def filters(self):
        """The valid filters (the defaults in place of invalid ones)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "statuses": STATUS_FILTERS[data.get("status") or "active"],
            "project": data.get("project") or None,
            "priority": data.get("priority") or None,
            "text": (data.get("q") or "").strip() or None,
        }
