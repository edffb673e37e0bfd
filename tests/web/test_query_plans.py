"""The pages' queries read indexes, never whole tables, so they stay fast at 1M tasks and 10M events.

SQLite (with no ANALYZE statistics, as deployed) picks the same plan for a
table of ten rows as for ten million, so these small tests guard what
bench/pages.py measures at full size.
"""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events import feed
from events.views import KNOWN_TYPES
from tasks import board
from tests import factories
from tests.web.servers import https_client

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def plans(alias, action):
    """EXPLAIN QUERY PLAN of every query `action` runs on `alias`: [(sql, plan)]."""
    with CaptureQueriesContext(connections[alias]) as captured:
        action()
    out = []
    with connections[alias].cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            plan = " | ".join(row[3] for row in cursor.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
            out.append((sql, plan))
    return out


def assert_no_table_scan(found, table):
    for sql, plan in found:
        for step in plan.split(" | "):
            # "SCAN tasks" alone reads every row; "SCAN tasks USING … INDEX" in
            # order with a LIMIT, or the COUNT(*) fast path, is fine.
            assert step.strip() != f"SCAN {table}", f"{plan}\n{sql}"


@pytest.fixture(autouse=True)
def some_tasks(demo):
    for priority in ("urgent", "low", "normal"):
        factories.task(priority=priority)


def test_the_queue_listing_reads_the_claim_indexes_in_order():
    for kwargs, index in [
        ({}, "idx_tasks_claim"),
        ({"priority": "low"}, "idx_tasks_claim (status=? AND <expr>=?)"),
        ({"project": "demo"}, "idx_tasks_project_claim"),
        ({"project": "demo", "priority": "low"}, "idx_tasks_project_claim (project=? AND status=? AND <expr>=?)"),
    ]:
        found = plans("tasks", lambda kwargs=kwargs: board.listing(board.LISTING_ORDER, **kwargs))
        assert found
        for sql, plan in found:
            assert index in plan, f"{kwargs}: {plan}\n{sql}"
            assert "TEMP B-TREE" not in plan, f"{kwargs}: {plan}\n{sql}"


def test_the_dashboard_counts_read_indexes_only():
    found = plans("tasks", board.status_counts) + plans("tasks", board.active_by_priority)
    found += plans("tasks", lambda: board.active_by_project(["demo", "other"]))
    assert_no_table_scan(found, "tasks")
    assert any("COVERING INDEX idx_tasks_project_claim" in plan for _, plan in found)


def test_the_chart_reads_only_the_completed_at_index():
    [(sql, plan)] = plans("tasks", lambda: board.finished_per_hour(timezone.now()))
    assert "COVERING INDEX idx_tasks_completed (completed_at>? AND completed_at<?)" in plan, plan


def assert_pages_read_in_order(client, table, pages):
    """Each (url, index) of `pages`: every logs.db statement of the page naming `table` uses the index, and sorts nothing."""
    for url, index in pages:
        found = [(sql, plan) for sql, plan in plans("logs", lambda url=url: client.get(url)) if table in sql]
        assert found, url
        for sql, plan in found:
            assert index in plan, f"{url}: {plan}\n{sql}"
            assert "TEMP B-TREE" not in plan, f"{url}: {plan}\n{sql}"


def test_the_event_pages_read_indexes_in_id_order(client):
    task = factories.task()
    # Something for every filter, so no page falls back to its "no match" query.
    feed.record("agent.error", project="demo", level="error")
    feed.record("agent.stale", project="demo", level="warn")
    assert_pages_read_in_order(client, "events", [
        ("/events/", "SCAN events"),  # by id, backwards, LIMIT 100
        ("/events/?level=error", "idx_events_level"),
        ("/events/?project=demo", "idx_events_project"),
        ("/events/?type=task.created", "idx_events_type"),
        ("/events/feed?after=1&level=warn", "idx_events_level (level=? AND rowid>?)"),
        ("/events/feed?after=1", "INTEGER PRIMARY KEY (rowid>?)"),
        (f"/tasks/{task.id}/", "idx_events_task"),
    ])


def test_admin_change_lists_read_indexes_in_their_order():
    from django.contrib.auth.models import User

    admin = https_client()
    admin.force_login(User.objects.create_superuser("boss", password="pw"))
    for url, alias, index in [
        ("/admin/tasks/task/", "tasks", "idx_tasks_created"),
        ("/admin/tasks/task/?status__exact=completed", "tasks", "idx_tasks_claim (status=?)"),
        ("/admin/tasks/task/?status__exact=completed&priority=low", "tasks", "idx_tasks_claim (status=? AND <expr>=?)"),
        ("/admin/tasks/task/?status__exact=completed&project=demo", "tasks", "idx_tasks_project_claim (project=? AND status=?)"),
        ("/admin/tasks/task/?priority=low&project=demo", "tasks", "idx_tasks_project_created"),
        ("/admin/tasks/task/?project=demo", "tasks", "idx_tasks_project_created"),
        ("/admin/events/event/?level__exact=error", "logs", "idx_events_level"),
        ("/admin/events/event/?type=task.created", "logs", "idx_events_type"),
        ("/admin/events/agentrun/", "logs", "idx_runs_time"),
    ]:
        found = plans(alias, lambda url=url: admin.get(url))
        table = "tasks" if alias == "tasks" else ("agent_runs" if "agentrun" in url else "events")
        found = [(sql, plan) for sql, plan in found if f'FROM "{table}"' in sql]
        assert found, url
        assert_no_table_scan(found, table)
        for sql, plan in found:
            if sql.upper().startswith("SELECT COUNT(*) FROM (SELECT"):
                # The capped count is unordered: its index, or any covering one, and no sorting at all.
                assert "LIMIT 10001" in sql and "ORDER BY" not in sql, f"{url}: {sql}"
                assert index in plan or "COVERING INDEX" in plan, f"{url}: {plan}\n{sql}"
                assert "TEMP B-TREE" not in plan, f"{url}: {plan}\n{sql}"
                continue
            assert index in plan, f"{url}: {plan}\n{sql}"
            # Sorting only ties of the indexed column (RIGHT PART) is fine.
            assert "TEMP B-TREE FOR ORDER BY" not in plan, f"{url}: {plan}\n{sql}"


def test_a_claim_writes_no_index_the_web_admin_added():
    """Claims are the hot path: the indexes added for the pages leave out the
    columns a claim changes, or leave out the tasks a claim touches."""
    claim_changes = {"status", "assigned_to", "started_at"}
    with connections["tasks"].cursor() as cursor:
        partial = {row[1]: row[4] for row in cursor.execute("PRAGMA index_list(tasks)").fetchall()}
        for name in ("idx_tasks_completed", "idx_tasks_project_created"):
            columns = {row[2] for row in cursor.execute(f"PRAGMA index_info({name})").fetchall()}
            sql = cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [name]).fetchone()[0]
            assert not columns & claim_changes or (partial[name] and '"completed_at" IS NOT NULL' in sql), sql


