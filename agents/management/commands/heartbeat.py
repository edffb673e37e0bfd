from agents import lifecycle
from agents.models import AgentStatus
from common.cli import ADTCommand


class Command(ADTCommand):
    help = "Record that an agent is alive."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True)
        parser.add_argument("--status", choices=[AgentStatus.WORKING.value, AgentStatus.IDLE.value])

    def handle(self, *args, **options):
        agent = lifecycle.heartbeat(options["agent"], options["status"])
        data = {"agent": agent.name, "status": agent.status, "last_heartbeat": agent.last_heartbeat}
        self.emit(data, f"{agent.name} {agent.status} at {agent.last_heartbeat.isoformat()}")
