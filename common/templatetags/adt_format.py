"""Small display filters shared by the web pages."""

import json
from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe

from common import durations

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
    return "never" if value is None else durations.short(value)


def _span(total):
    """A length of time in words people read at a glance: 45 s, 3 min, 2 h 5 min, 4 d."""
    total = int(total)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min"
    if total < 86400:
        hours, minutes = divmod(total // 60, 60)
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    return f"{total // 86400} d"


def relative_text(moment, now):
    """"3 min ago", "in 2 h", "just now" for `moment` seen at `now`."""
    delta = (now - moment).total_seconds()
    if abs(delta) < 5:
        return "just now"
    return f"{_span(delta)} ago" if delta > 0 else f"in {_span(-delta)}"


@register.filter
def ago(moment, now=None):
    """<time datetime="ISO" title="exact UTC">3 min ago</time>; a dash for no time.

    Computed on the server at render time, so a page (or an htmx poll of it)
    refreshes the words whenever it is rendered; `now` lets a page render every
    row against one instant.
    """
    if moment is None:
        return "—"
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    now = now if isinstance(now, datetime) else timezone.now()
    exact = moment.astimezone(UTC)
    # Digits and our own words only, nothing to escape: a list page calls this per row.
    return mark_safe(
        f'<time datetime="{exact.isoformat(timespec="seconds").replace("+00:00", "Z")}" '
        f'title="{exact.strftime("%Y-%m-%d %H:%M:%S")} UTC">{relative_text(moment, now)}</time>'
    )


@register.filter
def exact(moment):
    """The exact UTC time, "2026-12-01 14:05:09 UTC"; a dash for none. (Django's date filter, localized, costs more per row.)"""
    if moment is None:
        return "—"
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


@register.filter
def duration(value):
    """Seconds as a length of time: "45 s", "2 h 5 min", "3 d"; a dash for none."""
    if value is None or value == "":
        return "—"
    return _span(max(float(value), 0))


def short_number(n):
    """500000 → 500k, 1200000 → 1.2M, 950 → 950 (one decimal, dropped when it is 0)."""
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= size * 0.9995:
            return f"{round(n / size, 1):g}{unit}" if n < size * 999.95 else f"{round(n / size):,}{unit}"
    return str(n)


@register.filter
def upto(n, cap):
    """A count read with a cap (see tasks.board.capped_counts): exact up to `cap`, then "10k+"."""
    if n is None:
        return ""
    cap = int(cap)
    return f"{short_number(cap)}+" if n > cap else f"{n:,}"


@register.filter
def compact(n):
    """A big number short enough for a small card: 1234567 → 1.2M (the page puts the exact one in a title)."""
    return short_number(n) if isinstance(n, int) else n


@register.filter(is_safe=True)
def clip(text, length):
    """The first `length` characters, "…" ending what was cut: truncatechars for lists, without its per-character walk."""
    if text is None:
        return ""
    text, length = str(text), int(length)
    return text if len(text) <= length else text[: length - 1] + "…"
