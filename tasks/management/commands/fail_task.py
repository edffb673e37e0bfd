from common.cli import ADTCommand, datetime_argument
from tasks import queue
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Report a task failed. It goes back to pending until its retries are used up."

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("--agent", required=True)
        parser.add_argument("--error", required=True)
        parser.add_argument("--lease", help="The lease printed by claim_task: refuse if the task was claimed again since.")

    def handle(self, *args, **options):
        lease = datetime_argument(options["lease"], "--lease")
        task = queue.fail(options["task_id"], options["agent"], options["error"], lease=lease)
        verb = "failed" if task.status == "failed" else "will retry"
        self.emit(task_dict(task), f"{verb} {task_line(task)}")
