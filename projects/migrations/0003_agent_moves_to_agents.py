"""Agent moves to the agents app: only Django's idea of it changes; the
`agents` table, its rows and its key stay as they are (agents/0001)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("projects", "0002_outbox_relayed")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Agent")],
            database_operations=[],
        ),
    ]
