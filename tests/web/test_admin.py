"""Django admin for every table: through the routers, through the domain modules, cheap on big tables."""

import re

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test.utils import CaptureQueriesContext

from agents import lifecycle
from agents.models import Agent
from events import feed
from events.models import AgentRun, Event
from projects.models import Project
from tasks.models import Status, Task
from tests import factories
from tests.web.servers import https_client

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

CHANGE_LISTS = [
    "/admin/projects/project/",
    "/admin/agents/agent/",
    "/admin/tasks/task/",
    "/admin/events/event/",
    "/admin/events/agentrun/",
]


@pytest.fixture
def admin_client(db):
    user = User.objects.create_superuser("boss", password="pw")
    client = https_client()
    client.force_login(user)
    return client


@pytest.fixture
def filled(demo):
    factories.project("other", "/srv/other")
    tasks = [factories.task(description=f"task {i}", priority=p) for i, p in enumerate(["low", "high", "urgent"])]
    lifecycle.claim("demo")
    run = lifecycle.start_run("demo", task=tasks[0].id)
    lifecycle.end_run(run.id, 0)
    return tasks


@pytest.mark.parametrize("url", CHANGE_LISTS)
def test_every_change_list_answers(admin_client, filled, url):
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize(
    "url, expected",
    [
        ("/admin/tasks/task/?status__exact=in_progress", 1),
        ("/admin/tasks/task/?priority=low", 1),
        ("/admin/tasks/task/?priority=urgent&status__exact=in_progress", 1),
        ("/admin/tasks/task/?project=demo", 3),
        ("/admin/tasks/task/?project=other", 0),
        ("/admin/events/event/?level__exact=info&type=task.claimed", 1),
        ("/admin/events/event/?project=demo&type=task.created", 3),
        ("/admin/events/agentrun/?status__exact=completed&project=demo", 1),
    ],
)
def test_change_list_filters(admin_client, filled, url, expected):
    response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == expected


def test_time_columns_read_as_the_apps_and_sort_by_their_field(admin_client, filled):
    html = admin_client.get("/admin/tasks/task/").content.decode()
    newest = max(filled, key=lambda t: t.created_at)
    assert f'<time datetime="{newest.created_at:%Y-%m-%dT%H:%M:%S}Z"' in html and "just now</time>" in html
    # Column 7 is "created" (after the checkbox, id, project, description, priority, status, agent).
    headers = re.findall(r'<th scope="col" class="([^"]*)"', html)
    assert "sortable column-created_at" in headers[7], headers
    oldest_first = admin_client.get("/admin/tasks/task/?o=7").context["cl"].result_list
    assert [t.id for t in oldest_first] == [t.id for t in sorted(filled, key=lambda t: t.created_at)]
    runs = admin_client.get("/admin/events/agentrun/?o=5").context["cl"].result_list
    assert len(runs) == 1
    # Filtered by status, tasks come in claim order and no column sorts.
    assert "sortable" not in admin_client.get("/admin/tasks/task/?status__exact=pending").content.decode()


def test_an_events_data_shows_on_one_line_in_its_first_lines(admin_client, demo):
    feed.record("agent.error", project="demo", level="error", data={"error": "x" * 5000, "step": 2})
    html = admin_client.get("/admin/events/event/").content.decode()
    assert f'<td class="field-data"><span class="clamp">{{&quot;error&quot;: &quot;{"x" * 5000}&quot;, &quot;step&quot;: 2}}</span></td>' in html


def test_search_finds_a_task_by_id_or_words_and_events_by_task_id(admin_client, filled):
    task = filled[1]
    assert list(admin_client.get(f"/admin/tasks/task/?q={task.id}").context["cl"].result_list) == [task]
    assert [t.id for t in admin_client.get("/admin/tasks/task/?q=task 2").context["cl"].result_list] == [filled[2].id]
    events = admin_client.get(f"/admin/events/event/?q={task.id}").context["cl"].result_list
    assert {e.task_id for e in events} == {task.id} and len(events) == 1
    runs = admin_client.get(f"/admin/events/agentrun/?q={filled[0].id}").context["cl"].result_list
    assert len(runs) == 1


