from common.cli import ADTCommand, datetime_argument
from tasks import queue
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Mark a task completed. Only the agent holding it may."

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("--agent", required=True)
        parser.add_argument("--result")
        parser.add_argument("--lease", help="The lease printed by claim_task: refuse if the task was claimed again since.")

    def handle(self, *args, **options):
        lease = datetime_argument(options["lease"], "--lease")
        task = queue.complete(options["task_id"], options["agent"], options["result"], lease=lease)
        self.emit(task_dict(task), f"completed {task_line(task)}")