def test_the_runs_page_reads_indexes_in_id_order(client):
    from agents import lifecycle

    run = lifecycle.start_run("demo")
    lifecycle.end_run(run.id, 0)
    lifecycle.start_run("demo")
    assert_pages_read_in_order(client, 'FROM "agent_runs"', [
        ("/runs/", "SCAN agent_runs"),  # by id, backwards, LIMIT 101
        (f"/runs/?before={run.id + 1}", "INTEGER PRIMARY KEY (rowid<?)"),
        ("/runs/?agent=demo", "idx_runs_project (project=?)"),
        (f"/runs/?agent=demo&before={run.id + 1}", "idx_runs_project (project=? AND rowid<?)"),
        ("/runs/?status=running", "idx_runs_status (status=?)"),
        (f"/runs/?status=completed&before={run.id + 1}", "idx_runs_status (status=? AND id<?)"),
        ("/runs/?agent=demo&status=error", "idx_runs_project_status (project=? AND status=?)"),
        (f"/runs/?agent=demo&status=running&before={run.id + 1}", "idx_runs_project_status (project=? AND status=? AND id<?)"),
        (f"/runs/{run.id}/", "INTEGER PRIMARY KEY (rowid=?)"),
        (f"/runs/{run.id}/log?offset=0", "INTEGER PRIMARY KEY (rowid=?)"),
    ])


def test_the_queue_tabs_count_from_indexes_and_stop_at_the_cap():
    for project, priority in [(None, None), ("demo", None), (None, "low"), ("demo", "low")]:
        found = plans("tasks", lambda project=project, priority=priority: board.capped_counts(5, project, priority))
        assert len(found) == len(board.LISTING_ORDER)
        assert_no_table_scan(found, "tasks")
        for sql, plan in found:
            assert "LIMIT 6" in sql, sql
            if priority:
                # A range of the claim index by (status, rank); SQLite 3.40 visits
                # each row for the rank expression, at most cap + 1 of them.
                assert "<expr>=?)" in plan and "USING INDEX idx_tasks_" in plan, f"{plan}\n{sql}"
            else:
                assert "COVERING INDEX" in plan, f"{plan}\n{sql}"


def test_a_type_prefix_reads_each_types_index_in_id_order_then_the_page_by_id(client):
    factories.task()
    found = [(sql, plan) for sql, plan in plans("logs", lambda: client.get("/events/?type=task.")) if "events" in sql]
    by_type = [(sql, plan) for sql, plan in found if "idx_events_type" in plan]
    assert len(by_type) == len([t for t in KNOWN_TYPES if t.startswith("task.")])
    for sql, plan in found:
        assert "idx_events_type (type=?)" in plan or "INTEGER PRIMARY KEY (rowid=?)" in plan, f"{plan}\n{sql}"
        assert "TEMP B-TREE" not in plan, f"{plan}\n{sql}"


def test_the_agents_page_finds_each_last_run_from_the_end_of_its_index():
    from agents import lifecycle

    factories.project("other", "/srv/other")
    for name in ("demo", "other", "demo"):
        lifecycle.end_run(lifecycle.start_run(name).id, 0)
    found = [(sql, plan) for sql, plan in plans("logs", lifecycle.overview) if 'FROM "agent_runs"' in sql]
    [(sql, plan)] = found  # one query for every agent
    assert_no_table_scan(found, "agent_runs")
    # The runs by rowid, each id the MAX(id) of one agent's idx_runs_project
    # entries (read from their end); no GROUP BY over every run's entry, no sort.
    steps = [step for step in plan.split(" | ") if not step.startswith("SCALAR SUBQUERY")]
    assert steps == [
        "SEARCH agent_runs USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH agent_runs USING COVERING INDEX idx_runs_project (project=?)",
        "SEARCH agent_runs USING COVERING INDEX idx_runs_project (project=?)",
    ], f"{plan}\n{sql}"
    assert "GROUP BY" not in sql.upper() and sql.count("MAX(id)") == 2, sql
