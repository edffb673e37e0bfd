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
