from agents import lifecycle
from common.cli import ADTCommand, cli_user, json_argument


class Command(ADTCommand):
    help = "Register a project and its agent (an agent's name is its project's name)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("path")
        parser.add_argument("--provider", default="cursor")
        parser.add_argument("--worktree")
        parser.add_argument("--config", help="A JSON object of project settings (e.g. max_retries).")

    def handle(self, *args, **options):
        config = json_argument(options["config"], "--config")
        project, created = lifecycle.register(
            options["name"], options["path"], options["provider"], options["worktree"], config, by=cli_user()
        )
        data = {
            "name": project.name,
            "path": project.path,
            "config": project.config,
            "created": created,
            "agent": {"name": project.name, "provider": options["provider"], "preferred_worktree": options["worktree"]},
        }
        self.emit(data, f"{'registered' if created else 'updated'} project {project.name} at {project.path} (agent provider {options['provider']})")
