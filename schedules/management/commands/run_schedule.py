from common.cli import ADTCommand, cli_user
from schedules import recurring
from tasks.output import task_dict, task_line


class Command(ADTCommand):
    help = "Enqueue one task of a schedule now, outside its times."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, **options):
        task = recurring.run_now(options["name"], by=cli_user())
        self.emit(task_dict(task), f"added {task_line(task)}")
