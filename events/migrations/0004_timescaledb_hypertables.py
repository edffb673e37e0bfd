"""events and agent_runs become TimescaleDB hypertables, where logs.db is a
PostgreSQL server that offers and loads the extension; everywhere else
(SQLite, libSQL, PostgreSQL without it) this migration does nothing.

On a hypertable every unique index must hold the time column, so the
primary key on `id` becomes a unique index on (id, time) and events'
`timestamp` becomes NOT NULL (see storage.timescale.prepare). Django's model
state does not change: `id` stays the model's primary key (ids still come
from the identity sequence), `timestamp` stays null=True in the model, so
SQLite files keep their schema and `makemigrations` sees nothing to do.

The reverse is a no-op: turning a hypertable back into a plain table means
copying every row out of its chunks, and nothing before this migration
needs that. A later migration that alters events' or agent_runs' primary
key has to do without the `*_pkey` constraint on such a server.
"""

from django.db import migrations

from storage import timescale

# Each hypertable's time column and chunk length. One day of events per
# chunk: prune_logs drops whole chunks, so at most a day's worth of events
# past the cutoff goes by the slower batched delete. Runs are few.
HYPERTABLES = [("events", "timestamp", 1), ("agent_runs", "started_at", 7)]


def forwards(apps, schema_editor):
    alias = schema_editor.connection.alias
    if not timescale.loadable(alias):
        return
    for table, column, days in HYPERTABLES:
        if not timescale.in_use(alias, table):
            timescale.make_hypertable(alias, table, column, days)


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0003_event_counts'),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
    ]
