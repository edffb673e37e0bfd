from common.cli import ADTCommand, json_argument
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

    def handle(self, *args, **options):
        metadata = json_argument(options["metadata"], "--metadata")
        task = queue.enqueue(options["project"], options["description"], options["priority"], metadata,
                             timeout=options["timeout"])
        self.emit(task_dict(task), f"added {task_line(task)}")
