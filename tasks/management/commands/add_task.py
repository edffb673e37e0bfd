from common.cli import ADTCommand, cli_user, datetime_argument, json_argument
from tasks import queue
from tasks.models import Priority
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Add a task to the queue and print it."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--description", required=True)
        parser.add_argument("--priority", default=Priority.NORMAL, choices=Priority.values)
        parser.add_argument("--metadata", help="A JSON value kept with the task.")
        parser.add_argument(
            "--timeout", type=int, metavar="SECONDS",
            help="Time limit once claimed: past it the reaper puts the task back (default: the project's "
            "task_timeout, else ADT_TASK_TIMEOUT, else none).",
        )
        parser.add_argument("--at", metavar="ISO-8601",
                            help="Scheduled: claimable from this time on (UTC unless it gives an offset).")
        parser.add_argument("--in", dest="in_", metavar="DURATION",
                            help="Scheduled: claimable after 90s, 10m, 2h, 1d…")
        parser.add_argument("--after", action="append", metavar="TASK_ID", default=[],
                            help="Blocked until this task has completed (repeatable); cancelled if it fails or is cancelled.")
        parser.add_argument("--unique", metavar="KEY",
                            help="While a task of the project with this key is unfinished, print it instead of adding one.")

    def handle(self, *args, **options):
        metadata = json_argument(options["metadata"], "--metadata")
        run_at = queue.start_time(datetime_argument(options["at"], "--at"), options["in_"])
        task, created = queue.add(options["project"], options["description"], options["priority"], metadata,
                                  timeout=options["timeout"], run_at=run_at, unique_key=options["unique"],
                                  after=options["after"], by=cli_user())
        verb = "added" if created else "already queued"
        self.emit({**task_dict(task), "created": created}, f"{verb} {task_line(task)}")
