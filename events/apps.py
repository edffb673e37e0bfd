from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self):
        from events import checks, relay  # noqa: F401 (checks registers itself)

        relay.connect_hooks()
