from agents import tokens
from common.cli import ADTCommand, cli_user


class Command(ADTCommand):
    help = "Make an API token that acts as AGENT, and print it (only this once: just its hash is kept)."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True)
        parser.add_argument("--name", default="", help="A label, e.g. the machine it is for.")

    def handle(self, *args, **options):
        token, text = tokens.create(options["agent"], options["name"], by=cli_user())
        self.emit({"id": token.id, "agent": token.agent_id, "name": token.name, "token": text},
                  [text, f"(token {token.id} for agent {token.agent_id}; it is not shown again)"])
