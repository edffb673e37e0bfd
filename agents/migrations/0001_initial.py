"""Agent, moved here from the projects app: the table `agents` already exists
(projects/0001), so this only tells Django it is ours now. The admin's content
type for it follows, so its permissions and log entries keep their meaning."""

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor, old="projects", new="agents"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label=new, model="agent").exists():
        ContentType.objects.using(db).filter(app_label=old, model="agent").update(app_label=new)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, old="agents", new="projects")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("projects", "0003_agent_moves_to_agents"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Agent",
                    fields=[
                        ("project", models.OneToOneField(db_column="project", on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name="agent", serialize=False, to="projects.project")),
                        ("provider", models.TextField(db_default="cursor", default="cursor", null=True)),
                        ("preferred_worktree", models.TextField(blank=True, null=True)),
                        ("config", models.JSONField(blank=True, null=True)),
                        ("status", models.TextField(choices=[("idle", "Idle"), ("working", "Working"), ("stale", "Stale")], db_default="idle", default="idle")),
                        ("last_heartbeat", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "agents", "ordering": ["project"]},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
