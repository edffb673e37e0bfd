"""Admin change lists over tables of millions of rows.

Django's admin counts every matching row on each page load (twice, without
show_full_result_count=False). At 10M events that is most of a second, so
these lists count at most CAP rows and say "more than CAP" past that.
"""

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

from common.templatetags.adt_format import ago, compact_json


class CappedPaginator(Paginator):
    cap = 10_000

    def __init__(self, *args, count_column="pk", **kwargs):
        super().__init__(*args, **kwargs)
        self.count_column = count_column

    @cached_property
    def count(self):
        # COUNT(*) over a LIMITed subquery: walks at most cap+1 index entries.
        # Unordered, since order cannot change the count: the database may
        # then pick a covering index and skip sorting ties. Selecting a column
        # every filter's index holds keeps it in the index: a text primary key
        # (tasks) is not in them, and fetching it visits each row.
        return self.object_list.order_by().values(self.count_column)[: self.cap + 1].count()

    @property
    def capped(self):
        return self.count > self.cap


def when(name, description=None):
    """A change-list column for the datetime field `name`: "3 min ago", the exact
    UTC time on hover, as on the app's pages; sorted by the field.

    Also a fraction of the cost of the admin's localized date format, which a
    100-row list pays on every row's every time column.
    """

    @admin.display(description=description or name.replace("_", " "), ordering=name)
    def column(obj):
        return ago(getattr(obj, name))

    column.__name__ = name
    return column


def first_lines(name, description=None):
    """A change-list column for the JSON field `name` on one line, shown in its
    first lines (CSS .clamp): a long value no longer makes its row tall."""

    @admin.display(description=description or name.replace("_", " "))
    def column(obj):
        return format_html('<span class="clamp">{}</span>', compact_json(getattr(obj, name)))

    column.__name__ = name
    return column


class ReadOnly:
    """An admin that only shows: its rows change through the domain modules (actions, commands)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BigTableAdmin(admin.ModelAdmin):
    """A ModelAdmin whose change list costs the same at 1,000 rows and at 10M."""

    paginator = CappedPaginator
    show_full_result_count = False
    # Facet counts are one GROUP BY per filter over the whole table.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    # "Show all" would load every row.
    list_max_show_all = 0
    # What the capped count selects: a column in every index the filters use.
    count_column = "pk"

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, count_column=self.count_column)

    def action_checkbox(self, obj):
        # The markup of Django's, in one format_html: Django renders each row's
        # box through the form widget templates, a fifth of a 100-row page.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME, obj.pk, _("Select this object for an action - {}").format(obj),
        )
