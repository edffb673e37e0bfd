"""The two roles of the web admin, as Django groups (see common/web.py).

viewer: the view permission of every model of the apps (their pages and the admin, read-only).
operator: view, add, change and delete on the same models (the pages' actions and the admin's).

The dashboard app owns them: it is the top of the layers, the only app whose
migration may name every other app's models, and it owns ensure_admin.
After every migrate, dashboard.roles gives the groups the permissions of models added since.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ["projects", "agents", "tasks", "schedules", "events"]
ROLES = {"viewer": ["view"], "operator": ["view", "add", "change", "delete"]}


def create_roles(apps, schema_editor):
    alias = schema_editor.connection.alias
    # Permissions are made after the last migration (post_migrate); a fresh
    # database needs them now.
    for label in APPS:
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0, using=alias)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, actions in ROLES.items():
        group, _ = Group.objects.using(alias).get_or_create(name=role)
        codenames = [
            f"{action}_{model._meta.model_name}" for label in APPS for model in apps.get_app_config(label).get_models()
            for action in actions
        ]
        permissions = Permission.objects.using(alias).filter(content_type__app_label__in=APPS, codename__in=codenames)
        group.permissions.add(*permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("projects", "0003_agent_moves_to_agents"),
        ("agents", "0002_api_tokens"),
        ("tasks", "0007_dependencies_and_pauses"),
        ("schedules", "0001_initial"),
        ("events", "0004_timescaledb_hypertables"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
