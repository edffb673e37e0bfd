from common.cli import ADTCommand
from storage.transfer import VARIABLES, copy_database


class Command(ADTCommand):
    help = (
        "Copy one database (default = main, tasks, logs) to a file, a libSQL URL or a PostgreSQL URL: "
        "schema by migrate, rows in batches, row counts checked. Then point ADT_<X>_DB at the target."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", required=True, choices=list(VARIABLES))
        parser.add_argument("--to", required=True, metavar="URL")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **options):
        report = (lambda line: None) if self.as_json else (lambda line: self.stdout.write(line))
        counts = copy_database(options["database"], options["to"], options["batch_size"], report)
        total = sum(row["target"] for row in counts)
        variable = VARIABLES[options["database"]]
        self.emit(
            {"database": options["database"], "tables": counts, "rows": total},
            f"copied {total} rows in {len(counts)} tables; all counts match. Now set {variable} to the target.",
        )
