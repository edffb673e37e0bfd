"""Small display filters shared by the web pages."""

import json

from django import template

register = template.Library()


@register.filter
def compact_json(value):
    """An event's data on one line."""
    if value is None:
        return ""
    return json.dumps(value, separators=(", ", ": "), sort_keys=True, default=str)


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def seconds(value):
    """12 s, 4 min, 3 h, 2 d; a dash for never."""
    if value is None:
        return "never"
    value = int(value)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if value >= size:
            return f"{value // size} {unit}"
    return f"{value} s"
