"""Checks of what a caller asks for, shared by the queue's changes."""

from common.errors import InvalidInput, NotFound
from projects.models import Project
from tasks.models import Priority


def whole_number(value, minimum):
    """A config or option value that must be an int (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_priority(priority):
    if priority not in Priority.values:
        raise InvalidInput(f"unknown priority {priority!r} (choose from {', '.join(Priority.values)})")
    return priority


def check_project(name):
    if not name or not Project.objects.filter(pk=name).exists():
        raise NotFound(f"unknown project {name!r} (register it with register_project)")
    return name


def check_timeout(timeout):
    if timeout is not None and not whole_number(timeout, 1):
        raise InvalidInput(f"a time limit must be a whole number of seconds, 1 or more, not {timeout!r}")
    return timeout
