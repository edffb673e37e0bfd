"""Copy one database (main, tasks or logs) to another place: a file, libSQL or PostgreSQL.

The target gets its schema from `migrate` (run as a subprocess with the
alias pointed at the target, so the routers decide what goes there, as for
the real thing), then every table's rows in primary-key batches, then the
row counts are compared. The original ids are kept, so a copy is the same
data, and sequences are moved past them where the backend has any.
"""

import os
import subprocess
import sys
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.color import no_style
from django.db import connections, router, transaction

from common.errors import Conflict, InvalidInput
from storage.databases import DatabaseURLError, database

TARGET = "copy_target"
VARIABLES = {"default": "ADT_MAIN_DB", "tasks": "ADT_TASKS_DB", "logs": "ADT_LOGS_DB"}
# Filled in by migrate on a fresh main database (the viewer and operator
# groups too: dashboard/migrations/0001_roles); replaced by the source's rows.
REBUILT_BY_MIGRATE = {"contenttypes.contenttype", "auth.permission", "auth.group", "auth.group_permissions"}


def models_of(alias):
    """Every concrete model stored in `alias`, each after the models its foreign keys point to."""
    candidates = []
    for model in apps.get_models():
        for candidate in [model] + [f.remote_field.through for f in model._meta.local_many_to_many]:
            if candidate._meta.managed and not candidate._meta.proxy and candidate not in candidates:
                if router.db_for_write(candidate) == alias and router.allow_migrate_model(alias, candidate):
                    candidates.append(candidate)
    found = []
    while candidates:
        ready = [m for m in candidates if all(t in found or t not in candidates for t in _targets(m))]
        # A cycle of foreign keys (none today) is copied in registry order.
        for model in ready or candidates[:1]:
            found.append(model)
            candidates.remove(model)
    return found


def _targets(model):
    return {f.related_model for f in model._meta.concrete_fields if f.is_relation and f.related_model is not model}


def copy_database(alias, url, batch_size=2000, report=lambda line: None):
    if alias not in VARIABLES:
        raise InvalidInput(f"unknown database {alias!r} (choose from {', '.join(VARIABLES)})")
    variable = VARIABLES[alias]
    try:
        target = database(url, None, token=os.environ.get(f"{variable}_TOKEN") or os.environ.get("TURSO_TOKEN"))
    except DatabaseURLError as e:
        raise InvalidInput(str(e)) from None
    if _same_place(connections[alias].settings_dict, target):
        raise InvalidInput(f"{url!r} is where {alias} already lives")

    report(f"migrating {_shown(url)}")
    env = {**os.environ, variable: url}
    result = subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "migrate", "--database", alias, "-v0"],
        env=env, capture_output=True, text=True,
    )
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["migrate failed"])[-1]
        raise Conflict(f"could not migrate the target: {last.removeprefix('error: ')}")

    # configure_settings fills in the defaults; it insists on a "default" key.
    connections.settings[TARGET] = connections.configure_settings({"default": target})["default"]
    try:
        return _copy_rows(alias, batch_size, report)
    finally:
        connections[TARGET].close()
        del connections.settings[TARGET]


def _copy_rows(alias, batch_size, report):
    models = models_of(alias)
    for model in models:
        label = model._meta.label_lower
        if label not in REBUILT_BY_MIGRATE and model.objects.using(TARGET).exists():
            raise Conflict(f"the target already holds rows in {model._meta.db_table}; copy only into an empty database")
    with transaction.atomic(using=TARGET):
        for model in reversed(models):
            if model._meta.label_lower in REBUILT_BY_MIGRATE:
                model.objects.using(TARGET).all().delete()

    counts = []
    for model in models:
        copied = 0
        last = None
        while True:
            rows = model.objects.using(alias).order_by("pk")
            if last is not None:
                rows = rows.filter(pk__gt=last)
            batch = list(rows[:batch_size])
            if not batch:
                break
            with transaction.atomic(using=TARGET):
                model.objects.using(TARGET).bulk_create(batch, batch_size=500)
            copied += len(batch)
            last = batch[-1].pk
        source_count = model.objects.using(alias).count()
        target_count = model.objects.using(TARGET).count()
        counts.append({"table": model._meta.db_table, "source": source_count, "target": target_count})
        report(f"  {model._meta.db_table}: {target_count} rows")
        if target_count != source_count:
            raise Conflict(f"{model._meta.db_table}: {source_count} rows at the source, {target_count} copied")

    target_connection = connections[TARGET]
    statements = target_connection.ops.sequence_reset_sql(no_style(), models)
    if statements:
        with target_connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
    return counts


def _same_place(source, target):
    return source["ENGINE"] == target["ENGINE"] and source["NAME"] == target["NAME"] and source.get("HOST") == target.get("HOST")


def _shown(url):
    from storage.databases import _redact

    return _redact(url)