def test_lists_offer_projects_from_the_registry_and_types_the_domain_writes(admin_client, filled):
    with CaptureQueriesContext(connections["tasks"]) as tasks_queries, CaptureQueriesContext(connections["logs"]) as logs_queries:
        admin_client.get("/admin/tasks/task/")
        admin_client.get("/admin/events/event/")
    html = admin_client.get("/admin/events/event/").content.decode()
    assert "?project=other" in html and "?type=agent.stale" in html
    for query in tasks_queries.captured_queries + logs_queries.captured_queries:
        assert "DISTINCT" not in query["sql"].upper(), query["sql"]


def test_change_lists_never_count_a_whole_big_table(admin_client, filled):
    for url in [
        "/admin/tasks/task/",
        "/admin/events/event/",
        "/admin/events/agentrun/",
        "/admin/tasks/task/?status__exact=pending",
        "/admin/tasks/task/?project=demo",
        "/admin/tasks/task/?status__exact=completed&priority=low",
        "/admin/events/event/?level__exact=error",
        "/admin/events/agentrun/?status__exact=completed&project=demo",
    ]:
        alias = "tasks" if "tasks" in url else "logs"
        with CaptureQueriesContext(connections[alias]) as queries:
            admin_client.get(url)
        counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
        assert counts, url
        for sql in counts:
            # Only ever COUNT(*) over a LIMITed subquery.
            assert "LIMIT 10001" in sql, sql


def test_a_capped_count_says_more_than(admin_client, demo, monkeypatch):
    monkeypatch.setattr("common.paging.CappedPaginator.cap", 3)
    for i in range(5):
        feed.record("test.tick", data={"i": i})
    html = admin_client.get("/admin/events/event/?type=").content.decode()
    assert "more than 3 events" in html


def test_a_capped_list_still_pages(admin_client, demo, monkeypatch):
    from django.contrib import admin

    monkeypatch.setattr("common.paging.CappedPaginator.cap", 3)
    monkeypatch.setattr(admin.site._registry[Event], "list_per_page", 2)
    for i in range(5):
        feed.record("test.tick", data={"i": i})
    first = admin_client.get("/admin/events/event/?type=test.tick")
    second = admin_client.get("/admin/events/event/?type=test.tick&p=2")
    assert first.status_code == second.status_code == 200
    ids = [[e.id for e in page.context["cl"].result_list] for page in (first, second)]
    newest = list(Event.objects.filter(type="test.tick").order_by("-id").values_list("id", flat=True))
    assert ids == [newest[:2], newest[2:4]]
    # Django's page links, from the capped count.
    assert re.search(r'href="\?[^"]*\bp=2\b', first.content.decode())


def test_task_actions_cancel_retry_and_set_priority_go_through_the_queue(admin_client, filled):
    low, high, urgent = filled
    url = "/admin/tasks/task/"

    response = admin_client.post(url, {"index": 0, "action": "cancel", "_selected_action": [low.id, high.id, urgent.id]}, follow=True)
    assert "Cancelled 3 tasks." in response.content.decode()
    assert "only pending or in-progress" not in response.content.decode()
    assert set(Task.objects.values_list("status", flat=True)) == {Status.CANCELLED}
    assert Event.objects.filter(type="task.cancelled", data__by="web:boss").count() == 3

    admin_client.post(url, {"index": 0, "action": "retry", "_selected_action": [low.id]})
    assert Task.objects.get(pk=low.id).status == Status.PENDING

    admin_client.post(url, {"index": 0, "action": "set_priority", "priority": "urgent", "_selected_action": [low.id]})
    assert Task.objects.get(pk=low.id).priority == "urgent"
    assert Event.objects.for_task(low.id).filter(type="task.reprioritized").exists()

    response = admin_client.post(url, {"index": 0, "action": "set_priority", "priority": "", "_selected_action": [low.id]}, follow=True)
    assert "Choose the new priority next to the action." in response.content.decode()


