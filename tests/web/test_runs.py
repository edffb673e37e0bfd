"""The runs page and a run's page with its log: real files in temporary folders."""

import os
import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from agents import lifecycle
from events import runlogs
from events.models import AgentRun, RunStatus
from tests import factories

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture
def home(settings, tmp_path):
    """ADT_HOME in a folder of its own, with a logs/ folder in it."""
    settings.ADT_HOME = tmp_path / "home"
    (settings.ADT_HOME / "logs").mkdir(parents=True)
    settings.ADT_PRIVATE_PATHS = [settings.ADT_HOME / "secret_key", settings.ADT_HOME / "data"]
    return settings.ADT_HOME


@pytest.fixture
def worktree(tmp_path, db):
    """The registered path of project (and agent) demo."""
    path = tmp_path / "worktree"
    path.mkdir()
    factories.project("demo", str(path))
    return path


@pytest.fixture
def outside(tmp_path):
    path = tmp_path / "outside"
    path.mkdir()
    secret = path / "secret.log"
    secret.write_text("not for the web\n")
    return secret


def a_run(log_path=None, project="demo", **fields):
    task = factories.task(project=project)
    run = lifecycle.start_run(project, task=task.id, log_path=str(log_path) if log_path else None)
    if fields:
        AgentRun.objects.filter(pk=run.id).update(**fields)
        run.refresh_from_db()
    return run


def end(run, code=0):
    return lifecycle.end_run(run.id, code)


def log_text(html):
    """The text of the page's <pre id="log-text">, unescaped as a browser would."""
    found = re.search(r'<pre id="log-text" class="log">(.*?)</pre>', html, re.S)
    assert found, html
    return unescape(found.group(1))


def without_oob(body):
    return re.sub(r"<(\w+)[^>]*hx-swap-oob=\"true\".*?</\1>", "", body, flags=re.S)


def test_the_runs_page_lists_runs_newest_first_with_durations_and_exit_status(client, home, worktree):
    now = timezone.now()
    done = a_run(started_at=now - timedelta(minutes=3, seconds=12))
    AgentRun.objects.filter(pk=done.id).update(ended_at=now, exit_code=0, status=RunStatus.COMPLETED)
    failed = a_run(started_at=now - timedelta(hours=2, minutes=5), ended_at=now - timedelta(hours=2), exit_code=2,
                   status=RunStatus.ERROR, error="tests failed")
    running = a_run(started_at=now - timedelta(seconds=40))

    response = client.get("/runs/")

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row["run"].id for row in rows] == [running.id, failed.id, done.id]
    assert [row["duration"] for row in rows][1:] == ["5 min 00 s", "3 min 12 s"]
    assert rows[0]["running"] and rows[0]["duration"].endswith(" s")
    html = response.content.decode()
    assert "running for 4" in html  # 40-odd seconds
    assert '<strong class="error-text">2</strong>' in html and "tests failed" in html
    assert f'href="/runs/{failed.id}/"' in html and f'href="/tasks/{failed.task}/"' in html
    # When each started, as every page says it: relative, the exact UTC time on hover.
    assert f'<time datetime="{failed.started_at:%Y-%m-%dT%H:%M:%S}Z" title="{failed.started_at:%Y-%m-%d %H:%M:%S} UTC">2 h 5 min ago</time>' in html


def test_the_runs_page_filters_by_agent_and_status(client, home, worktree):
    factories.project("other", "/srv/other")
    mine = a_run()
    end(mine)
    theirs = a_run(project="other")
    still = a_run()

    def ids(url):
        return [row["run"].id for row in client.get(url).context["rows"]]

    assert ids("/runs/?agent=demo") == [still.id, mine.id]
    assert ids("/runs/?status=running") == [still.id, theirs.id]
    assert ids("/runs/?agent=demo&status=completed") == [mine.id]
    # An agent no longer registered can still be asked for (and is not silently ignored).
    assert ids("/runs/?agent=gone") == []


def test_the_runs_page_pages_by_keyset_with_show_more(client, home, worktree):
    runs = AgentRun.objects.bulk_create(AgentRun(project="demo", status=RunStatus.COMPLETED) for _ in range(205))
    newest = sorted(r.id for r in AgentRun.objects.all())[::-1]
    assert len(runs) == 205

    first = client.get("/runs/?agent=demo")
    assert [r["run"].id for r in first.context["rows"]] == newest[:100]
    assert f"before={newest[99]}" in first.content.decode()

    more = client.get(f"/runs/?agent=demo&before={newest[99]}", headers={"HX-Request": "true"})
    html = more.content.decode()
    assert "<html" not in html and html.lstrip().startswith("<tr")
    assert [int(i) for i in re.findall(r'<tr id="run-(\d+)"', html)] == newest[100:200]
    last = client.get(f"/runs/?agent=demo&before={newest[199]}")
    assert [r["run"].id for r in last.context["rows"]] == newest[200:]
    assert "runs-more" not in last.content.decode()


