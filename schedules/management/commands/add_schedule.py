from common.cli import ADTCommand, cli_user
from schedules import recurring
from schedules.output import schedule_dict, schedule_line
from tasks.models import Priority


class Command(ADTCommand):
    help = "Add a recurring task: at each time of a cron expression, one task is enqueued."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Letters, digits, '.', '_' or '-'.")
        parser.add_argument("--project", required=True)
        parser.add_argument("--cron", required=True, help='Five fields, e.g. "0 3 * * *" (every day at 03:00).')
        parser.add_argument("--description", required=True, help="The description of each task.")
        parser.add_argument("--priority", default=Priority.NORMAL, choices=Priority.values)
        parser.add_argument("--timeout", type=int, metavar="SECONDS", help="Each task's time limit once claimed.")
        parser.add_argument("--timezone", default="UTC", help="The zone the expression is read in (default UTC).")
        parser.add_argument("--replace", action="store_true", help="Change the schedule of this name if it exists.")

    def handle(self, *args, **options):
        schedule = recurring.add(
            options["name"], options["project"], options["cron"], options["description"], options["priority"],
            options["timeout"], zone=options["timezone"], replace=options["replace"], by=cli_user(),
        )
        self.emit(schedule_dict(schedule), f"scheduled {schedule_line(schedule)}")
