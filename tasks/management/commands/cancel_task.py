from common.cli import ADTCommand, cli_user
from tasks import queue
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Cancel a pending or in-progress task."

    def add_arguments(self, parser):
        parser.add_argument("task_id")

    def handle(self, *args, **options):
        task = queue.cancel(options["task_id"], by=cli_user())
        self.emit(task_dict(task), f"cancelled {task_line(task)}")
