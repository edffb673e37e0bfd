from django.conf import settings

from agents import lifecycle
from common.cli import ADTCommand


class Command(ADTCommand):
    help = (
        "Mark working agents with no recent heartbeat stale and put their tasks back in the queue; "
        "put back every task past its deadline, make due scheduled tasks pending, enqueue recurring tasks "
        "whose time has come, and copy events a killed process left behind."
    )

    def add_arguments(self, parser):
        parser.add_argument("--threshold", type=float, default=None, metavar="SECONDS",
                            help=f"Silence that makes an agent stale (default {settings.ADT_STALE_SECONDS}).")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be reaped; change nothing.")

    def handle(self, *args, **options):
        swept = lifecycle.sweep(options["threshold"], dry_run=options["dry_run"], ship_events=True)
        verb = "would reap" if options["dry_run"] else "reaped"
        lines = [
            f"{verb} {r['agent']}: {len(r['requeued'])} task(s) requeued, {len(r['failed'])} failed, {len(r['runs_closed'])} run(s) closed"
            for r in swept["agents"]
        ] or [f"{verb} no agents"]
        timed_out = swept["timed_out"]
        if timed_out:
            verb = "would take back" if options["dry_run"] else "took back"
            failed = sum(1 for t in timed_out if t["status"] == "failed")
            lines.append(
                f"{verb} {len(timed_out)} task(s) past their deadline"
                + (f" ({failed} failed, out of retries)" if failed and not options["dry_run"] else "")
                + ": " + ", ".join(t["id"] for t in timed_out)
            )
        if swept["due"]:
            verb = "would make" if options["dry_run"] else "made"
            lines.append(f"{verb} {len(swept['due'])} scheduled task(s) pending: " + ", ".join(swept["due"]))
        if swept["recurring"]:
            made = [f"{r['schedule']} -> {r['task']}" if r["task"] else f"{r['schedule']} ({r['slot']:%Y-%m-%d %H:%M} UTC)"
                    for r in swept["recurring"]]
            verb = "would enqueue" if options["dry_run"] else "enqueued"
            lines.append(f"{verb} {len(made)} recurring task(s): " + ", ".join(made))
        shipped = swept.get("shipped")
        if shipped:
            lines.append(
                f"ClickHouse: {shipped['error']}" if "error" in shipped
                else f"shipped no events: {shipped['busy']} is shipping" if shipped.get("busy")
                else f"shipped {shipped['shipped']:,} event(s) to ClickHouse"
            )
        self.emit({"dry_run": options["dry_run"], **swept}, lines)
