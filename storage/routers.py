"""Each app's tables live in one database file; Django's own apps live in main.db."""


class AppRouter:
    """Send every model of `app_labels` to `alias`; no opinion on anything else."""

    app_labels: frozenset = frozenset()
    alias = ""

    def _owns(self, model):
        return model._meta.app_label in self.app_labels

    def db_for_read(self, model, **hints):
        return self.alias if self._owns(model) else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        if self._owns(obj1) or self._owns(obj2):
            return self._owns(obj1) and self._owns(obj2)
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label in self.app_labels:
            return db == self.alias
        if db == self.alias:
            return False
        return None


class TasksRouter(AppRouter):
    app_labels = frozenset({"tasks", "schedules"})
    alias = "tasks"


class LogsRouter(AppRouter):
    app_labels = frozenset({"events"})
    alias = "logs"


class MainRouter:
    """Everything else (projects, auth, admin, sessions) belongs to main.db."""

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
