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
    assert tabs["cancelled"] == "1" and tabs["completed"] == "0" and tabs["all"] == "5+"
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
