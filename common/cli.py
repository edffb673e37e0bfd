"""What every ADT command shares: --json, one-line errors, exit statuses.

Exit statuses: 0 done, 1 bad input or not found, 2 bad usage (argparse),
3 nothing to do (claim_task found no task), 4 the change does not fit the
task's current state (e.g. not the holder).
"""

import getpass
import json
import os
import sys
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils.dateparse import parse_datetime

from common import durations
from common.errors import ADTError, Busy


def cli_user():
    """Who ran this command, for the events of its changes: "cli:USER", as the
    web writes "web:USER" and the API "api:AGENT"."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"cli:uid {os.getuid()}"


class ADTCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--json", action="store_true", help="Print one JSON object on stdout.")
        parser.error = _usage_error(parser)
        return parser

    def execute(self, *args, **options):
        self.as_json = options.get("json", False)
        try:
            try:
                return super().execute(*args, **options)
            except Busy as e:
                self.emit({"skipped": True, "run": e.run, "held_by": e.holder}, str(e))
                return None
            except ADTError as e:
                raise CommandError(str(e), returncode=e.exit_code) from None
            except DatabaseError as e:
                message = str(e).splitlines()[0] if str(e) else e.__class__.__name__
                hint = " (run `python manage.py migrate`)" if "no such table" in message else ""
                raise CommandError(f"database error: {message}{hint}") from None
            except CommandError:
                raise
            except Exception as e:
                if options.get("traceback") or not getattr(self, "_called_from_command_line", False):
                    raise
                raise CommandError(f"internal error: {e.__class__.__name__}: {e} (rerun with --traceback for details)") from None
        except CommandError as e:
            if not getattr(self, "_called_from_command_line", False):
                raise
            # One plain line on stderr, for people and for agents parsing it.
            sys.stderr.write(f"error: {e}\n")
            sys.exit(e.returncode)

    def emit(self, data, text):
        """Print `data` as JSON with --json, else `text` (a string or lines)."""
        if self.as_json:
            self.stdout.write(json.dumps(data, default=_json_default, sort_keys=True))
        elif isinstance(text, str):
            self.stdout.write(text)
        else:
            for line in text:
                self.stdout.write(line)


def _usage_error(parser):
    """argparse's error(), one line: `error: …` on stderr and exit 2 instead of the
    usage and then the error (`--help` still prints the whole usage). Called
    from code (call_command), Django's CommandError as before."""
    django_error = parser.error

    def error(message):
        if not parser.called_from_command_line:
            django_error(message)
        sys.stderr.write(f"error: {message} (see --help)\n")
        sys.exit(2)

    return error


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_argument(value, name):
    """Parse a --metadata/--config style argument, or raise a one-line error."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise CommandError(f"{name} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


def datetime_argument(value, name):
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"{name} must be an ISO-8601 date and time, not {value!r}")
    return parsed


def duration_argument(value, name):
    """Seconds from "90s", "10m", "2h" or "1d" (a bare number is seconds)."""
    return durations.seconds(value, name)


class ProgressBar:
    """A progress(done, total) callback for the domain's batch loops: one line
    redrawn in place on a terminal. Call finish() to end the line."""

    def __init__(self, stream, label, width=30):
        self.stream, self.label, self.width = stream, label, width
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, done, total):
        fraction = min(1.0, done / total) if total else 1.0
        filled = int(self.width * fraction)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done:,}/{total:,} {fraction:4.0%} {rate:,.0f} rows/s ")
        self.stream.flush()
        self.drawn = True

    def finish(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def size(n):
    """Bytes for people: 0 B, 4.0 KB, 12.3 MB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
