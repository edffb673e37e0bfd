"""What the pages tell people: relative times, durations, capped counts per status, events as sentences, the add form."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from agents import lifecycle
from common.templatetags.adt_format import ago, duration, upto
from tasks import board, queue
from tasks.models import Task
from tests import factories

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

HTMX = {"HX-Request": "true"}


def aged(task, **delta):
    Task.objects.filter(pk=task.id).update(created_at=timezone.now() - timedelta(**delta))
    return Task.objects.get(pk=task.id)


# Relative times and durations -------------------------------------------------


def test_a_time_is_relative_words_with_the_exact_time_on_hover():
    now = datetime(2026, 12, 1, 15, 0, 0, tzinfo=UTC)
    html = ago(now - timedelta(minutes=3, seconds=10), now)
    assert html == '<time datetime="2026-12-01T14:56:50Z" title="2026-12-01 14:56:50 UTC">3 min ago</time>'
    assert ">just now<" in ago(now, now)
    assert ">in 2 h<" in ago(now + timedelta(hours=2), now)
    assert ">2 h 5 min ago<" in ago(now - timedelta(hours=2, minutes=5), now)
    assert ">3 d ago<" in ago(now - timedelta(days=3, hours=1), now)
    assert ago(None) == "—"


def test_durations_read_as_lengths_of_time():
    assert [duration(s) for s in (0, 31, 60 * 4, 3600 + 300, 86400 * 2, None)] == ["0 s", "31 s", "4 min", "1 h 5 min", "2 d", "—"]


def test_queue_rows_show_when_a_task_was_added_and_how_long_it_waited_and_ran(client, demo):
    waiting = aged(factories.task(description="still waiting"), minutes=7)
    running = aged(factories.task(priority="urgent", description="running"), minutes=20)
    lifecycle.claim("demo")
    Task.objects.filter(pk=running.id).update(started_at=timezone.now() - timedelta(minutes=12))

    html = client.get("/tasks/").content.decode()

    row = re.search(rf'<tr id="task-{waiting.id}".*?</tr>', html, re.S).group(0)
    assert re.search(r'<time datetime="[\d\-T:]+Z" title="[\d\- :]+ UTC">7 min ago</time>', row)
    assert '<span title="waited: added → claimed">7 min</span>' in row
    row = re.search(rf'<tr id="task-{running.id}".*?</tr>', html, re.S).group(0)
    assert '<span title="waited: added → claimed">8 min</span>' in row
    assert '<span title="ran: claimed → now">12 min</span>' in row


def test_task_page_shows_waited_and_ran_for_a_finished_task(client, demo):
    task = factories.task()
    lifecycle.claim("demo")
    queue.complete(task.id, "demo")
    start = timezone.now() - timedelta(hours=1)
    Task.objects.filter(pk=task.id).update(created_at=start, started_at=start + timedelta(seconds=45),
                                           completed_at=start + timedelta(minutes=30, seconds=45))

    html = client.get(f"/tasks/{task.id}/").content.decode()

    assert "<dt>Waited</dt><dd>45 s " in html
    assert "<dt>Ran</dt><dd>30 min " in html
    assert re.search(r"<dt>Created</dt><dd><time datetime=\"[^\"]+\" title=\"[^\"]+ UTC\">1 h ago</time>", html)


def test_event_rows_show_relative_times(client, demo):
    factories.task()
    html = client.get("/events/").content.decode()
    assert re.search(r'<span class="time"><time datetime="[^"]+" title="[^"]+ UTC">just now</time></span>', html)


# Capped counts per status ---------------------------------------------------


def test_counts_are_exact_up_to_the_cap_then_say_cap_plus():
    assert [upto(n, 5) for n in (0, 5, 6)] == ["0", "5", "5+"]
    assert upto(500_001, 500_000) == "500k+" and upto(10_001, 10_000) == "10k+" and upto(1234, 10_000) == "1,234"


def test_capped_counts_stop_at_the_cap(demo):
    factories.project("other", "/srv/other")
    for _ in range(7):
        factories.task()
    factories.task(project="other")
    lifecycle.claim("demo")
    counts = board.capped_counts(5)
    assert counts["pending"] == 6 and counts["in_progress"] == 1 and counts["all"] == 6 and counts["completed"] == 0
    assert board.capped_counts(100) == {**{s: 0 for s in board.LISTING_ORDER}, "pending": 7, "in_progress": 1, "all": 8}
    assert board.capped_counts(100, project="other")["pending"] == 1


def test_queue_page_has_a_tab_per_status_with_counts_and_the_total(client, demo, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr("tasks.views.COUNT_CAP", 5)
    for _ in range(6):
        factories.task()
    queue.cancel(factories.task().id)
    lifecycle.claim("demo")

    with django_assert_max_num_queries(12, connection=connections["tasks"]):
        html = client.get("/tasks/?project=demo").content.decode()

    tabs = dict(re.findall(r'class="tab status (\w+)[^"]*"[^>]*>[^<]*<span class="n">([^<]+)</span>', html))
    assert tabs["active"] == "6" and tabs["pending"] == "5" and tabs["in_progress"] == "1"
    assert tabs["cancelled"] == "1" and tabs["completed"] == "0" and tabs["all"] == "7"
    # Each tab keeps the other filters and marks the one shown.
    assert 'href="/tasks/?project=demo&amp;status=cancelled"' in html
    assert re.search(r'class="tab status active current" aria-current="page"', html)
    # "Show more" brings rows only, no counting again.
    assert 'class="tabs"' not in client.get("/tasks/?offset=100", headers=HTMX).content.decode()


def test_the_active_tab_says_cap_plus_when_one_of_its_statuses_is_capped(client, demo, monkeypatch):
    monkeypatch.setattr("tasks.views.COUNT_CAP", 2)
    for _ in range(3):
        factories.task()
    html = client.get("/tasks/").content.decode()
    assert re.search(r'class="tab status active[^"]*"[^>]*>Active <span class="n">2\+</span>', html)
    assert re.search(r'class="tab status pending[^"]*"[^>]*>Pending <span class="n">2\+</span>', html)
    assert re.search(r'class="tab status all[^"]*"[^>]*>All <span class="n">2\+</span>', html)


# Events as sentences ----------------------------------------------------------

T = "1a2b3c4d5e6f7a8b"
SENTENCES = [
    ("task.created", None, {"priority": "high"}, "Fix the login test added to project demo, high priority"),
    ("task.created", None, {"priority": "normal", "after": ["a", "b"], "unique": "k", "by": "web:alice"},
     "alice added Fix the login test to project demo, after 2 other tasks, unique key k"),
    ("task.scheduled", None, {"run_at": "2026-12-01T16:00:00+00:00"}, "Fix the login test scheduled for 2026-12-01 16:00 UTC in project demo"),
    ("task.due", None, {"run_at": "2026-12-01T16:00:00+00:00"}, "Fix the login test is due and ready to be claimed"),
    ("task.blocked", None, {"after": ["a"], "by": "web:bob"}, "bob made Fix the login test wait for 1 other task"),
    ("task.unblocked", None, {"status": "pending", "after": "a"}, "Fix the login test is ready: the tasks it waited for have completed"),
    ("task.claimed", "web", {"status": "in_progress", "retry_count": 0}, "web claimed Fix the login test"),
    ("task.claimed", "web", {"retry_count": 2}, "web claimed Fix the login test (retry 2)"),
    ("task.completed", "web", {"status": "completed"}, "Fix the login test completed by web"),
    ("task.attempt_failed", "web", {"retry_count": 1, "max_retries": 3, "error": "boom"},
     "Fix the login test failed on agent web: boom; it goes back in the queue (retry 1 of 3)"),
    ("task.failed", "web", {"retry_count": 3, "max_retries": 3, "error": "boom"},
     "Fix the login test failed for good after 3 retries on agent web: boom"),
    ("task.failed", "api", {"retry_count": 1, "max_retries": 0, "reason": "agent_stale", "error": "agent api went stale"},
     "Fix the login test failed for good after agent api went stale after 1 retry: agent api went stale"),
    ("task.retried", None, {"by": "web:alice", "manual": True, "previous": "failed"}, "alice retried Fix the login test"),
    ("task.cancelled", None, {"by": "web:alice", "was_held_by": "api"}, "alice cancelled Fix the login test, taking it from agent api"),
    ("task.cancelled", None, {"by": None, "was_held_by": None}, "Fix the login test cancelled"),
    ("task.cancelled", None, {"by": "dependency", "after": "ffff"}, "Fix the login test cancelled: task ffff, which it waited for, did not complete"),
    ("task.extended", "web", {"deadline": "2026-12-01T17:30:00+00:00", "seconds": 1800, "previous": None},
     "web extended the time limit of Fix the login test by 30 min, to 2026-12-01 17:30 UTC"),
    ("task.requeued", "api", {"retry_count": 1, "max_retries": 3, "reason": "manual", "by": "web:alice"},
     "alice requeued Fix the login test, taking it from agent api (retry 1 of 3)"),
    ("task.requeued", "api", {"retry_count": 2, "max_retries": 3, "reason": "agent_stale"},
     "Fix the login test requeued: agent api went stale (retry 2 of 3)"),
    ("task.requeued", "api", {"retry_count": 1, "max_retries": 3, "reason": "timeout"},
     "Fix the login test requeued: it ran past its time limit on agent api (retry 1 of 3)"),
    ("task.reprioritized", None, {"from": "normal", "to": "urgent", "by": "web:alice"},
     "alice changed the priority of Fix the login test from normal to urgent"),
    ("task.dependency_added", None, {"after": ["a", "b"], "by": "cli"}, "cli made Fix the login test also wait for 2 tasks"),
    ("agent.started", "api", {"run": 7, "provider": "cursor"}, "agent api started run #7 on Fix the login test"),
    ("agent.stopped", "api", {"run": 7, "exit_code": 0, "status": "completed"}, "agent api finished run #7 on Fix the login test (exit 0)"),
    ("agent.error", "api", {"run": 7, "exit_code": 2, "error": "it broke"}, "agent api's run #7 failed on Fix the login test (exit 2): it broke"),
    ("agent.stale", "api", {"last_heartbeat": "2026-12-01T15:00:00+00:00", "silent_seconds": 31.4},
     "agent api went stale after 31 s without a heartbeat"),
    ("agent.recovered", "api", {"status": "working"}, "agent api is back (working)"),
    ("project.registered", "demo", {"path": "/srv/demo"}, "project demo registered at /srv/demo"),
    ("project.updated", "demo", {"path": "/srv/demo2"}, "project demo updated (path /srv/demo2)"),
    ("project.paused", None, {"by": "web:alice", "reason": "deploy", "tasks": 3}, "alice paused project demo (deploy); 3 tasks held"),
    ("project.resumed", None, {"by": "web:alice", "tasks": 1, "paused_seconds": 300}, "alice resumed project demo after 5 min; 1 task released"),
    ("schedule.added", None, {"schedule": "nightly", "cron": "0 3 * * *", "timezone": "UTC", "by": "cli"},
     "cli added schedule nightly of project demo: 0 3 * * * (UTC)"),
    ("schedule.changed", None, {"schedule": "nightly", "cron": "0 4 * * *", "timezone": "Europe/Paris", "by": None},
     "someone changed schedule nightly of project demo: 0 4 * * * (Europe/Paris)"),
    ("schedule.removed", None, {"schedule": "nightly", "by": "web:alice"}, "alice removed schedule nightly of project demo"),
]
TASKLESS = {"project.registered", "project.updated", "project.paused", "project.resumed", "schedule.added",
            "schedule.changed", "schedule.removed", "agent.stale", "agent.recovered"}


@pytest.mark.parametrize("type, agent, data, expected", SENTENCES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SENTENCES)])
def test_every_known_event_type_reads_as_a_sentence(type, agent, data, expected):
    from events.describe import describe, text
    from events.models import Event

    event = Event(type=type, project="demo", agent=agent, task_id=None if type in TASKLESS else T, data=data)
    assert text(describe(event, "Fix the login test")) == expected


def test_every_known_type_has_its_own_sentence_and_others_a_generic_one():
    from events.describe import SENTENCES as WRITERS
    from events.describe import describe, text
    from events.models import Event
    from events.views import KNOWN_TYPES

    assert set(KNOWN_TYPES) <= set(WRITERS) and {s[0] for s in SENTENCES} == set(KNOWN_TYPES)
    assert text(describe(Event(type="tasks.archived", data={"archived": 3}))) == "tasks.archived"
    assert text(describe(Event(type="token.created", agent="api", project="api", data={}))) == "token.created by agent api"
    # A task without its description is named by its id; data missing what a sentence needs falls back.
    assert text(describe(Event(type="task.completed", agent="web", task_id=T, data=None))) == f"task {T} completed by web"
    assert text(describe(Event(type="schedule.removed", project="demo", data={}))) == "schedule.removed in project demo"
    # Before task.attempt_failed existed, an agent's failure was written as task.retried.
    old = Event(type="task.retried", agent="web", task_id=T, data={"retry_count": 1, "max_retries": 2, "error": "x"})
    assert text(describe(old, "F")) == "F failed on agent web: x; it goes back in the queue (retry 1 of 2)"


def test_feed_and_dashboard_read_as_sentences_with_descriptions_in_one_query(client, demo, django_assert_max_num_queries):
    tasks = [factories.task(description=f"Fix the login test {i}") for i in range(5)]
    for _ in tasks:
        lifecycle.claim("demo")
    queue.complete(tasks[0].id, "demo")

    with django_assert_max_num_queries(1, connection=connections["tasks"]):
        html = client.get("/events/").content.decode()

    assert f'demo claimed <a class="task-ref" href="/tasks/{tasks[1].id}/"><em>Fix the login test 1</em></a>' in html
    assert "<em>Fix the login test 0</em></a> completed by demo" in html
    assert "project demo registered at /srv/demo" in html
    # The raw data folds open on click.
    assert re.search(r'<details class="data">\s*<summary><span class="type">task.completed</span>', html)
    assert "&quot;retry_count&quot;: 0" in html

    dashboard = client.get("/").content.decode()
    assert "<em>Fix the login test 4</em></a> added to project demo" in dashboard
    poll = client.get("/events/feed?after=0", headers=HTMX).content.decode()
    assert "<em>Fix the login test 2</em>" in poll


def test_a_type_prefix_finds_every_event_of_its_kind(client, demo):
    from events import feed
    from events.models import Event

    task = factories.task()
    lifecycle.claim("demo")
    feed.record("agent.error", project="demo", agent="demo", level="error", data={"run": 1, "error": "x"})
    task_events = list(Event.objects.filter(type__startswith="task.").order_by("-id").values_list("id", flat=True))

    response = client.get("/events/?type=task.")

    assert [e.id for e in response.context["events"]] == task_events and len(task_events) == 2
    html = response.content.decode()
    assert '<option value="task." selected>task.*</option>' in html
    # A prefix of a type's name works too, and polls follow the same filter.
    assert [e.type for e in client.get("/events/?type=task.cl").context["events"]] == ["task.claimed"]
    seen = task_events[-1]
    poll = client.get(f"/events/feed?after={seen}&type=task.", headers=HTMX).content.decode()
    assert f'id="event-{task_events[0]}"' in poll and "agent.error" not in poll
    assert task.id in html


def test_a_filter_that_finds_nothing_says_so_and_how_to_widen_it(client, demo):
    html = client.get("/events/?type=task.fail").content.decode()
    assert "No task.fail events — try task. for every task event, or clear the filters." in html
    assert "No events yet" not in html
    html = client.get("/events/?level=error&project=demo").content.decode()
    assert "No error events in project demo — try another type or level, or clear the filters." in html


def test_with_no_events_at_all_the_feed_says_what_makes_them(client):
    from events.models import Event

    Event.objects.all().delete()
    html = client.get("/events/").content.decode()
    assert "No events yet. They appear here as agents and people work" in html


# The dashboard ----------------------------------------------------------------


def test_chart_axis_values_are_round_and_reach_the_busiest_hour():
    from dashboard.charts import nice_ticks

    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(4) == [0, 1, 2, 3, 4]
    assert nice_ticks(37) == [0, 10, 20, 30, 40]
    assert nice_ticks(999) == [0, 200, 400, 600, 800, 1000]


def test_dashboard_chart_has_axes_values_and_a_title_per_hour(client, demo):
    for _ in range(3):
        task = factories.task()
        lifecycle.claim("demo")
        queue.complete(task.id, "demo")

    html = client.get("/").content.decode()

    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S).group(0)
    assert 'viewBox="0 0 360 170"' in svg
    assert len(re.findall(r"<title>\d\d:00: \d+ completed, \d+ failed</title>", svg)) == 24
    # A y-axis with values 0…3 and hour labels under every sixth bar.
    assert re.findall(r'<text x="31" y="[\d.]+" text-anchor="end">(\w+)</text>', svg) == ["0", "1", "2", "3"]
    assert len(re.findall(r'text-anchor="middle">\d\d:00</text>', svg)) == 4
    assert '<line class="axis x"' in svg and 'class="axis y"' in svg


def test_dashboard_counts_fit_their_card_with_the_exact_number_on_hover(client, demo):
    from common.templatetags.adt_format import compact

    for _ in range(3):
        factories.task()
    html = client.get("/").content.decode()
    assert '<a class="count" href="/tasks/?status=all" title="3 tasks in all"><span class="n">3</span> All</a>' in html
    # Millions are written short; the title keeps the exact number.
    assert [compact(n) for n in (999, 1234, 1_234_567, 999_999)] == ["999", "1.2k", "1.2M", "1M"]


def test_an_empty_dashboard_says_what_to_do_next(client):
    html = client.get("/").content.decode()
    assert "No projects yet. Register one, then add tasks to it: <code>python manage.py register_project NAME /path/to/its/repository</code>" in html
    assert "No tasks yet. Register a project first" in html
    factories.project("demo", "/srv/demo")
    html = client.get("/").content.decode()
    assert 'No tasks yet. Add one on the <a href="/tasks/#add-task">queue page</a>, or <code>python manage.py add_task --project demo --description' in html


# Doing things: confirmations --------------------------------------------------


def test_bulk_cancel_asks_first_saying_which_agents_lose_their_tasks(client, demo):
    tasks = [factories.task() for _ in range(3)]
    held = lifecycle.claim("demo")

    first = client.post("/tasks/bulk?status=all", {"action": "cancel", "ids": [t.id for t in tasks]}, headers=HTMX)

    html = first.content.decode()
    assert html.lstrip().startswith('<div id="queue-results">')
    assert "<strong>Cancel 3 tasks?</strong>" in html and "1 is in progress, held by demo, who will lose it." in html
    assert '<input type="hidden" name="confirmed" value="1">' in html
    assert html.count('<input type="hidden" name="ids"') == 3
    assert set(Task.objects.values_list("status", flat=True)) == {"pending", "in_progress"}

    second = client.post("/tasks/bulk?status=all", {"action": "cancel", "confirmed": "1", "ids": [t.id for t in tasks]},
                         headers=HTMX)
    assert "Cancelled 3 tasks." in second.content.decode()
    assert set(Task.objects.values_list("status", flat=True)) == {"cancelled"} and held.id in [t.id for t in tasks]


def test_bulk_requeue_asks_first_and_without_javascript_too(client, demo):
    task = factories.task()
    lifecycle.claim("demo")
    page = client.post("/tasks/bulk", {"action": "requeue", "ids": [task.id]})
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html
    assert "<strong>Requeue 1 task?</strong>" in html and "A retry is counted for each" in html
    assert Task.objects.get(pk=task.id).status == "in_progress"


def test_bulk_reprioritize_and_retry_need_no_confirmation(client, demo):
    task = factories.task()
    client.post("/tasks/bulk", {"action": "reprioritize", "priority": "low", "ids": [task.id]}, headers=HTMX)
    assert Task.objects.get(pk=task.id).priority == "low"


def test_row_actions_that_take_a_task_from_its_agent_ask_first(client, demo):
    task = factories.task()
    lifecycle.claim("demo")
    html = client.get("/tasks/").content.decode()
    assert f'hx-confirm="Requeue task {task.id}? Agent demo holds it now and loses it; a retry is counted."' in html
    assert f'hx-confirm="Cancel task {task.id}? Agent demo holds it now and loses it."' in html
    assert f'hx-confirm="Requeue task {task.id}?' in client.get(f"/tasks/{task.id}/").content.decode()


# Doing things: the add form ---------------------------------------------------


def add(client, **fields):
    data = {"project": "demo", "description": "Fix the login test", "priority": "normal", **fields}
    return client.post("/tasks/add", data, headers=HTMX)


def test_the_queue_page_has_an_add_form_with_projects_to_choose_from(client, demo):
    factories.project("other", "/srv/other")
    html = client.get("/tasks/").content.decode()
    form = re.search(r'<details id="add-task".*?</details>', html, re.S).group(0)
    assert 'hx-post="/tasks/add"' in form and 'name="csrfmiddlewaretoken"' in form
    assert '<option value="demo">demo</option>' in form and '<option value="other">other</option>' in form
    for name in ("description", "priority", "metadata", "run_at", "run_in", "after", "unique_key"):
        assert f'name="{name}"' in form


def test_adding_a_task_from_the_page_goes_through_the_queue_and_records_who(client, demo):
    from events.models import Event

    response = add(client, priority="high", metadata='{"ticket": 42}', unique_key="login")

    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    task = Task.objects.get()
    assert (task.description, task.priority, task.metadata, task.unique_key, task.status) == (
        "Fix the login test", "high", {"ticket": 42}, "login", "pending")
    assert Event.objects.get(type="task.created", task_id=task.id).data["by"] == "web:staff"
    assert f"Added task {task.id} to demo (pending)." in client.get("/tasks/").content.decode()
    # The same key again adds nothing and says so.
    add(client, unique_key="login")
    assert Task.objects.count() == 1
    assert "has the key &#x27;login&#x27; and is unfinished: nothing added." in client.get("/tasks/").content.decode()


def test_adding_a_scheduled_task_and_one_that_waits_for_others(client, demo):
    first = factories.task()
    add(client, description="later", run_in="2h")
    add(client, description="at a time", run_at="2030-01-02T03:04")
    add(client, description="after", after=f" {first.id}, ")
    later, at, after = (Task.objects.get(description=d) for d in ("later", "at a time", "after"))
    assert later.status == "scheduled" and timedelta(hours=1, minutes=59) < later.run_at - timezone.now() <= timedelta(hours=2)
    assert at.status == "scheduled" and at.run_at == datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    assert after.status == "blocked"


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"metadata": "{ticket: 42}"}, "Metadata is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2."),
        ({"project": "ghost"}, "Select a valid choice. ghost is not one of the available choices."),
        ({"description": ""}, "This field is required."),
        ({"run_at": "tomorrow"}, "&#x27;tomorrow&#x27; is not a date and time"),
        ({"run_at": "2030-01-02T03:04", "run_in": "2h"}, "give run at or run in, not both"),
        ({"run_in": "soon"}, "run in must be a duration such as 90s, 10m, 2h or 1d"),
        ({"run_in": "2h", "after": "0123456789abcdef"}, "a task waits for other tasks or for a time, not both"),
        ({"after": "0123456789abcdef"}, "0123456789abcdef"),
    ],
    ids=["json", "project", "description", "time", "at-and-in", "duration", "at-and-after", "unknown-after"],
)
def test_a_refused_task_shows_why_inline_and_writes_nothing(client, demo, fields, error):
    from events.models import Event

    events = Event.objects.count()
    response = add(client, **fields)

    html = response.content.decode()
    assert response.status_code == 200 and "HX-Refresh" not in response
    assert html.lstrip().startswith('<details id="add-task" class="card add-task" open>')
    assert error in html
    assert Task.objects.count() == 0 and Event.objects.count() == events
    # What was typed stays in the form.
    if fields.get("metadata"):
        assert "{ticket: 42}" in html


def test_without_javascript_a_refused_task_shows_the_page_with_the_form_open(client, demo):
    response = client.post("/tasks/add", {"project": "demo", "description": "x", "priority": "normal", "metadata": "[1,"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" in html and '<details id="add-task" class="card add-task" open>' in html and "Metadata is not valid JSON" in html
    ok = client.post("/tasks/add", {"project": "demo", "description": "x", "priority": "normal", "next": "/tasks/?status=all"})
    assert ok.status_code == 302 and ok["Location"] == "/tasks/?status=all"


def test_users_who_are_not_staff_cannot_add_tasks(outsider_client, demo):
    assert outsider_client.post("/tasks/add", {"project": "demo", "description": "x", "priority": "normal"}).status_code == 403
    assert Task.objects.count() == 0


def test_an_empty_queue_says_how_to_add_a_task_and_a_filter_that_finds_none_says_so(client, demo):
    html = client.get("/tasks/").content.decode()
    assert 'No tasks yet. Add one with <a href="#add-task">Add task</a> above, or <code>python manage.py add_task' in html
    factories.task()
    html = client.get("/tasks/?status=failed").content.decode()
    assert "No tasks match. Try another tab, or clear the filters." in html


def test_other_pages_show_relative_times_too(client, demo):
    from schedules import recurring

    lifecycle.heartbeat("demo", "working")
    recurring.add("nightly", "demo", "0 3 * * *", "update the docs")
    assert re.search(r"<td><time datetime=\"[^\"]+\" title=\"[^\"]+ UTC\">just now</time></td>", client.get("/agents/").content.decode())
    assert "<time datetime=" in client.get("/projects/").content.decode()
    assert re.search(r"<small><time datetime=\"[^\"]+\" title=\"[^\"]+ UTC\">in \d+ (h|min)", client.get("/schedules/").content.decode())


def test_the_dashboard_reads_tasks_db_in_a_fixed_number_of_queries(client, demo, django_assert_max_num_queries):
    for i in range(30):
        factories.task(description=f"t{i}")
    with django_assert_max_num_queries(8, connection=connections["tasks"]):
        client.get("/")


def test_tab_counts_follow_the_project_and_priority_filters(client, demo):
    factories.project("other", "/srv/other")
    factories.task(priority="low")
    factories.task(priority="high")
    factories.task(project="other", priority="low")
    assert board.capped_counts(100, priority="low")["pending"] == 2
    assert board.capped_counts(100, project="demo", priority="low") == {
        **{s: 0 for s in board.LISTING_ORDER}, "pending": 1, "all": 1}
    html = client.get("/tasks/?priority=high").content.decode()
    assert re.search(r'class="tab status all"[^>]*>All <span class="n">1</span>', html)


def test_the_queue_and_feed_pages_cost_the_same_queries_for_40_rows_as_for_one(client, demo, django_assert_max_num_queries):
    for i in range(40):
        factories.task(description=f"task {i}")
    for _ in range(5):
        lifecycle.claim("demo")
    # The listing (one query per status shown), the tabs (one per status), nothing per row.
    with django_assert_max_num_queries(len(board.LISTING_ORDER) + 3, connection=connections["tasks"]):
        assert len(client.get("/tasks/").context["tasks"]) == 40
    with django_assert_max_num_queries(1, connection=connections["tasks"]), \
            django_assert_max_num_queries(2, connection=connections["logs"]):
        assert len(client.get("/events/").context["events"]) == 46
