"""`migrate` with no --database brings every database (main, tasks, logs) up to date."""

from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connections


class Command(MigrateCommand):
    help = MigrateCommand.help + " Without --database, migrates every configured database."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(database=None)

    def get_check_kwargs(self, options):
        if options["database"] is None:
            return {**super(MigrateCommand, self).get_check_kwargs(options), "databases": list(connections)}
        return super().get_check_kwargs(options)

    def handle(self, *args, **options):
        if options["database"] is not None:
            return super().handle(*args, **options)
        for alias in connections:
            if options["verbosity"] >= 1:
                self.stdout.write(self.style.MIGRATE_HEADING(f"Database {alias}:"))
            super().handle(*args, **{**options, "database": alias})
