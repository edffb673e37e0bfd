from common.cli import ADTCommand, cli_user
from tasks import queue
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Take an in-progress task from its agent and put it back in the queue."

    def add_arguments(self, parser):
        parser.add_argument("task_id")

    def handle(self, *args, **options):
        task = queue.requeue(options["task_id"], by=cli_user())
        self.emit(task_dict(task), f"requeued {task_line(task)}")
