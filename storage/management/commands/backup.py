from common.cli import ADTCommand, size
from storage import backup


class Command(ADTCommand):
    help = (
        "Copy main.db, tasks.db and logs.db, consistently and while agents keep writing, into a new directory "
        "(default ADT_BACKUP_DIR/YYYYmmdd-HHMMSS); each copy must pass PRAGMA integrity_check."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", metavar="DIR", help="Directory for the copies (created; must not hold them already).")

    def handle(self, *args, **options):
        summary = backup.backup(options["to"])
        lines = [f"{f['file']}  {size(f['bytes'])}  integrity {f['integrity']}" for f in summary["files"]]
        lines.append(f"backed up {len(summary['files'])} databases to {summary['dir']} in {summary['seconds']:.1f}s")
        self.emit(summary, lines)
