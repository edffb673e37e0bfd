"""The outbox's `relayed` column, and its ids without AUTOINCREMENT on SQLite (see storage.outbox_schema)."""

from django.db import migrations

from storage.outbox_schema import add_relayed


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [add_relayed("projects", "outbox")]
