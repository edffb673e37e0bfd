import json
import signal
import sys

from common.cli import ADTCommand
from common.errors import InvalidInput
from events import fanout


class Command(ADTCommand):
    help = (
        "Print the newest events of logs.db; with --follow, keep printing events as they land "
        "(woken by Redis when ADT_REDIS_URL is set, else polling once a second). "
        "--after ID resumes after an event id, missing none and doubling none."
    )

    def add_arguments(self, parser):
        parser.add_argument("--follow", "-f", action="store_true", help="Keep printing new events until interrupted.")
        parser.add_argument("--project", help="Only this project's events.")
        parser.add_argument("--type", help="Only events of this type; `task.*` or `task.` for every task event.")
        parser.add_argument("--lines", "-n", default="10", metavar="N", help="How many of the newest events to print first (default 10).")
        parser.add_argument("--after", default=None, metavar="ID", help="Start after this event id instead (prints everything since).")

    def handle(self, *args, **options):
        lines = whole_number_argument(options["lines"], "--lines")
        after = None if options["after"] is None else whole_number_argument(options["after"], "--after")
        if options["type"] is not None and not options["type"].strip("*. "):
            raise InvalidInput("--type needs a type, like task.claimed or task.*")
        project, type = options["project"], options["type"]
        if after is None:
            backlog = fanout.last(lines, project, type) if lines else []
            for event in backlog:
                self.show(event)
            after = backlog[-1].id if backlog else fanout.newest_id()
        if not options["follow"]:
            if options["after"] is not None:
                for event in fanout.since(after, project, type):
                    self.show(event)
            return
        # Ctrl-C, a kill or a closed pipe (| head) ends the follow quietly.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            for event in fanout.follow(after, project, type):
                self.show(event)
        except KeyboardInterrupt:
            pass

    def show(self, event):
        """One line per event; with --json one JSON object per line (JSON Lines)."""
        if self.as_json:
            row = {
                "id": event.id, "timestamp": event.timestamp.isoformat() if event.timestamp else None,
                "type": event.type, "project": event.project, "agent": event.agent,
                "task_id": event.task_id, "level": event.level, "data": event.data,
            }
            line = json.dumps(row, sort_keys=True, default=str)
        else:
            when = f"{event.timestamp:%Y-%m-%d %H:%M:%S}" if event.timestamp else "-" * 19
            who = " ".join(f"{k}={v}" for k, v in (("project", event.project), ("agent", event.agent), ("task", event.task_id)) if v)
            data = f"  {json.dumps(event.data, sort_keys=True, default=str)}" if event.data else ""
            line = f"{event.id}  {when}  {event.level:<5}  {event.type}  {who}{data}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def whole_number_argument(value, name):
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise InvalidInput(f"{name} must be a whole number, 0 or more, not {value!r}")
    return number
