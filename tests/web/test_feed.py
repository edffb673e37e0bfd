"""The live event feed: the page, and polls that bring only newer events."""

import re

import pytest

from events import feed
from events.models import Event
from tests import factories

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

HTMX = {"HX-Request": "true"}


def row_ids(html):
    return [int(i) for i in re.findall(r'id="event-(\d+)"', html)]


def poller(html):
    """(url, trigger, swap-oob) of the poller in `html`."""
    tag = re.search(r'<div id="feed-poller"[^>]*>', html).group(0)
    url = re.search(r'hx-get="([^"]*)"', tag).group(1).replace("&amp;", "&")
    return url, re.search(r'hx-trigger="([^"]*)"', tag).group(1), "hx-swap-oob" in tag


def test_feed_page_shows_the_latest_events_newest_first_with_a_poller_at_the_newest(client, demo):
    for i in range(3):
        factories.task(description=f"task {i}")
    last = Event.objects.order_by("-id").first().id

    html = client.get("/events/").content.decode()

    assert row_ids(html) == list(Event.objects.order_by("-id").values_list("id", flat=True))
    url, trigger, oob = poller(html)
    assert url == f"/events/feed?after={last}"
    assert not oob
    # Every 2 s, only while the tab is visible, and at once when it shows again.
    assert "every 2s [document.visibilityState === 'visible']" in trigger
    assert "visibilitychange[document.visibilityState === 'visible'] from:document" in trigger
    assert 'hx-target="#feed-rows" hx-swap="afterbegin"' in html


def test_a_poll_brings_only_events_after_the_cursor_and_moves_the_cursor(client, demo):
    seen = Event.objects.order_by("-id").first().id
    first = factories.task(description="new one")
    second = factories.task(description="newer one")

    response = client.get(f"/events/feed?after={seen}", headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    new = list(Event.objects.filter(id__gt=seen).order_by("-id").values_list("id", flat=True))
    assert row_ids(html) == new and len(new) == 2
    assert first.id in html and second.id in html
    url, _, oob = poller(html)
    assert oob and url == f"/events/feed?after={new[0]}"
    # Rows first, then the out-of-band poller: nothing else, no page around them.
    assert html.lstrip().startswith('<div class="row event')
    assert "<html" not in html and "feed-rows" in html


def test_a_poll_with_nothing_new_is_an_empty_204(client, demo):
    seen = Event.objects.order_by("-id").first().id
    response = client.get(f"/events/feed?after={seen}", headers=HTMX)
    assert response.status_code == 204
    assert response.content == b""


def test_a_poll_brings_at_most_a_batch_and_the_next_poll_the_rest(client, demo, monkeypatch):
    monkeypatch.setattr("events.views.POLL_ROWS", 2)
    seen = Event.objects.order_by("-id").first().id
    for i in range(3):
        feed.record("test.tick", project="demo", data={"i": i})
    first = client.get(f"/events/feed?after={seen}").content.decode()
    assert len(row_ids(first)) == 2
    url, _, _ = poller(first)
    rest = client.get(url).content.decode()
    assert len(row_ids(rest)) == 1
    assert set(row_ids(first) + row_ids(rest)) == set(Event.objects.filter(id__gt=seen).values_list("id", flat=True))


def test_feed_filters_by_project_type_and_level_on_the_page_and_in_polls(client, demo):
    factories.project("other", "/srv/other")
    seen = Event.objects.order_by("-id").first().id
    feed.record("agent.error", project="other", agent="other", level="error", data={"why": "x"})
    feed.record("agent.error", project="demo", agent="demo", level="error")
    feed.record("agent.started", project="other", agent="other")
    target = Event.objects.get(type="agent.error", project="other")

    page = client.get("/events/?project=other&type=agent.error&level=error").content.decode()
    assert row_ids(page) == [target.id]
    url, _, _ = poller(page)
    assert "project=other" in url and "type=agent.error" in url and "level=error" in url

    poll = client.get(f"/events/feed?after={seen}&project=other&level=error").content.decode()
    assert row_ids(poll) == [target.id]
    assert row_ids(client.get(f"/events/feed?after={seen}&type=agent.started").content.decode()) == [target.id + 2]


def test_a_filter_that_matches_nothing_starts_the_cursor_at_the_newest_event(client, demo):
    newest = Event.objects.order_by("-id").first().id
    html = client.get("/events/?type=nothing.ever").content.decode()
    assert row_ids(html) == []
    assert poller(html)[0] == f"/events/feed?after={newest}&type=nothing.ever"


def test_an_htmx_filter_change_gets_the_feed_fragment(client, demo):
    html = client.get("/events/?level=warn", headers=HTMX).content.decode()
    assert html.lstrip().startswith('<div id="feed">')
    assert "<html" not in html


def test_a_poll_without_a_valid_cursor_is_400(client):
    assert client.get("/events/feed").status_code == 400
    assert client.get("/events/feed?after=abc").status_code == 400
