"""Triggers that write the outbox event of a claim and of a completion.

Claim and complete are the hot path: each is one UPDATE, and the trigger puts
its event in the outbox inside that same statement, so the change and its
event commit together without a second round trip. Every other change writes
its outbox row explicitly (see tasks/queue.py).
"""

from django.db import migrations

SQLITE = [
    """
    CREATE TRIGGER task_claimed_event AFTER UPDATE OF status ON tasks
    WHEN OLD.status = 'pending' AND NEW.status = 'in_progress'
    BEGIN
        INSERT INTO task_event_outbox (created_at, type, project, agent, task_id, data, level)
        VALUES (NEW.started_at, 'task.claimed', NEW.project, NEW.assigned_to, NEW.id,
                json_object('status', NEW.status, 'retry_count', NEW.retry_count), 'info');
    END
    """,
    """
    CREATE TRIGGER task_completed_event AFTER UPDATE OF status ON tasks
    WHEN OLD.status = 'in_progress' AND NEW.status = 'completed'
    BEGIN
        INSERT INTO task_event_outbox (created_at, type, project, agent, task_id, data, level)
        VALUES (NEW.completed_at, 'task.completed', NEW.project, NEW.assigned_to, NEW.id,
                json_object('status', NEW.status, 'retry_count', NEW.retry_count), 'info');
    END
    """,
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS task_claimed_event", "DROP TRIGGER IF EXISTS task_completed_event"]

POSTGRESQL = [
    """
    CREATE FUNCTION task_outbox_event() RETURNS trigger AS $$
    BEGIN
        IF OLD.status = 'pending' AND NEW.status = 'in_progress' THEN
            INSERT INTO task_event_outbox (created_at, type, project, agent, task_id, data, level)
            VALUES (NEW.started_at, 'task.claimed', NEW.project, NEW.assigned_to, NEW.id,
                    jsonb_build_object('status', NEW.status, 'retry_count', NEW.retry_count), 'info');
        ELSIF OLD.status = 'in_progress' AND NEW.status = 'completed' THEN
            INSERT INTO task_event_outbox (created_at, type, project, agent, task_id, data, level)
            VALUES (NEW.completed_at, 'task.completed', NEW.project, NEW.assigned_to, NEW.id,
                    jsonb_build_object('status', NEW.status, 'retry_count', NEW.retry_count), 'info');
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER task_outbox_event AFTER UPDATE OF status ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_outbox_event()
    """,
]
POSTGRESQL_DROP = ["DROP TRIGGER IF EXISTS task_outbox_event ON tasks", "DROP FUNCTION IF EXISTS task_outbox_event()"]


def run(statements):
    def apply(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for sql in statements[vendor]:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("tasks", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            run({"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}),
        ),
    ]
