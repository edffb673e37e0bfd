from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self):
        # The feed's sentences name tasks by their description; the events app
        # sits below this one and cannot import it, so the lookup is handed down.
        from events import describe
        from tasks import board

        describe.use_titles(board.titles)
