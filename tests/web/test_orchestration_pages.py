"""The pages of orchestration: schedules, pausing a project, and a task's dependencies."""

import pytest

from events.models import Event
from schedules import recurring
from tasks import pausing, queue
from tasks.models import Task
from tests import factories

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

HTMX = {"HX-Request": "true"}


def test_the_schedules_page_lists_each_with_its_next_run(client, demo):
    recurring.add("nightly", "demo", "0 3 * * *", "update dependencies", zone="Europe/Berlin")
    html = client.get("/schedules/").content.decode()
    assert "nightly" in html and "<code>0 3 * * *</code>" in html and "At 03:00" in html and "(Europe/Berlin)" in html
    next_run = recurring.next_run(recurring.get("nightly"))
    assert f"{next_run:%Y-%m-%d %H:%M}" in html


def test_run_now_adds_one_task_and_shows_it_in_the_row(client, demo):
    recurring.add("nightly", "demo", "0 3 * * *", "update dependencies")
    response = client.post("/schedules/nightly/run", headers=HTMX)
    [task] = Task.objects.all()
    html = response.content.decode()
    assert html.lstrip().startswith('<tr id="schedule-nightly">') and task.id in html
    assert f"Added task {task.id} from nightly." in html
    assert task.metadata["by"] == "web:staff"


def test_run_now_without_javascript_redirects_back(client, demo):
    recurring.add("nightly", "demo", "0 3 * * *", "update dependencies")
    assert client.post("/schedules/nightly/run").headers["Location"] == "/schedules/"
    assert Task.objects.count() == 1
    gone = client.post("/schedules/nope/run", follow=True)
    assert "no schedule named &#x27;nope&#x27;" in gone.content.decode()


def test_a_project_is_paused_and_resumed_from_its_row(client, demo):
    factories.task()
    html = client.post("/projects/demo/pause", {"reason": "rebasing"}, headers=HTMX).content.decode()
    assert 'class="badge paused"' in html and "Resume" in html and "Paused demo: 1 pending task(s) held back." in html
    assert pausing.is_paused("demo") and Task.objects.get().status == "paused"
    paused = Event.objects.get(type="project.paused")
    assert paused.data["by"] == "web:staff" and paused.data["reason"] == "rebasing"
    queue_page = client.get("/tasks/").content.decode()
    assert "Project <strong>demo</strong> is paused by web:staff" in queue_page and "rebasing" in queue_page
    assert 'class="badge paused"' in client.get("/").content.decode()
    html = client.post("/projects/demo/resume", headers=HTMX).content.decode()
    assert "Pause</button>" in html and "Resumed demo: 1 task(s) pending again." in html
    assert Task.objects.get().status == "pending"


def test_pausing_a_paused_project_is_a_message(client, demo):
    pausing.pause("demo")
    html = client.post("/projects/demo/pause", follow=True).content.decode()
    assert "project demo is already paused" in html


def test_a_task_page_shows_what_it_waits_for_and_what_waits_for_it(client, demo):
    first = factories.task(description="refactor")
    then = queue.enqueue("demo", "run the migration", after=[first.id])
    html = client.get(f"/tasks/{then.id}/").content.decode()
    assert "Waits for" in html and f'href="/tasks/{first.id}/"' in html and "refactor" in html
    html = client.get(f"/tasks/{first.id}/").content.decode()
    assert "Waited on by" in html and f'href="/tasks/{then.id}/"' in html and "blocked" in html.lower()


def test_the_queue_filters_waiting_tasks(client, demo):
    first = factories.task()
    then = queue.enqueue("demo", "then", after=[first.id])
    response = client.get("/tasks/?status=waiting")
    assert [t.id for t in response.context["tasks"]] == [then.id]
    assert [t.id for t in client.get("/tasks/?status=blocked").context["tasks"]] == [then.id]
