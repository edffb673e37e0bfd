"""Errors the domain modules raise for bad input or an impossible state change.

Commands turn them into a one-line message and their exit status; views into
an HTTP error or a message.
"""


class ADTError(Exception):
    exit_code = 1


class NotFound(ADTError):
    pass


class InvalidInput(ADTError):
    pass


class Conflict(ADTError):
    """The change does not fit the current state (wrong status, not the holder)."""

    exit_code = 4


class NotHolder(Conflict):
    """Acting on what another agent holds (HTTP 403; exit 4 like any conflict)."""


class Busy(ADTError):
    """Another process (on any machine sharing the Redis) is doing this run now: not an error.

    Commands print it as their result and exit 0, so the same cron line can
    run on every machine.
    """

    exit_code = 0

    def __init__(self, run, holder):
        self.run, self.holder = run, holder
        super().__init__(f"skipped: {run} is already running ({holder}, Redis lock); nothing done")
