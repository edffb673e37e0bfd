from agents.models import Token
from common.cli import ADTCommand


class Command(ADTCommand):
    help = "List API tokens (never the tokens themselves)."

    def add_arguments(self, parser):
        parser.add_argument("--agent", help="Only this agent's.")

    def handle(self, *args, **options):
        found = Token.objects.all()
        if options["agent"]:
            found = found.filter(agent_id=options["agent"])
        rows = [
            {"id": t.id, "agent": t.agent_id, "name": t.name, "prefix": t.prefix, "created_at": t.created_at,
             "last_used_at": t.last_used_at, "revoked_at": t.revoked_at}
            for t in found
        ]
        lines = [
            f"{r['id']:>4}  {r['agent']:20} {r['prefix']}…  {r['name'] or '-':20} "
            + (f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else
               f"last used {r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never used")
            for r in rows
        ] or ["no tokens (create_token --agent NAME makes one)"]
        self.emit({"tokens": rows}, lines)
