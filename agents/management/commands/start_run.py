from agents import lifecycle
from common.cli import ADTCommand


class Command(ADTCommand):
    help = "Record that an agent process started; prints the run id."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True)
        parser.add_argument("--task")
        parser.add_argument("--log-path")
        parser.add_argument("--provider")

    def handle(self, *args, **options):
        run = lifecycle.start_run(options["agent"], options["task"], options["log_path"], options["provider"])
        self.emit({"id": run.id, "agent": run.project, "status": run.status, "started_at": run.started_at}, str(run.id))
