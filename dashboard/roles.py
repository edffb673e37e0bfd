"""The viewer and operator groups, kept whole after every migrate.

dashboard/migrations/0001_roles.py creates them. After each `migrate` (and
each flush, which empties the tables and sends post_migrate again) this gives
them back any permission they lack: a model added later is viewable by
viewers and changeable by operators without a migration of its own.
"""

from django.apps import apps as global_apps
from django.db import router

from common.web import OPERATOR, VIEWER

# The apps whose models the roles see and change (not auth's users and groups: superusers manage those).
APPS = ["projects", "agents", "tasks", "schedules", "events"]
ROLES = {VIEWER: ("view",), OPERATOR: ("view", "add", "change", "delete")}


def ensure_roles(using="default", apps=global_apps, **kwargs):
    """post_migrate, sent for auth: after auth's own handler has made the permissions of every app
    before it in INSTALLED_APPS (all of ours). `apps` is the migrated state: nothing to do
    when a partial migrate left auth out."""
    try:
        Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    except LookupError:
        return
    if not router.allow_migrate_model(using, Group):
        return
    permissions = list(Permission.objects.using(using).filter(content_type__app_label__in=APPS))
    for role, actions in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.add(*[p for p in permissions if p.codename.split("_", 1)[0] in actions])
