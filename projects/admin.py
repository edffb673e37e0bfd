"""Admin helpers of the registry that other apps' admins use. The project and
agent admins live in agents/admin.py: saving a project registers its agent."""

from django.contrib import admin

from projects.models import Project


class ProjectFilter(admin.SimpleListFilter):
    """Filter a big table by project, offering the registry's names (main.db)
    instead of a DISTINCT over millions of rows."""

    title = "project"
    parameter_name = "project"

    def lookups(self, request, model_admin):
        return [(name, name) for name in Project.objects.values_list("name", flat=True)]

    def queryset(self, request, queryset):
        return queryset.filter(project=self.value()) if self.value() else queryset
