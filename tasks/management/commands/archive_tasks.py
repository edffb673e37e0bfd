import sys

from common.cli import ADTCommand, ProgressBar
from tasks import archive


class Command(ADTCommand):
    help = (
        "Move finished tasks older than --older-than days (by completed_at, else created_at) out of tasks.db "
        "into monthly archive files (ADT_ARCHIVE_DIR/tasks-YYYY-MM.db), in batches. "
        "Pending and in-progress tasks are never moved. Safe to kill and re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="DAYS", help="Age limit in days (0 or more).")
        parser.add_argument("--status", default="completed,failed,cancelled", metavar="LIST",
                            help="Comma-separated finished statuses to take (default all three).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go, per archive file; change nothing.")
        parser.add_argument("--delete", action="store_true", help="Drop the tasks instead of archiving them.")
        parser.add_argument("--batch-size", default=archive.BATCH_SIZE, metavar="ROWS",
                            help=f"Tasks per batch, i.e. per hold of tasks.db's write lock (default {archive.BATCH_SIZE}).")

    def handle(self, *args, **options):
        bar = ProgressBar(sys.stderr, "archiving") if sys.stderr.isatty() and not self.as_json else None
        try:
            summary = archive.archive(
                options["older_than"],
                options["status"],
                delete=options["delete"],
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                progress=bar,
            )
        finally:
            if bar:
                bar.finish()
        self.emit(summary, summary_line(summary))


def summary_line(s):
    age = f"{'/'.join(s['statuses'])} task(s) older than {s['older_than_days']:g} days (before {s['cutoff'][:19]})"
    if s["dry_run"]:
        verb = "would delete" if s["mode"] == "delete" else "would archive"
        files = "" if s["mode"] == "delete" else " into " + (", ".join(f"{n} ({c:,})" for n, c in s["files"].items()) or "no file")
        return f"{verb} {s['matched']:,} {age}{files}"
    if s["mode"] == "delete":
        line = f"deleted {s['deleted']:,} {age}"
    else:
        line = f"archived {s['archived']:,} {age} into {len(s['files'])} file(s) in {s['archive_dir']}"
    line += f" in {s['batches']} batch(es), {s['seconds']:.1f}s ({s['rows_per_second']:,} rows/s)"
    if s["recovered"]:
        line += f"; finished an interrupted batch ({s['recovered']:,} task(s))"
    if s["skipped"]:
        line += f"; left {s['skipped']:,} task(s) that changed meanwhile"
    return line
