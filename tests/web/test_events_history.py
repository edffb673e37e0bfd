"""The events page's search, its counts by type and the dashboard's chart, read from ClickHouse when configured.

In process, on the test databases, against the test run's own clickhouse-server.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest

pages = pytest.mark.django_db(databases="__all__", transaction=True)


def _old_events(feed, type, count, days_ago):
    from events.models import Event

    made = [feed.record(type, project="demo", data={"n": i}) for i in range(count)]
    Event.objects.filter(id__in=[e.id for e in made]).update(timestamp=datetime.now(UTC) - timedelta(days=days_ago))
    return [e.id for e in made]


@pages
def test_the_events_page_search_reads_clickhouse_so_it_finds_events_logs_db_pruned(client, demo, settings, clickhouse_url):
    from events import feed, retention, shipping

    settings.ADT_CLICKHOUSE_URL = clickhouse_url
    old = _old_events(feed, "test.old", 3, days_ago=40)
    assert shipping.ship()["shipped"] >= 3
    assert retention.prune(older_than=30)["events"] == 3
    newer = feed.record("test.old", project="demo").id  # in logs.db only, not shipped yet

    html = client.get("/events/?type=test.old&days=90").content.decode()

    found = [int(i) for i in re.findall(r'id="event-(\d+)"', html)]
    assert found == [newer, *sorted(old, reverse=True)]
    assert "test.old 4" in html  # counts by type over the range: ClickHouse's three and logs.db's one
    assert "message warning" not in html

    settings.ADT_CLICKHOUSE_URL = None
    html = client.get("/events/?type=test.old&days=90").content.decode()
    assert f'id="event-{old[0]}"' not in html and f'id="event-{newer}"' in html


@pages
def test_the_dashboard_chart_counts_finished_tasks_from_the_events_in_clickhouse(client, demo, settings, clickhouse_url):
    from django.utils import timezone

    from events import feed, history, retention, shipping

    settings.ADT_CLICKHOUSE_URL = clickhouse_url
    now = timezone.now()
    for type, n in (("task.completed", 3), ("task.failed", 1)):
        for _ in range(n):
            feed.record(type, project="demo")
    shipping.ship()
    # Pruned from logs.db: the chart still counts them, from ClickHouse.
    retention.prune(older_than=0)
    feed.record("task.completed", project="demo")  # not shipped yet: counted from logs.db

    buckets = history.finished_per_hour(now)

    assert len(buckets) == 24
    assert (buckets[-1]["completed"], buckets[-1]["failed"]) == (4, 1)
    assert sum(b["completed"] + b["failed"] for b in buckets[:-1]) == 0
    assert client.get("/").status_code == 200


@pages
def test_with_clickhouse_down_the_events_page_answers_from_logs_db_with_a_notice(client, demo, settings, private_clickhouse):
    from events import feed, history, shipping

    settings.ADT_CLICKHOUSE_URL = private_clickhouse.url()
    event = feed.record("test.kept", project="demo")
    shipping.ship()
    private_clickhouse.stop()

    response = client.get("/events/?type=test.kept&days=7")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="event-{event.id}"' in html
    assert "ClickHouse is not answering, so this reads logs.db" in html
    assert client.get("/").status_code == 200  # the chart counts from tasks.db instead
    assert history.finished_per_hour(datetime.now(UTC)) is None


@pages
def test_prune_logs_keeps_the_events_clickhouse_does_not_have_yet(demo, settings, clickhouse_url):
    from events import feed, retention, shipping
    from events.models import Event

    settings.ADT_CLICKHOUSE_URL = clickhouse_url
    old = _old_events(feed, "test.old", 2, days_ago=40)

    assert retention.prune(older_than=30)["events"] == 0
    assert Event.objects.filter(id__in=old).count() == 2

    shipping.ship()
    assert retention.prune(older_than=30)["events"] == 2
    assert not Event.objects.filter(id__in=old).exists()


@pages
def test_without_clickhouse_the_search_over_a_time_range_reads_logs_db_and_counts_by_type(client, demo):
    from events import feed

    old = _old_events(feed, "test.old", 2, days_ago=40)
    recent = feed.record("test.recent", project="demo").id

    html = client.get("/events/?days=30").content.decode()

    found = [int(i) for i in re.findall(r'id="event-(\d+)"', html)]
    assert recent in found and not set(old) & set(found)
    assert "test.recent 1" in html and "test.old" not in html
    assert "message warning" not in html
    everything = client.get("/events/?days=90").content.decode()
    assert "test.old 2" in everything


@pages
def test_with_clickhouse_down_a_page_does_not_wait_for_it_again_at_once(client, demo, settings, private_clickhouse):
    import time

    from events import feed, shipping

    settings.ADT_CLICKHOUSE_URL = private_clickhouse.url()
    feed.record("test.kept", project="demo")
    shipping.ship()
    private_clickhouse.stop()
    assert "ClickHouse is not answering" in client.get("/events/?type=test.kept&days=7").content.decode()
    private_clickhouse.start()

    began = time.monotonic()
    html = client.get("/events/?type=test.kept&days=7").content.decode()

    # Still logs.db with the notice within RETRY_SECONDS, though the server is back.
    assert "ClickHouse is not answering" in html
    assert time.monotonic() - began < 2
