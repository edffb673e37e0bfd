import sys
import time

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
        parser.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="Keep polling this long for a task.")

    def handle(self, *args, **options):
        agent, project = options["agent"], options["project"] or options["agent"]
        deadline = time.monotonic() + max(0.0, options["wait"])
        delay = 0.05
        while True:
            task = lifecycle.claim(agent, project)
            if task is not None:
                self.emit(task_dict(task), [f"claimed {task_line(task)}"])
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._say_if_paused(project)
                sys.exit(NOTHING_PENDING)
            # While it waits, the agent does the reaper's rounds now and then:
            # time limits hold even where no cron runs reap_stale_agents.
            lifecycle.maybe_sweep()
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)

    def _say_if_paused(self, project):
        pause = pausing.paused_projects().get(project)
        if pause is not None:
            reason = f": {pause.reason}" if pause.reason else ""
            self.stderr.write(f"project {project} is paused (by {pause.paused_by or 'someone'}{reason}); "
                              f"resume_project {project} to go on")
