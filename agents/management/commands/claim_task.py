import sys

from agents import lifecycle
from common.cli import ADTCommand
from tasks import pausing
from tasks.output import task_dict, task_line

NOTHING_PENDING = 3


class Command(ADTCommand):
    help = (
        "Claim the next pending task of the agent's project (or of --project) and print it. "
        f"Exits with status {NOTHING_PENDING} and prints nothing on stdout when no task is pending "
        "(or the project is paused: then a line on stderr says so)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True)
        parser.add_argument("--project", help="Claim from this project instead of the agent's own.")
        parser.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="Wait this long for a task (woken at once when ADT_REDIS_URL is set, else polling).")

    def handle(self, *args, **options):
        agent, project = options["agent"], options["project"] or options["agent"]
        task = lifecycle.claim_waiting(agent, project, options["wait"])
        if task is None:
            self._say_if_paused(project)
            sys.exit(NOTHING_PENDING)
        self.emit(task_dict(task), [f"claimed {task_line(task)}"])

    def _say_if_paused(self, project):
        pause = pausing.paused_projects().get(project)
        if pause is not None:
            reason = f": {pause.reason}" if pause.reason else ""
            self.stderr.write(f"project {project} is paused (by {pause.paused_by or 'someone'}{reason}); "
                              f"resume_project {project} to go on")
