from common.cli import ADTCommand, cli_user
from tasks import queue
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Make a pending, paused or blocked task wait until other tasks have completed."

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("--after", action="append", required=True, metavar="TASK_ID",
                            help="A task it waits for (repeatable).")

    def handle(self, *args, **options):
        task = queue.add_dependency(options["task_id"], options["after"], by=cli_user())
        self.emit(task_dict(task), f"{task.id} waits for {', '.join(options['after'])}: {task_line(task)}")
