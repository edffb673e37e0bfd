"""Who may see the pages; the dashboard, agents and projects pages; the health check."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agents import lifecycle
from agents.models import Agent, AgentStatus
from events.models import AgentRun
from tasks import board, queue
from tasks.models import Status, Task
from tests import factories
from tests.web.servers import https_client

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PAGES = ["/", "/tasks/", "/tasks/0123456789abcdef/", "/events/", "/events/feed?after=0", "/agents/", "/projects/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_the_login_page(url):
    response = https_client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_an_anonymous_htmx_request_redirects_the_whole_page_to_login():
    response = https_client().get("/events/feed?after=3", headers={"HX-Request": "true", "HX-Current-URL": "https://testserver/events/?level=error"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/admin/login/?next=/events/%3Flevel%3Derror"


@pytest.mark.parametrize("url", PAGES)
def test_logged_in_users_who_are_not_staff_are_refused(outsider_client, url):
    assert outsider_client.get(url).status_code == 403


def test_users_who_are_not_staff_cannot_act_on_tasks(outsider_client, demo):
    task = factories.task()
    assert outsider_client.post(f"/tasks/{task.id}/cancel").status_code == 403
    assert outsider_client.post("/tasks/bulk", {"action": "cancel", "ids": [task.id]}).status_code == 403
    assert Task.objects.get(pk=task.id).status == Status.PENDING


def test_pages_load_htmx_and_css_from_our_own_static_files(client):
    html = client.get("/").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert '/static/adt.css' in html
    assert "https://" not in html and "http://" not in html.replace('http://www.w3.org', '')
    # CSRF for every htmx request travels in a header set on <body>.
    assert '<body hx-headers=\'{"X-CSRFToken": "' in html


def test_dashboard_shows_queue_depth_by_status_priority_and_project(client, demo):
    factories.project("other", "/srv/other")
    factories.task(priority="urgent")
    factories.task(priority="low")
    factories.task(project="other", priority="high")
    held = lifecycle.claim("demo", "demo")
    done = lifecycle.claim("other", "other")
    queue.complete(done.id, "other")
    factories.task(project="other")
    queue.cancel(factories.task().id)

    response = client.get("/")

    assert response.status_code == 200
    counts = {status: n for status, _, n in response.context["counts"]}
    assert counts == {"scheduled": 0, "blocked": 0, "paused": 0, "pending": 2, "in_progress": 1, "completed": 1,
                      "failed": 0, "cancelled": 1}
    assert response.context["total"] == 5
    depth = {status: row for status, _, row in response.context["depth"]}
    # Columns: urgent, high, normal, low.
    assert depth == {"pending": [0, 0, 1, 1], "in_progress": [1, 0, 0, 0]}
    assert held.priority == "urgent"
    assert response.context["projects"] == [("demo", 1, 1, None), ("other", 1, 0, None)]


def test_status_counts_agree_with_a_plain_group_by(demo):
    for _ in range(3):
        factories.task()
    lifecycle.claim("demo")
    queue.cancel(factories.task().id)
    # A row the seed's schema allows but the queue never writes.
    Task.objects.create(project="demo", description="imported", status=None)
    truth = {}
    for status in Task.objects.values_list("status", flat=True):
        truth[status] = truth.get(status, 0) + 1
    counts = board.status_counts()
    assert counts == {s: truth.get(s, 0) for s in Status.values}
    assert sum(counts.values()) == Task.objects.count() - 1


def test_dashboard_chart_counts_finished_and_failed_tasks_per_hour(client, demo):
    now = timezone.now()
    finished = []
    for _ in range(4):
        task = factories.task()
        lifecycle.claim("demo")
        finished.append(queue.complete(task.id, "demo"))
    failing = factories.task()
    Task.objects.filter(pk=failing.id).update(retry_count=99)
    lifecycle.claim("demo")
    failed = queue.fail(failing.id, "demo", "boom")
    assert failed.status == Status.FAILED
    # Put them at known hours: two 3 h ago, one now, one two days ago (outside the chart).
    three_hours_ago = now - timedelta(hours=3)
    Task.objects.filter(pk__in=[finished[0].id, finished[1].id]).update(completed_at=three_hours_ago)
    Task.objects.filter(pk=finished[3].id).update(completed_at=now - timedelta(days=2))

    buckets = board.finished_per_hour(now)

    assert len(buckets) == 24
    assert buckets[-1]["start"] <= now < buckets[-1]["start"] + timedelta(hours=1)
    assert [b["completed"] for b in buckets][-4:] == [2, 0, 0, 1]
    assert buckets[-1]["failed"] == 1
    assert sum(b["completed"] for b in buckets) == 3

    html = client.get("/").content.decode()
    assert "<svg" in html and 'class="chart"' in html
    assert f"{three_hours_ago.replace(minute=0):%H}:00: 2 completed, 0 failed" in html
    assert "3 completed" in html and "1 failed" in html


def test_dashboard_makes_stale_and_silent_agents_stand_out(client, demo):
    factories.project("quiet", "/srv/quiet")
    factories.project("fine", "/srv/fine")
    Agent.objects.filter(pk="demo").update(status=AgentStatus.STALE)
    Agent.objects.filter(pk="quiet").update(status=AgentStatus.WORKING, last_heartbeat=timezone.now() - timedelta(minutes=5))
    lifecycle.heartbeat("fine", "working")

    response = client.get("/")

    rows = {row["agent"].name: row for row in response.context["agents"]}
    assert rows["demo"]["stale"] and not rows["fine"]["stale"]
    assert rows["quiet"]["silent"] and not rows["fine"]["silent"]
    html = response.content.decode()
    assert '<tr class="stale">' in html and '<tr class="silent">' in html
    assert "5 min ago" in html


def test_dashboard_lists_the_latest_events(client, demo):
    task = factories.task(description="look at me")
    html = client.get("/").content.decode()
    assert "task.created" in html and task.id in html and "project.registered" in html


def test_an_htmx_refresh_of_the_dashboard_gets_only_the_board(client, demo):
    response = client.get("/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="board"')
    assert "<html" not in html


def test_agents_page_shows_state_heartbeat_current_task_and_recent_runs(client, demo):
    task = factories.task()
    lifecycle.claim("demo")
    run = lifecycle.start_run("demo", task=task.id)
    lifecycle.end_run(run.id, 1, error="it broke")
    lifecycle.start_run("demo", task=task.id, log_path="/tmp/run.log")

    response = client.get("/agents/")

    html = response.content.decode()
    [row] = response.context["agents"]
    assert row["agent"].name == "demo" and row["tasks"] == [task.id]
    assert row["age"] is not None and row["age"] < 60
    assert f'href="/tasks/{task.id}/"' in html
    assert "it broke" in html
    assert [r.id for r in response.context["runs"]] == list(AgentRun.objects.order_by("-id").values_list("id", flat=True))



def test_an_agent_holding_many_tasks_shows_the_oldest_three_and_how_many_more(client, demo):
    held = []
    for _ in range(5):
        factories.task()
        held.append(lifecycle.claim("demo").id)

    html = client.get("/agents/").content.decode()

    assert [task_id for task_id in held if f'href="/tasks/{task_id}/"' in html] == held[:3]
    assert 'href="/tasks/?status=in_progress">and 2 more</a>' in html

def test_projects_page_lists_the_registry_with_active_task_counts(client, demo):
    factories.project("other", "/srv/other", config={"max_retries": 5})
    factories.task()
    factories.task()
    lifecycle.claim("demo")
    response = client.get("/projects/")
    rows = {row["project"].name: (row["pending"], row["in_progress"], row["agent"].provider) for row in response.context["projects"]}
    assert rows == {"demo": (1, 1, "cursor"), "other": (0, 0, "cursor")}
    html = response.content.decode()
    assert "/srv/demo" in html and "/srv/other" in html
    assert "&quot;max_retries&quot;: 5" in html
    assert 'href="/tasks/?project=demo&status=pending">1</a>' in html


def test_healthz_answers_without_login_when_every_database_answers():
    # Over plain HTTP too: load balancers probe without TLS.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