def test_each_agent_links_to_its_runs_and_runs_link_to_their_page(client, home, worktree):
    run = a_run()
    html = client.get("/agents/").content.decode()
    assert 'href="/runs/?agent=demo"' in html
    assert f'href="/runs/{run.id}/"' in html


def test_a_run_page_shows_its_log_and_follows_it_while_running(client, home, worktree):
    log = worktree / "run.log"
    log.write_text("first line\n")
    run = a_run(log)

    page = client.get(f"/runs/{run.id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert log_text(html) == "first line\n"
    assert f'hx-get="/runs/{run.id}/log?offset=11"' in html and "every 2s" in html

    # Nothing new: 204, nothing to swap.
    assert client.get(f"/runs/{run.id}/log?offset=11").status_code == 204
    with log.open("a") as f:
        f.write("second line\n")
    poll = client.get(f"/runs/{run.id}/log?offset=11", headers={"HX-Request": "true"})
    body = poll.content.decode()
    assert poll.status_code == 200
    # What is left once htmx takes out the out-of-band parts is appended to the <pre> as it is.
    assert without_oob(body) == "second line\n"
    assert f'hx-get="/runs/{run.id}/log?offset=23"' in body and 'hx-swap-oob="true"' in body

    # The run ends: the last poll brings the rest and stops the polling.
    with log.open("a") as f:
        f.write("done\n")
    end(run)
    last = client.get(f"/runs/{run.id}/log?offset=23").content.decode()
    assert without_oob(last) == "done\n"
    assert "hx-get" not in last.split('id="log-poller"')[1] and "The run has ended." in last
    assert "every 2s" not in client.get(f"/runs/{run.id}/").content.decode()


def test_a_log_under_adt_home_is_shown_too(client, home, worktree):
    log = home / "logs" / "run.log"
    log.write_bytes(b"from ADT_HOME\n")
    assert log_text(client.get(f"/runs/{a_run(log).id}/").content.decode()) == "from ADT_HOME\n"


def test_a_five_megabyte_log_shows_only_its_tail(client, home, worktree):
    log = worktree / "big.log"
    with log.open("w") as f:
        for i in range(100_000):
            f.write(f"line {i:06d} " + "x" * 40 + "\n")
    size = log.stat().st_size
    assert size > 5_000_000
    run = a_run(log)

    response = client.get(f"/runs/{run.id}/")

    text = log_text(response.content.decode())
    assert text.endswith("line 099999 " + "x" * 40 + "\n")
    assert "line 000000" not in text
    assert text.startswith("line ")  # cut at a whole line
    assert len(text.encode()) <= runlogs.TAIL_BYTES
    chunk = response.context["chunk"]
    assert chunk.cut == size - len(text.encode()) and chunk.end == size
    assert "are not shown: this is the last 64 KB." in response.content.decode()


@pytest.mark.parametrize("case", ["outside", "symlink out", "dot-dot", "relative", "missing", "directory", "none",
                                  "fifo", "symlink loop"])
def test_logs_it_must_not_or_cannot_read_get_a_clear_message(client, home, worktree, outside, case):
    log_path, message = {
        "outside": (outside, "is outside"),
        "symlink out": (worktree / "link.log", "is outside"),
        "dot-dot": (f"{worktree}/../outside/secret.log", "is outside"),
        "relative": ("logs/run.log", "is not absolute"),
        "missing": (worktree / "nope.log", "does not exist"),
        "directory": (home / "logs", "is a directory"),
        "none": (None, "has no log file"),
        "fifo": (worktree / "pipe.log", "is not a regular file"),
        "symlink loop": (worktree / "loop-a.log", "cannot be resolved"),
    }[case]
    if case == "symlink out":
        (worktree / "link.log").symlink_to(outside)
    if case == "fifo":
        os.mkfifo(worktree / "pipe.log")  # opening it must not wait for a writer
    if case == "symlink loop":
        (worktree / "loop-a.log").symlink_to(worktree / "loop-b.log")
        (worktree / "loop-b.log").symlink_to(worktree / "loop-a.log")
    run = a_run(log_path)

    response = client.get(f"/runs/{run.id}/")
    poll = client.get(f"/runs/{run.id}/log?offset=0")

    assert response.status_code == 200 and poll.status_code == 200
    html = response.content.decode()
    assert message in html
    assert message in poll.content.decode()
    assert "not for the web" not in html and "not for the web" not in poll.content.decode()
    with pytest.raises(runlogs.LogUnavailable, match=message):
        runlogs.tail(run)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_log_gets_a_clear_message(client, home, worktree):
    log = worktree / "locked.log"
    log.write_text("private\n")
    log.chmod(0)
    html = client.get(f"/runs/{a_run(log).id}/").content.decode()
    assert "permission denied" in html and "private" not in html


def test_a_symlink_inside_the_roots_is_followed(client, home, worktree):
    (home / "logs" / "real.log").write_text("real\n")
    (worktree / "alias.log").symlink_to(home / "logs" / "real.log")
    assert log_text(client.get(f"/runs/{a_run(worktree / 'alias.log').id}/").content.decode()) == "real\n"


def test_binary_and_non_utf8_bytes_are_shown_safely(client, home, worktree):
    log = worktree / "odd.log"
    log.write_bytes("caf\u00e9 ok\n".encode() + b"latin-1 caf\xe9\n" + b"bell\x07 esc\x1b]0;t\x07 \x1b[31mred\x1b[0m\n"
                    + b"<script>alert(1)</script>\n")
    run = a_run(log)
    html = client.get(f"/runs/{run.id}/").content.decode()
    text = log_text(html)
    assert text == "caf\u00e9 ok\nlatin-1 caf\ufffd\nbell\ufffd esc\ufffd]0;t\ufffd red\n<script>alert(1)</script>\n"
    assert "<script>alert(1)" not in html  # escaped
    assert "looks binary" not in html

    binary = worktree / "core.bin"
    binary.write_bytes(bytes(range(256)) * 40)
    page = client.get(f"/runs/{a_run(binary).id}/").content.decode()
    assert "This file looks binary" in page
    shown = log_text(page)
    assert "\x00" not in shown and not re.search(r"[\x01-\x08\x0b-\x1f\x7f-\x9f]", shown)


def test_a_character_cut_by_the_end_of_a_read_waits_for_the_next_poll(client, home, worktree):
    log = worktree / "utf8.log"
    log.write_bytes("na\u00ef".encode()[:-1])  # "na" and the first byte of ï
    run = a_run(log)
    assert runlogs.tail(run).text == "na" and runlogs.tail(run).end == 2
    with log.open("ab") as f:
        f.write("\u00efve\n".encode()[1:])
    assert runlogs.since(run, 2).text == "\u00efve\n"


def test_a_log_truncated_under_the_offset_is_shown_again_from_its_end(client, home, worktree):
    log = worktree / "rotated.log"
    log.write_text("old old old\n")
    run = a_run(log)
    log.write_text("new\n")
    poll = client.get(f"/runs/{run.id}/log?offset=12").content.decode()
    assert '<pre id="log-text" class="log" hx-swap-oob="true">new\n</pre>' in poll
    assert "truncated or replaced" in poll


def test_a_poll_with_a_bad_offset_is_refused(client, home, worktree):
    run = a_run()
    assert client.get(f"/runs/{run.id}/log?offset=x").status_code == 400
    assert client.get(f"/runs/{run.id}/log?offset=-1").status_code == 400
    assert client.get("/runs/999999/").status_code == 404


@pytest.mark.parametrize("url", ["/runs/", "/runs/1/", "/runs/1/log?offset=0"])
def test_run_pages_are_for_staff_only(outsider_client, url):
    assert outsider_client.get(url).status_code == 403


def test_a_run_whose_task_id_no_page_can_have_is_listed_without_error(client, home, worktree):
    # The seed's rows may hold anything in agent_runs.task.
    run = AgentRun.objects.create(project="demo", task="a/b c", status=RunStatus.COMPLETED)
    assert 'href="/tasks/a%2Fb%20c/"' in client.get("/runs/").content.decode()
    assert client.get(f"/runs/{run.id}/").status_code == 200


def test_adts_own_files_under_adt_home_are_never_shown(client, home, worktree):
    (home / "secret_key").write_text("s3cret\n")
    (home / "data").mkdir()
    (home / "data" / "main.db").write_bytes(b"SQLite format 3\0")
    (worktree / "key.log").symlink_to(home / "secret_key")
    for path in (home / "secret_key", home / "data" / "main.db", worktree / "key.log"):
        html = unescape(client.get(f"/runs/{a_run(path).id}/").content.decode())
        assert "is one of ADT's own files" in html and "s3cret" not in html and "SQLite format" not in html


def test_bytes_that_show_as_nothing_still_move_the_offset_on(client, home, worktree):
    log = worktree / "colour.log"
    log.write_bytes(b"a\n")
    run = a_run(log)
    with log.open("ab") as f:
        f.write(b"\x1b[0m")
    poll = client.get(f"/runs/{run.id}/log?offset=2").content.decode()
    assert without_oob(poll) == "" and f"/runs/{run.id}/log?offset=6" in poll
