from common.cli import ADTCommand, cli_user
from tasks import pausing


class Command(ADTCommand):
    help = "Resume a paused project: its held-back tasks become pending again."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("--by", default=cli_user(), help="Who resumed it (default: this user).")

    def handle(self, *args, **options):
        released = pausing.resume(options["project"], by=options["by"])
        self.emit({"project": options["project"], "tasks_released": released},
                  f"resumed {options['project']}: {released} task(s) pending again")
