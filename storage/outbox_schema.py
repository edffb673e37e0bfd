"""The migration that gives an outbox its `relayed` column and, on SQLite,
ids without AUTOINCREMENT (tasks 0004, projects 0002).

AUTOINCREMENT rewrites sqlite_sequence in every transaction that writes an
outbox row: one more page in the WAL for each claim and each completion,
about a sixth of their cost. Without it SQLite gives a new row the highest
id + 1, and relay receipts need ids that never repeat, so events.feed never
deletes the newest row; it marks it `relayed` instead.

Django cannot make this change itself: it rebuilds a SQLite table to add a
NOT NULL column, and its rebuild fails on tasks.db's triggers, which name
the outbox. A later Django migration that rebuilds an outbox would fail the
same way (and bring AUTOINCREMENT back); change it with this module's way.
"""

from django.db import migrations, models
from django.utils import timezone


def add_relayed(app_label, model_name):
    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AddField(model_name, "relayed", models.BooleanField(default=False, db_default=False)),
        ],
        database_operations=[migrations.RunPython(_forwards(app_label, model_name), _backwards(app_label, model_name))],
    )


def _forwards(app_label, model_name):
    def forwards(apps, schema_editor):
        table = apps.get_model(app_label, model_name)._meta.db_table
        quote = schema_editor.quote_name
        if schema_editor.connection.vendor != "sqlite":
            schema_editor.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote('relayed')} boolean DEFAULT false NOT NULL")
            return
        schema_editor.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote('relayed')} bool DEFAULT 0 NOT NULL")
        _drop_autoincrement(schema_editor, table)

    return forwards


def _backwards(app_label, model_name):
    def backwards(apps, schema_editor):
        table = apps.get_model(app_label, model_name)._meta.db_table
        quote = schema_editor.quote_name
        highest = _scalar(schema_editor, f"SELECT MAX(id) FROM {quote(table)}") or 0
        schema_editor.execute(f"DELETE FROM {quote(table)} WHERE {quote('relayed')}")
        schema_editor.execute(f"ALTER TABLE {quote(table)} DROP COLUMN {quote('relayed')}")
        if schema_editor.connection.vendor == "sqlite":
            # The code of before numbers nothing itself: AUTOINCREMENT again,
            # counting on from every id given so far.
            _rebuild(schema_editor, table, _create_sql(schema_editor, table).replace(" PRIMARY KEY", " PRIMARY KEY AUTOINCREMENT", 1))
            if not _scalar(schema_editor, "SELECT COUNT(*) FROM sqlite_sequence WHERE name = %s", [table]):
                schema_editor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, 0)", [table])
            schema_editor.execute("UPDATE sqlite_sequence SET seq = MAX(seq, %s) WHERE name = %s", [highest, table])

    return backwards


def _scalar(schema_editor, sql, params=()):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _create_sql(schema_editor, table):
    return _scalar(schema_editor, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])


def _drop_autoincrement(schema_editor, table):
    quote = schema_editor.quote_name
    create = _create_sql(schema_editor, table)
    if "AUTOINCREMENT" not in create:
        return
    issued = _scalar(schema_editor, "SELECT MAX(seq) FROM sqlite_sequence WHERE name = %s", [table]) or 0
    highest = _scalar(schema_editor, f"SELECT MAX(id) FROM {quote(table)}") or 0
    _rebuild(schema_editor, table, create.replace(" AUTOINCREMENT", ""))
    if issued > highest:
        # Ids up to `issued` may have receipts: the next id must come after them.
        schema_editor.execute(
            f"INSERT INTO {quote(table)} (id, created_at, type, level, relayed) VALUES (%s, %s, %s, %s, %s)",
            [issued, schema_editor.connection.ops.adapt_datetimefield_value(timezone.now()), "outbox.relayed", "info", True],
        )


def _rebuild(schema_editor, table, create):
    """Copy `table` into a table made by `create` (its CREATE statement, changed), under the same name."""
    quote = schema_editor.quote_name
    # SQLite will not rename the copy while triggers name a table that, for a
    # moment, does not exist (and libSQL refuses the legacy_alter_table
    # pragma that would let it): they are set aside and made again.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE %s", [f"%{table}%"])
        triggers = cursor.fetchall()
    new = f"{table}__new"
    for name, _ in triggers:
        schema_editor.execute(f"DROP TRIGGER {quote(name)}")
    schema_editor.execute(create.replace(quote(table), quote(new), 1))
    schema_editor.execute(f"INSERT INTO {quote(new)} SELECT * FROM {quote(table)}")
    schema_editor.execute(f"DROP TABLE {quote(table)}")
    schema_editor.execute(f"ALTER TABLE {quote(new)} RENAME TO {quote(table)}")
    for _, sql in triggers:
        schema_editor.execute(sql)
