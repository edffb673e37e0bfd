"""Who may do what: viewers look, operators act, superusers do everything; the admin
follows the same rules; every action's event names who did it."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from events.models import Event
from schedules import recurring
from tasks import pausing
from tasks.models import Pause, Status, Task
from tests import factories
from tests.web.servers import https_client

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PAGES = ["/", "/tasks/", "/events/", "/events/feed?after=0", "/agents/", "/projects/", "/schedules/"]
APPS = {"projects", "agents", "tasks", "schedules", "events"}


def permissions(role):
    group = Group.objects.get(name=role)
    return set(group.permissions.values_list("content_type__app_label", "codename"))


def event_data(type):
    return [e.data for e in Event.objects.filter(type=type).order_by("id")]


@pytest.fixture
def task(demo):
    return factories.task(description="keep me")


@pytest.fixture
def schedule(demo):
    return recurring.add("nightly", "demo", "0 3 * * *", "the nightly run")


@pytest.fixture
def superuser_client(db):
    client = https_client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


@pytest.fixture
def no_role_client(db):
    """Staff, so the admin lets them log in, but in no group."""
    client = https_client()
    client.force_login(User.objects.create_user("nobody", password="pw", is_staff=True))
    return client


# The groups ---------------------------------------------------------------


def test_the_migration_makes_a_viewer_group_that_may_only_view_the_apps_models():
    granted = permissions("viewer")
    assert granted and {app for app, _ in granted} == APPS
    assert all(codename.startswith("view_") for _, codename in granted)
    assert ("tasks", "view_task") in granted and ("events", "view_event") in granted


def test_the_migration_makes_an_operator_group_that_may_view_add_change_and_delete_the_apps_models():
    granted = permissions("operator")
    assert {codename.split("_", 1)[0] for _, codename in granted} == {"view", "add", "change", "delete"}
    assert {app for app, _ in granted} == APPS
    assert permissions("viewer") < granted
    assert not any(app == "auth" for app, _ in granted)  # users and groups stay the superusers'


# The pages ----------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_a_viewer_sees_every_page(viewer_client, task, url):
    assert viewer_client.get(url).status_code in (200, 204)


@pytest.mark.parametrize("url", PAGES)
def test_staff_without_a_role_are_refused(no_role_client, url):
    assert no_role_client.get(url).status_code == 403


def test_a_viewer_sees_no_buttons_and_an_operator_does(viewer_client, client, task, schedule):
    seen = {name: {url: c.get(url).content.decode() for url in ("/tasks/", f"/tasks/{task.id}/", "/projects/", "/schedules/")}
            for name, c in (("viewer", viewer_client), ("operator", client))}
    for url, html in seen["viewer"].items():
        assert html.count('method="post"') == 1, url  # only "Log out"
        assert "hx-post" not in html, url
    assert "keep me" in seen["viewer"]["/tasks/"] and "nightly" in seen["viewer"]["/schedules/"]
    assert f"/tasks/{task.id}/cancel" in seen["operator"]["/tasks/"] and 'id="bulk"' in seen["operator"]["/tasks/"]
    assert f"/tasks/{task.id}/cancel" in seen["operator"][f"/tasks/{task.id}/"]
    assert "/projects/demo/pause" in seen["operator"]["/projects/"]
    assert "/schedules/nightly/run" in seen["operator"]["/schedules/"]
    assert 'name="ids"' not in seen["viewer"]["/tasks/"]


def test_a_viewers_posts_are_refused_with_a_page_and_change_nothing(viewer_client, task, schedule):
    before = (list(Task.objects.values_list("id", "status", "priority")), Event.objects.count())
    for url, data in [
        (f"/tasks/{task.id}/cancel", {}),
        (f"/tasks/{task.id}/reprioritize", {"priority": "urgent"}),
        ("/tasks/bulk", {"action": "cancel", "ids": [task.id]}),
        ("/projects/demo/pause", {"reason": "no"}),
        ("/schedules/nightly/run", {}),
    ]:
        response = viewer_client.post(url, data)
        assert response.status_code == 403, url
        assert "may look but not act" in response.content.decode()
        assert "Nothing was changed" in response.content.decode()
    assert (list(Task.objects.values_list("id", "status", "priority")), Event.objects.count()) == before
    assert not Pause.objects.exists()


def test_a_viewers_htmx_or_json_post_gets_a_json_error(viewer_client, task):
    htmx = viewer_client.post(f"/tasks/{task.id}/cancel", headers={"HX-Request": "true"})
    assert htmx.status_code == 403 and htmx["Content-Type"] == "application/json"
    assert "operator" in json.loads(htmx.content)["error"]
    asked = viewer_client.post("/projects/demo/pause", headers={"Accept": "application/json"})
    assert asked.status_code == 403 and set(asked.json()) == {"error"}
    assert Task.objects.get(pk=task.id).status == Status.PENDING and not Pause.objects.exists()


def test_an_operators_actions_name_the_operator_in_their_events(client, task, schedule):
    assert client.post(f"/tasks/{task.id}/reprioritize", {"priority": "high"}).status_code == 302
    # Bulk cancel asks first; the confirmed post acts.
    assert client.post("/tasks/bulk", {"action": "cancel", "ids": [task.id], "confirmed": "1"}).status_code == 302
    assert client.post(f"/tasks/{task.id}/retry").status_code == 302
    assert client.post("/projects/demo/pause", {"reason": "deploy"}).status_code == 302
    assert client.post("/projects/demo/resume").status_code == 302
    assert client.post("/schedules/nightly/run").status_code == 302
    for type in ("task.reprioritized", "task.cancelled", "task.retried", "project.paused", "project.resumed"):
        assert [d["by"] for d in event_data(type)] == ["web:staff"], type
    assert Task.objects.filter(metadata__by="web:staff").count() == 1  # the task run_now added


def test_a_superuser_in_no_group_may_act(superuser_client, task):
    assert superuser_client.post(f"/tasks/{task.id}/cancel").status_code == 302
    assert Task.objects.get(pk=task.id).status == Status.CANCELLED
    assert [d["by"] for d in event_data("task.cancelled")] == ["web:root"]


# The admin ----------------------------------------------------------------

CHANGE_LISTS = ["/admin/projects/project/", "/admin/agents/agent/", "/admin/agents/token/", "/admin/tasks/task/",
                "/admin/tasks/pause/", "/admin/schedules/schedule/", "/admin/events/event/", "/admin/events/agentrun/"]


@pytest.mark.parametrize("url", CHANGE_LISTS)
def test_a_viewer_reads_every_admin_list_without_actions(viewer_client, task, schedule, url):
    pausing.pause("demo", by="test")
    response = viewer_client.get(url)
    assert response.status_code == 200
    assert 'name="action"' not in response.content.decode()


def test_a_viewer_cannot_add_or_change_in_the_admin(viewer_client, demo):
    assert viewer_client.get("/admin/tasks/task/add/").status_code == 403
    assert viewer_client.post("/admin/tasks/task/add/", {"project": "demo", "description": "sneaky", "priority": "normal"}).status_code == 403
    assert viewer_client.get("/admin/projects/project/add/").status_code == 403
    assert viewer_client.post("/admin/projects/project/demo/change/", {"path": "/srv/elsewhere", "config": "null"}).status_code == 403
    assert not Task.objects.filter(description="sneaky").exists()
    assert "sneaky" not in str(event_data("task.created"))


def test_a_viewers_admin_action_post_does_nothing(viewer_client, task, schedule):
    before = Event.objects.count()
    viewer_client.post("/admin/tasks/task/", {"action": "cancel", "_selected_action": [task.id]})
    viewer_client.post("/admin/schedules/schedule/", {"action": "run_now", "_selected_action": ["nightly"]})
    assert Task.objects.get(pk=task.id).status == Status.PENDING
    assert Task.objects.count() == 1 and Event.objects.count() == before


def test_an_operator_sees_and_runs_admin_actions_and_they_name_the_operator(client, task, schedule):
    html = client.get("/admin/tasks/task/").content.decode()
    assert 'value="cancel"' in html and 'value="set_priority"' in html
    client.post("/admin/tasks/task/", {"action": "set_priority", "priority": "low", "_selected_action": [task.id]})
    client.post("/admin/tasks/task/", {"action": "cancel", "_selected_action": [task.id]})
    client.post("/admin/schedules/schedule/", {"action": "run_now", "_selected_action": ["nightly"]})
    assert Task.objects.get(pk=task.id).status == Status.CANCELLED
    assert [d["by"] for d in event_data("task.reprioritized")] == ["web:staff"]
    assert [d["by"] for d in event_data("task.cancelled")] == ["web:staff"]
    assert Task.objects.filter(metadata__by="web:staff").count() == 1


def test_adding_a_task_or_saving_a_project_in_the_admin_names_who_did_it(client, demo):
    response = client.post("/admin/tasks/task/add/", {"project": "demo", "description": "from the admin", "priority": "high", "metadata": "null"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert event_data("task.created")[-1]["by"] == "web:staff"
    response = client.post("/admin/projects/project/demo/change/", {"path": "/srv/elsewhere", "config": "null"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert event_data("project.updated")[-1]["by"] == "web:staff"


def test_the_admin_refuses_a_project_name_or_path_that_register_project_refuses(client, db):
    response = client.post("/admin/projects/project/add/", {"name": "a/b", "path": "relative/dir", "config": "null"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "letters, digits" in html and "must be absolute" in html


# The first user -----------------------------------------------------------


def test_ensure_admin_makes_the_first_user_an_operator(db):
    call_command("ensure_admin", stdout=StringIO())
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and list(admin.groups.values_list("name", flat=True)) == ["operator"]
