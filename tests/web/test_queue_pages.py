"""The queue page, a task's page, and actions on tasks from the browser."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from agents import lifecycle
from events.models import Event
from tasks import board, queue
from tasks.models import Status, Task
from tests import factories
from tests.web.servers import https_client

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def projects(demo):
    factories.project("other", "/srv/other")


def ids(response):
    return [task.id for task in response.context["tasks"]]


def aged(task, minutes):
    """Make `task` look created `minutes` ago (test data; claim order reads created_at)."""
    Task.objects.filter(pk=task.id).update(created_at=timezone.now() - timedelta(minutes=minutes))
    return task


def test_queue_lists_held_tasks_then_pending_ones_in_claim_order(client):
    old_normal = aged(factories.task(priority="normal"), 30)
    new_normal = aged(factories.task(priority="normal"), 10)
    low = aged(factories.task(priority="low"), 60)
    urgent = aged(factories.task(priority="urgent"), 5)
    high = aged(factories.task(priority="high"), 1)
    held = lifecycle.claim("demo")  # takes the urgent one
    finished = factories.task(project="other")
    queue.cancel(finished.id)

    response = client.get("/tasks/")

    assert held.id == urgent.id
    assert ids(response) == [urgent.id, high.id, old_normal.id, new_normal.id, low.id]
    assert ids(client.get("/tasks/?status=all"))[-1] == finished.id
    # What the claim itself would take next, in the same order.
    assert [t.id for t in Task.objects.pending().in_claim_order()] == ids(response)[1:]


def test_queue_filters_by_status_project_priority_and_text(client):
    a = factories.task(description="Fix the parser", priority="high")
    b = factories.task(project="other", description="fix the PARSER again", priority="low")
    c = factories.task(description="write docs", priority="low")
    queue.cancel(c.id)

    assert ids(client.get("/tasks/?project=other")) == [b.id]
    assert ids(client.get("/tasks/?priority=low")) == [b.id]
    assert ids(client.get("/tasks/?priority=low&status=all")) == [b.id, c.id]
    assert ids(client.get("/tasks/?status=cancelled")) == [c.id]
    assert ids(client.get("/tasks/?q=parser")) == [a.id, b.id]
    assert ids(client.get(f"/tasks/?q={c.id}&status=all")) == [c.id]
    assert ids(client.get("/tasks/?q=parser&project=demo&priority=high")) == [a.id]


def test_an_unknown_filter_value_shows_an_error_and_falls_back(client):
    task = factories.task()
    response = client.get("/tasks/?status=sleeping&project=ghost")
    assert response.status_code == 200
    assert ids(response) == [task.id]
    html = response.content.decode()
    assert "Select a valid choice. sleeping is not one of the available choices." in html


def test_an_htmx_filter_request_gets_only_the_results(client):
    factories.task(description="only me")
    response = client.get("/tasks/?status=pending", headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="queue-results">')
    assert "only me" in html and "<html" not in html


def test_listing_pages_run_across_statuses_without_gaps_or_repeats():
    tasks = [aged(factories.task(), 100 - i) for i in range(7)]
    for _ in range(2):
        lifecycle.claim("demo")
    queue.cancel(tasks[6].id)
    everything = board.listing(board.LISTING_ORDER, limit=100)[0]
    assert [t.status for t in everything] == ["in_progress"] * 2 + ["pending"] * 4 + ["cancelled"]

    pages, offset, more = [], 0, True
    while more:
        rows, more = board.listing(board.LISTING_ORDER, offset=offset, limit=3)
        pages.append([t.id for t in rows])
        offset += 3
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sum(pages, []) == [t.id for t in everything]


def test_show_more_brings_only_the_next_rows(client, monkeypatch):
    monkeypatch.setattr("tasks.views.PAGE_ROWS", 2)
    tasks = [aged(factories.task(description=f"task {i}"), 10 - i) for i in range(3)]

    first = client.get("/tasks/")
    assert ids(first) == [tasks[0].id, tasks[1].id]
    assert 'hx-get="/tasks/?offset=2"' in first.content.decode()

    more = client.get("/tasks/?offset=2", headers=HTMX)
    html = more.content.decode()
    assert re.findall(r'<tr id="task-(\w+)"', html) == [tasks[2].id]
    assert html.lstrip().startswith(f'<tr id="task-{tasks[2].id}"')
    assert "queue-more" not in html and "<table" not in html


def test_cancel_is_an_htmx_post_that_returns_the_changed_row_and_a_message(client):
    task = factories.task()

    response = client.post(f"/tasks/{task.id}/cancel", {"next": "/tasks/"}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="task-{task.id}" class="status-cancelled">')
    assert '<div id="messages" class="messages" aria-live="polite" hx-swap-oob="true">' in html
    assert f"Cancelled task {task.id}." in html
    assert Task.objects.get(pk=task.id).status == Status.CANCELLED
    event = Event.objects.for_task(task.id).get(type="task.cancelled")
    assert event.data["by"] == "web:staff"


@pytest.mark.parametrize(
    "action, prepare, data, expect",
    [
        ("retry", lambda t: queue.cancel(t.id), {}, {"status": "pending"}),
        ("requeue", lambda t: lifecycle.claim("demo"), {}, {"status": "pending", "retry_count": 1}),
        ("reprioritize", lambda t: None, {"priority": "urgent"}, {"priority": "urgent"}),
    ],
)
def test_each_action_goes_through_the_queue_and_writes_its_event(client, action, prepare, data, expect):
    task = factories.task()
    prepare(task)

    response = client.post(f"/tasks/{task.id}/{action}", data, headers=HTMX)

    assert response.status_code == 200
    stored = Task.objects.filter(pk=task.id).values(*expect).get()
    assert stored == expect
    types = {"retry": "task.retried", "requeue": "task.requeued", "reprioritize": "task.reprioritized"}
    assert Event.objects.for_task(task.id).filter(type=types[action], data__by="web:staff").exists()


def test_an_impossible_change_is_a_message_not_an_error(client):
    task = factories.task()
    lifecycle.claim("demo")
    queue.complete(task.id, "demo")

    response = client.post(f"/tasks/{task.id}/cancel", headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert f"task {task.id} is completed; only unfinished tasks can be cancelled" in html
    assert 'class="message error"' in html
    # The row comes back as it is.
    assert f'<tr id="task-{task.id}" class="status-completed">' in html


def test_a_bad_priority_and_an_unknown_task_are_messages(client):
    task = factories.task()
    bad = client.post(f"/tasks/{task.id}/reprioritize", {"priority": "asap"}, headers=HTMX).content.decode()
    assert "unknown priority &#x27;asap&#x27;" in bad
    missing = client.post("/tasks/ffffffffffffffff/cancel", headers=HTMX)
    assert missing.status_code == 200
    assert "no task with id &#x27;ffffffffffffffff&#x27;" in missing.content.decode()
    assert "<tr" not in missing.content.decode()


def test_an_unknown_action_is_404_and_reading_an_action_is_405(client):
    task = factories.task()
    assert client.post(f"/tasks/{task.id}/explode").status_code == 404
    assert client.get(f"/tasks/{task.id}/cancel").status_code == 405
    assert client.get("/tasks/bulk").status_code == 405


def test_without_javascript_an_action_redirects_back_with_its_message(client):
    task = factories.task()
    response = client.post(f"/tasks/{task.id}/cancel", {"next": "/tasks/?status=all"})
    assert response.status_code == 302 and response["Location"] == "/tasks/?status=all"
    page = client.get(response["Location"]).content.decode()
    assert f"Cancelled task {task.id}." in page


def test_next_never_leaves_the_site(client):
    task = factories.task()
    response = client.post(f"/tasks/{task.id}/cancel", {"next": "https://evil.example/"})
    assert response["Location"] == "/tasks/"


def test_bulk_actions_change_every_selected_task_and_say_which_could_not(client):
    pending = [factories.task() for _ in range(3)]
    queue.cancel(pending[2].id)

    response = client.post(
        "/tasks/bulk?status=all", {"action": "cancel", "confirmed": "1", "ids": [t.id for t in pending]}, headers=HTMX
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="queue-results">')
    assert "Cancelled 2 tasks." in html
    assert f"task {pending[2].id} is cancelled; only unfinished tasks" in html
    assert set(Task.objects.values_list("status", flat=True)) == {"cancelled"}
    # The results come back with the page's filters.
    assert len(response.context["tasks"]) == 3


def test_bulk_reprioritize_uses_the_chosen_priority(client):
    tasks = [factories.task() for _ in range(2)]
    client.post("/tasks/bulk", {"action": "reprioritize", "priority": "high", "ids": [t.id for t in tasks]}, headers=HTMX)
    assert set(Task.objects.values_list("priority", flat=True)) == {"high"}


def test_bulk_without_an_action_or_a_selection_changes_nothing(client):
    task = factories.task()
    html = client.post("/tasks/bulk", {"ids": [task.id]}, headers=HTMX).content.decode()
    assert "Choose what to do with the selected tasks." in html
    html = client.post("/tasks/bulk", {"action": "cancel"}, headers=HTMX).content.decode()
    assert "Select at least one task." in html
    assert Task.objects.get(pk=task.id).status == Status.PENDING


def test_state_changes_need_the_csrf_token(staff):
    task = factories.task()
    client = https_client(enforce_csrf_checks=True)
    client.force_login(staff)
    # A browser's POST says where it comes from; only the token differs below.
    same_origin = {**HTMX, "Origin": "https://testserver"}

    refused = client.post(f"/tasks/{task.id}/cancel", headers=same_origin)
    assert refused.status_code == 403
    assert Task.objects.get(pk=task.id).status == Status.PENDING

    page = client.get("/tasks/").content.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    accepted = client.post(f"/tasks/{task.id}/cancel", headers={**same_origin, "X-CSRFToken": token})
    assert accepted.status_code == 200
    assert Task.objects.get(pk=task.id).status == Status.CANCELLED


def test_task_page_shows_the_task_and_its_event_timeline(client):
    task = factories.task(description="the one", metadata={"ticket": 42})
    factories.task(description="another")
    lifecycle.claim("demo")
    queue.complete(task.id, "demo", result="all good")

    response = client.get(f"/tasks/{task.id}/")

    assert response.status_code == 200
    assert [e.type for e in response.context["events"]] == ["task.created", "task.claimed", "task.completed"]
    html = response.content.decode()
    assert "the one" in html and "all good" in html and "&quot;ticket&quot;: 42" in html
    assert "another" not in html


def test_task_page_of_an_unknown_task_is_404(client):
    assert client.get("/tasks/ffffffffffffffff/").status_code == 404


def test_an_action_on_the_task_page_returns_the_task_summary(client):
    task = factories.task()
    response = client.post(f"/tasks/{task.id}/cancel", {"view": "detail"}, headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="task-summary" class="card status-cancelled">')
    assert f"Cancelled task {task.id}." in html


def test_a_scheduled_task_shows_when_it_runs_and_can_be_cancelled_from_the_queue(client):
    task = queue.enqueue("demo", "nightly update", run_at=timezone.now() + timedelta(hours=2), unique_key="nightly")
    listing = client.get("/tasks/?status=scheduled").content.decode()
    assert task.id in listing and f"/tasks/{task.id}/cancel" in listing
    page = client.get(f"/tasks/{task.id}/").content.decode()
    assert "Runs at" in page and task.run_at.strftime("%Y-%m-%d %H:%M") in page and "nightly" in page
    client.post(f"/tasks/{task.id}/cancel", headers=HTMX)
    assert Task.objects.get(pk=task.id).status == "cancelled"
