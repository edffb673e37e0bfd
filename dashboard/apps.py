from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self):
        from dashboard import roles

        # Sent for apps with models only (dashboard has none): after auth's, when every permission exists.
        post_migrate.connect(roles.ensure_roles, sender=apps.get_app_config("auth"), dispatch_uid="dashboard.ensure_roles")
