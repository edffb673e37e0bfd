from adt_admin.cli import ADTCommand
from projects import agents
from projects.models import AgentStatus


class Command(ADTCommand):
    help = "Record that an agent is alive."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True)
        parser.add_argument("--status", choices=[AgentStatus.WORKING, AgentStatus.IDLE])

    def handle(self, *args, **options):
        agent = agents.heartbeat(options["agent"], options["status"])
        data = {"agent": agent.name, "status": agent.status, "last_heartbeat": agent.last_heartbeat}
        self.emit(data, f"{agent.name} {agent.status} at {agent.last_heartbeat.isoformat()}")
