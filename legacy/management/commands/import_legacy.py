from django.conf import settings
from django.core.management.base import CommandError

from common.cli import ADTCommand
from legacy import importer


class Command(ADTCommand):
    help = (
        "Import a file-based ADT folder (config.yml, agents/*.state.json, queue/tasks.json, "
        "logs/agents/*.log) into the databases. Safe to run again: what is there already is left alone. "
        "Exit status 2 when a file or record had to be skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", metavar="DIR",
                            help=f"The legacy folder (default ADT_HOME, here {settings.ADT_HOME}).")
        parser.add_argument("--dry-run", action="store_true", help="Show the counts; write nothing.")

    def handle(self, *args, **options):
        report = importer.run(options["source"] or settings.ADT_HOME, dry_run=options["dry_run"])
        self.emit(report.as_dict(), report.lines())
        if not self.as_json:
            for line in report.problems():
                self.stderr.write(line)
        if not report.complete:
            raise CommandError(
                "some files or records were skipped (see above); fix them and run again, what is imported stays",
                returncode=2,
            )
