import sys
import time

from agents import lifecycle
from common.cli import ADTCommand
from tasks.output import task_dict, task_line

NOTHING_PENDING = 3


class Command(ADTCommand):
    help = (
        "Claim the next pending task of the agent's project (or of --project) and print it. "
        f"Exits with status {NOTHING_PENDING} and prints nothing when no task is pending."
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
                sys.exit(NOTHING_PENDING)
            # While it waits, the agent does the reaper's rounds now and then:
            # time limits hold even where no cron runs reap_stale_agents.
            lifecycle.maybe_sweep()
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
