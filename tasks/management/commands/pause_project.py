from common.cli import ADTCommand, cli_user
from tasks import pausing


class Command(ADTCommand):
    help = "Pause a project: claims for it find nothing (exit 3) until resume_project; adding tasks still works."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("--reason", help="Shown on the queue page and the dashboard.")
        parser.add_argument("--by", default=cli_user(), help="Who paused it (default: this user).")

    def handle(self, *args, **options):
        paused, held = pausing.pause(options["project"], by=options["by"], reason=options["reason"])
        reason = f" ({paused.reason})" if paused.reason else ""
        self.emit(
            {"project": paused.project, "paused_at": paused.paused_at, "paused_by": paused.paused_by,
             "reason": paused.reason, "tasks_held": held},
            f"paused {paused.project}{reason}: {held} pending task(s) held back",
        )
