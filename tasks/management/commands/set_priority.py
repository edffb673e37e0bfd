from common.cli import ADTCommand, cli_user
from tasks import queue
from tasks.models import Priority
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Change a task's priority."

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("priority", choices=Priority.values)

    def handle(self, *args, **options):
        task = queue.reprioritize(options["task_id"], options["priority"], by=cli_user())
        self.emit(task_dict(task), f"reprioritized {task_line(task)}")
