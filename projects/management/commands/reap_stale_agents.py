from django.conf import settings

from adt_admin.cli import ADTCommand
from projects import agents


class Command(ADTCommand):
    help = "Mark working agents with no recent heartbeat stale and put their tasks back in the queue."

    def add_arguments(self, parser):
        parser.add_argument("--threshold", type=float, default=None, metavar="SECONDS",
                            help=f"Silence that makes an agent stale (default {settings.ADT_STALE_SECONDS}).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be reaped; change nothing.")

    def handle(self, *args, **options):
        reaped = agents.reap_stale(options["threshold"], dry_run=options["dry_run"])
        verb = "would reap" if options["dry_run"] else "reaped"
        lines = [
            f"{verb} {r['agent']}: {len(r['requeued'])} task(s) requeued, {len(r['failed'])} failed, {len(r['runs_closed'])} run(s) closed"
            for r in reaped
        ] or [f"{verb} no agents"]
        self.emit({"dry_run": options["dry_run"], "agents": reaped}, lines)
