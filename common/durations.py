"""Durations as people write them: 90s, 10m, 2h, 1d."""

from common.errors import InvalidInput

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value, name):
    """Seconds from "90s", "10m", "2h" or "1d" (a bare number is seconds); None stays None."""
    if value is None:
        return None
    text = str(value).strip().lower()
    unit = UNITS.get(text[-1:], None)
    number = text[:-1] if unit else text
    if not number.isdigit() or int(number) == 0:
        raise InvalidInput(f"{name} must be a duration such as 90s, 10m, 2h or 1d, not {value!r}")
    return int(number) * (unit or 1)


def short(value):
    """Seconds in one unit, rounded down: 12 s, 4 min, 3 h, 2 d."""
    value = int(value)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if value >= size:
            return f"{value // size} {unit}"
    return f"{value} s"
