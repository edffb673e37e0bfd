"""The queue page's forms: its filters, and adding a task."""

import json
import re

from django import forms
from django.utils.dateparse import parse_datetime

from projects.models import Project
from tasks import board, queue
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


class AddTaskForm(forms.Form):
    """The queue page's "Add task": the options of add_task, checked here for their
    shape (JSON, a time, ids); everything else is queue.add's to refuse."""

    project = forms.ChoiceField()
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=20_000)
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.NORMAL)
    metadata = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "placeholder": '{"ticket": 42}'}),
        help_text="Optional: a JSON value kept with the task.",
    )
    run_at = forms.CharField(
        required=False, label="Run at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC. Claimable from then on.",
    )
    run_in = forms.CharField(required=False, label="or in", max_length=20,
                             widget=forms.TextInput(attrs={"placeholder": "90s, 10m, 2h, 1d", "size": 10}))
    after = forms.CharField(required=False, label="After tasks", max_length=2000,
                            help_text="Task ids, separated by spaces or commas: it waits until they have completed.")
    unique_key = forms.CharField(required=False, label="Unique key", max_length=200,
                                 help_text="While an unfinished task of the project has this key, no second one is added.")

    def __init__(self, *args, **kwargs):
        # Its own ids: the filters above it on the page have a project and a priority too.
        kwargs.setdefault("auto_id", "add_%s")
        super().__init__(*args, **kwargs)
        names = list(Project.objects.values_list("name", flat=True))
        self.fields["project"].choices = [("", "Choose a project"), *((n, n) for n in names)]
        if len(names) == 1:
            self.fields["project"].initial = names[0]

    def clean_metadata(self):
        text = self.cleaned_data["metadata"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise forms.ValidationError(
                f"Metadata is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}. "
                'Write an object such as {"ticket": 42}, or leave it empty.'
            ) from None

    def clean_run_at(self):
        text = self.cleaned_data["run_at"].strip()
        if not text:
            return None
        moment = parse_datetime(text)
        if moment is None:
            raise forms.ValidationError(f"{text!r} is not a date and time (2026-12-01T16:00).")
        return moment

    def clean_after(self):
        return [i for i in re.split(r"[\s,]+", self.cleaned_data["after"]) if i]

    def options(self):
        """The keyword arguments of queue.add (the time through queue.start_time, which may refuse)."""
        data = self.cleaned_data
        return {
            "project": data["project"],
            "description": data["description"],
            "priority": data["priority"],
            "metadata": data["metadata"],
            "run_at": queue.start_time(data["run_at"], data["run_in"].strip() or None, names=("run at", "run in")),
            "after": data["after"],
            "unique_key": data["unique_key"].strip() or None,
        }
