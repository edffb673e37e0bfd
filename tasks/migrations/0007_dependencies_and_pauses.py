"""Tasks that wait for others, and paused projects.

The release of waiting tasks is a trigger, like the events of claim and
complete (0002): completion is one UPDATE on the hot path, and the trigger
makes the tasks it releases pending (paused when their project is) and writes
their `task.unblocked` events inside that same statement, so the release
commits with the completion and costs no round trip. `+status` keeps SQLite
from reading every blocked task through idx_tasks_status: the waiting tasks
are found through idx_dependencies_after.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

UNMET = """NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks u ON u.id = d.after_id
                       WHERE d.task_id = {t}.id AND u.status <> 'completed')"""
READY = "CASE WHEN EXISTS (SELECT 1 FROM paused_projects p WHERE p.project = {t}.project) THEN 'paused' ELSE 'pending' END"

SQLITE = [
    f"""
    CREATE TRIGGER task_release_waiting AFTER UPDATE OF status ON tasks
    WHEN NEW.status = 'completed' AND OLD.status <> 'completed'
    BEGIN
        UPDATE tasks SET status = {READY.format(t="tasks")}
        WHERE id IN (SELECT task_id FROM task_dependencies WHERE after_id = NEW.id)
          AND +status = 'blocked' AND {UNMET.format(t="tasks")};
        INSERT INTO task_event_outbox (created_at, type, project, agent, task_id, data, level)
        SELECT NEW.completed_at, 'task.unblocked', t.project, NULL, t.id,
               json_object('status', t.status, 'after', NEW.id), 'info'
        FROM tasks t
        WHERE t.id IN (SELECT task_id FROM task_dependencies WHERE after_id = NEW.id)
          AND +t.status IN ('pending', 'paused') AND {UNMET.format(t="t")};
    END
    """,
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS task_release_waiting"]

# Under READ COMMITTED two completions of one task's last two dependencies
# would each see the other still in progress: locking the waiting tasks first
# makes the second wait for the first and then see it completed.
POSTGRESQL = [
    f"""
    CREATE FUNCTION task_release_waiting() RETURNS trigger AS $$
    BEGIN
        IF NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed' THEN
            PERFORM 1 FROM tasks WHERE id IN (SELECT task_id FROM task_dependencies WHERE after_id = NEW.id)
                AND status = 'blocked' ORDER BY id FOR UPDATE;
            WITH released AS (
                UPDATE tasks t SET status = {READY.format(t="t")}
                WHERE t.id IN (SELECT task_id FROM task_dependencies WHERE after_id = NEW.id)
                  AND t.status = 'blocked' AND {UNMET.format(t="t")}
                RETURNING t.id, t.project, t.status
            )
            INSERT INTO task_event_outbox (created_at, type, project, agent, task_id, data, level)
            SELECT NEW.completed_at, 'task.unblocked', r.project, NULL, r.id,
                   jsonb_build_object('status', r.status, 'after', NEW.id), 'info'
            FROM released r;
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER task_release_waiting AFTER UPDATE OF status ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_release_waiting()
    """,
]
POSTGRESQL_DROP = ["DROP TRIGGER IF EXISTS task_release_waiting ON tasks", "DROP FUNCTION IF EXISTS task_release_waiting()"]


def run(statements):
    def apply(apps, schema_editor):
        for sql in statements[schema_editor.connection.vendor]:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0006_scheduled_and_unique_tasks'),
    ]

    operations = [
        migrations.CreateModel(
            name='Dependency',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('task', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='waits_for', to='tasks.task')),
                ('after', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='waited_on_by', to='tasks.task')),
            ],
            options={
                'db_table': 'task_dependencies',
            },
        ),
        migrations.CreateModel(
            name='Pause',
            fields=[
                ('project', models.TextField(primary_key=True, serialize=False)),
                ('paused_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('paused_by', models.TextField(blank=True, null=True)),
                ('reason', models.TextField(blank=True, null=True)),
            ],
            options={
                'db_table': 'paused_projects',
            },
        ),
        migrations.RemoveConstraint(
            model_name='task',
            name='uniq_tasks_unfinished_key',
        ),
        migrations.AlterField(
            model_name='task',
            name='status',
            field=models.TextField(choices=[('scheduled', 'Scheduled'), ('blocked', 'Blocked'), ('paused', 'Paused'), ('pending', 'Pending'), ('in_progress', 'In Progress'), ('completed', 'Completed'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_default='pending', default='pending', null=True),
        ),
        migrations.AddConstraint(
            model_name='task',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ('scheduled', 'blocked', 'paused', 'pending', 'in_progress')), ('unique_key__isnull', False)), fields=('project', 'unique_key'), name='uniq_tasks_unfinished_key'),
        ),
        migrations.AddIndex(
            model_name='dependency',
            index=models.Index(fields=['after'], name='idx_dependencies_after'),
        ),
        migrations.AddConstraint(
            model_name='dependency',
            constraint=models.UniqueConstraint(fields=('task', 'after'), name='uniq_task_dependency'),
        ),
        migrations.RunPython(
            run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            run({"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}),
        ),
    ]