def test_an_action_that_does_not_fit_says_so(admin_client, filled):
    low = filled[0]
    response = admin_client.post("/admin/tasks/task/", {"index": 0, "action": "retry", "_selected_action": [low.id]}, follow=True)
    assert f"Task {low.id} is pending; only failed or cancelled tasks can be retried" in response.content.decode()


def test_adding_a_task_in_the_admin_enqueues_it(admin_client, demo):
    response = admin_client.post(
        "/admin/tasks/task/add/", {"project": "demo", "description": "from the admin", "priority": "high", "metadata": "null"}
    )
    assert response.status_code == 302
    task = Task.objects.get(description="from the admin")
    assert (task.priority, task.status) == ("high", "pending")
    assert Event.objects.for_task(task.id).filter(type="task.created").exists()


def test_adding_a_task_for_an_unknown_project_is_a_form_error(admin_client, demo):
    response = admin_client.post("/admin/tasks/task/add/", {"project": "ghost", "description": "x", "priority": "normal", "metadata": "null"})
    assert response.status_code == 200
    assert "unknown project &#x27;ghost&#x27;" in response.content.decode()
    assert not Task.objects.exists()


def test_tasks_are_changed_only_by_actions_and_never_deleted(admin_client, filled):
    task = filled[0]
    page = admin_client.get(f"/admin/tasks/task/{task.id}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    admin_client.post(f"/admin/tasks/task/{task.id}/change/", {"description": "changed", "priority": "low"})
    assert Task.objects.get(pk=task.id).description == task.description
    assert admin_client.post(f"/admin/tasks/task/{task.id}/delete/", {"post": "yes"}).status_code == 403
    assert Task.objects.filter(pk=task.id).exists()


@pytest.mark.parametrize("model", ["event", "agentrun"])
def test_events_and_runs_are_read_only(admin_client, filled, model):
    obj = (Event if model == "event" else AgentRun).objects.first()
    assert admin_client.get(f"/admin/events/{model}/add/").status_code == 403
    page = admin_client.get(f"/admin/events/{model}/{obj.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert admin_client.post(f"/admin/events/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403


def test_saving_a_project_goes_through_register_and_writes_its_event(admin_client, demo):
    response = admin_client.post("/admin/projects/project/demo/change/", {"path": "/srv/moved", "config": '{"max_retries": 1}'})
    assert response.status_code == 302
    project = Project.objects.get(pk="demo")
    assert (project.path, project.config) == ("/srv/moved", {"max_retries": 1})
    assert Event.objects.filter(type="project.updated", project="demo").exists()

    response = admin_client.post("/admin/projects/project/add/", {"name": "fresh", "path": "/srv/fresh", "config": "null"})
    assert response.status_code == 302
    assert Agent.objects.filter(pk="fresh").exists()
    assert Event.objects.filter(type="project.registered", project="fresh").exists()


def test_a_project_config_must_be_an_object(admin_client, demo):
    response = admin_client.post("/admin/projects/project/demo/change/", {"path": "/srv/demo", "config": "[1, 2]"})
    assert response.status_code == 200
    assert "The config is a JSON object." in response.content.decode()


def test_saving_an_agent_changes_provider_and_worktree_through_register(admin_client, demo):
    response = admin_client.post("/admin/agents/agent/demo/change/", {"provider": "claude", "preferred_worktree": "/wt/demo"})
    assert response.status_code == 302
    agent = Agent.objects.get(pk="demo")
    assert (agent.provider, agent.preferred_worktree) == ("claude", "/wt/demo")
    assert Event.objects.filter(type="project.updated", project="demo").exists()
    assert admin_client.get("/admin/agents/agent/add/").status_code == 403
