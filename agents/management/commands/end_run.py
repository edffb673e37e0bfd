from agents import lifecycle
from common.cli import ADTCommand
from events.models import RunStatus


class Command(ADTCommand):
    help = "Record that an agent process ended: completed for exit code 0, error otherwise."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--exit-code", type=int, required=True)
        parser.add_argument("--error")
        parser.add_argument("--status", choices=[RunStatus.STOPPED.value], help="stopped: a deliberate stop.")

    def handle(self, *args, **options):
        run = lifecycle.end_run(options["run_id"], options["exit_code"], options["error"], options["status"])
        data = {"id": run.id, "agent": run.project, "status": run.status, "exit_code": run.exit_code, "ended_at": run.ended_at}
        self.emit(data, f"run {run.id} of {run.project}: {run.status} (exit code {run.exit_code})")
