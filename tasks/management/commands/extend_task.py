from common.cli import ADTCommand, datetime_argument
from tasks import queue
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = (
        "Push a held task's deadline out to now + --seconds (default: the task's time limit). "
        "Only the agent holding it may."
    )

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("--agent", required=True)
        parser.add_argument("--seconds", type=int, help="New deadline, counted from now.")
        parser.add_argument("--lease", help="The lease printed by claim_task: refuse if the task was claimed again since.")

    def handle(self, *args, **options):
        lease = datetime_argument(options["lease"], "--lease")
        task = queue.extend(options["task_id"], options["agent"], options["seconds"], lease=lease)
        self.emit(task_dict(task), f"extended to {task.deadline.isoformat()} {task_line(task)}")
