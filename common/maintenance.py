"""Limits shared by the maintenance runs (archive_tasks, prune_logs), checked once here."""

import math

from common.errors import InvalidInput


def check_days(days):
    """A number of days, zero or more (fractions allowed: 0.5 is twelve hours)."""
    try:
        value = float(days)
    except (TypeError, ValueError):
        raise InvalidInput(f"--older-than must be a number of days, not {days!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(f"--older-than must be zero or more days, not {days!r}")
    return value


def check_batch_size(size):
    """A whole number of rows, 1 or more (a command passes the text it was given)."""
    try:
        value = int(size) if not isinstance(size, bool | float) else None
    except (TypeError, ValueError):
        value = None
    if value is None or value < 1:
        raise InvalidInput(f"--batch-size must be a whole number of rows, 1 or more, not {size!r}")
    return value
