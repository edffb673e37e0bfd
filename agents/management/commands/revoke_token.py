from agents import tokens
from common.cli import ADTCommand, cli_user


class Command(ADTCommand):
    help = "Revoke an API token (by the id list_tokens shows); it stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("token_id", type=int)

    def handle(self, *args, **options):
        token = tokens.revoke(options["token_id"], by=cli_user())
        self.emit({"id": token.id, "agent": token.agent_id, "revoked_at": token.revoked_at},
                  f"revoked token {token.id} of agent {token.agent_id}")
