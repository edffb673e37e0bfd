from common.cli import ADTCommand, cli_user
from schedules import recurring


class Command(ADTCommand):
    help = "Remove a recurring task (tasks it already enqueued stay)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, **options):
        recurring.remove(options["name"], by=cli_user())
        self.emit({"name": options["name"], "removed": True}, f"removed schedule {options['name']}")
