import sys

from django.conf import settings

from common.cli import ADTCommand, ProgressBar, size
from events import retention


class Command(ADTCommand):
    help = (
        "Delete events and finished agent runs older than --older-than days from logs.db, in batches, "
        "and relay receipts older than a day; then give the space back a step at a time. "
        "Where events is a TimescaleDB hypertable (PostgreSQL), whole chunks of old events are dropped first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", default=None, metavar="DAYS",
                            help=f"Age limit in days (default ADT_LOG_RETENTION_DAYS, now {settings.ADT_LOG_RETENTION_DAYS}).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; change nothing.")
        parser.add_argument("--vacuum", action="store_true",
                            help="Finish with a full VACUUM (blocks writers while it rewrites the file).")
        parser.add_argument("--batch-size", default=retention.BATCH_SIZE, metavar="ROWS",
                            help=f"Rows per batch (default {retention.BATCH_SIZE}).")

    def handle(self, *args, **options):
        bar = ProgressBar(sys.stderr, "pruning") if sys.stderr.isatty() and not self.as_json else None
        try:
            summary = retention.prune(
                options["older_than"],
                dry_run=options["dry_run"],
                vacuum=options["vacuum"],
                batch_size=options["batch_size"],
                progress=bar,
            )
        finally:
            if bar:
                bar.finish()
        s = summary
        counts = f"{s['events']:,} event(s), {s['runs']:,} finished run(s) older than {s['older_than_days']:g} days and {s['receipts']:,} relay receipt(s)"
        if s["dry_run"]:
            line = f"would prune {counts}"
            if "chunks" in s:  # events is a TimescaleDB hypertable
                line += f", dropping {s['chunks']:,} whole chunk(s) of events"
        elif "chunks" in s:
            line = (f"pruned {counts}: dropped {s['chunks']:,} whole chunk(s) of events (TimescaleDB), "
                    f"the rest in {s['batches']} batch(es); gave back {size(s['freed_bytes'])}, {s['seconds']:.1f}s")
        else:
            line = f"pruned {counts} in {s['batches']} batch(es); gave back {size(s['freed_bytes'])}{' (full vacuum)' if s['vacuum'] else ''}, {s['seconds']:.1f}s"
        self.emit(summary, line)
