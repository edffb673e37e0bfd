"""Recurring tasks: add_schedule, list_schedules, remove_schedule, run_schedule, and the tick."""

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import Conflict, InvalidInput, NotFound
from events.models import Event
from schedules import recurring
from schedules.models import Schedule
from tasks.models import Task
from tests import factories
from tests.support import InProcess

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

NIGHT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def project():
    factories.project("demo")


@pytest.fixture
def cli():
    return InProcess()


def nightly(**kwargs):
    return recurring.add("nightly", "demo", "0 3 * * *", "update dependencies", **kwargs)


def tasks_of(name):
    return list(Task.objects.filter(metadata__schedule=name).order_by("created_at"))


class TestTimes:
    def test_the_latest_time_counts_a_time_exactly_now(self):
        schedule = Schedule(cron="0 3 * * *", zone="UTC")
        assert recurring.latest_slot(schedule, NIGHT) == NIGHT
        assert recurring.latest_slot(schedule, NIGHT - timedelta(seconds=1)) == NIGHT - timedelta(days=1)
        assert recurring.next_run(schedule, NIGHT) == NIGHT + timedelta(days=1)

    def test_a_named_zone_reads_the_expression_in_local_time(self):
        berlin = Schedule(cron="0 3 * * *", zone="Europe/Berlin")
        assert recurring.next_run(berlin, NIGHT) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 03:00 CET
        summer = datetime(2026, 7, 1, tzinfo=UTC)
        assert recurring.next_run(berlin, summer) == datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # 03:00 CEST


class TestTick:
    def test_a_new_schedule_waits_for_its_next_time(self):
        nightly()
        assert recurring.tick() == [] and not Task.objects.exists()

    def test_each_time_enqueues_one_task_with_its_slot(self):
        schedule = nightly()
        Schedule.objects.filter(pk="nightly").update(last_slot=NIGHT - timedelta(days=1))
        [(ticked, slot, task)] = recurring.tick(NIGHT + timedelta(seconds=30))
        assert (ticked.name, slot) == (schedule.name, NIGHT)
        assert (task.project, task.description, task.status) == ("demo", "update dependencies", "pending")
        assert task.unique_key == "schedule:nightly:2026-12-01T03:00:00+00:00"
        assert task.metadata == {"schedule": "nightly", "slot": "2026-12-01T03:00:00+00:00"}
        assert recurring.tick(NIGHT + timedelta(minutes=1)) == []  # the same time again: nothing
        assert Schedule.objects.get(pk="nightly").last_task == task.id

    def test_after_downtime_only_the_latest_missed_time_is_enqueued(self):
        nightly()
        Schedule.objects.filter(pk="nightly").update(last_slot=NIGHT - timedelta(days=10))
        [(_, slot, _)] = recurring.tick(NIGHT + timedelta(hours=5))
        assert slot == NIGHT and len(tasks_of("nightly")) == 1

    def test_a_tick_that_cannot_enqueue_says_why_and_tries_again_next_time(self):
        nightly()
        Schedule.objects.filter(pk="nightly").update(last_slot=NIGHT - timedelta(days=1), project="gone")
        assert recurring.tick(NIGHT) == []
        schedule = Schedule.objects.get(pk="nightly")
        assert schedule.last_error.startswith("unknown project 'gone'")
        assert schedule.last_slot == NIGHT - timedelta(days=1)

    def test_the_reaper_ticks_schedules(self, cli):
        nightly()
        Schedule.objects.filter(pk="nightly").update(last_slot=datetime(2000, 1, 1, tzinfo=UTC))
        dry = cli.manage("reap_stale_agents", "--dry-run")
        assert "would enqueue 1 recurring task(s): nightly (" in dry.stdout and not Task.objects.exists()
        swept = cli.manage("reap_stale_agents", "--json").json()
        [task] = tasks_of("nightly")
        assert swept["recurring"][0]["schedule"] == "nightly" and swept["recurring"][0]["task"] == task.id


def test_processes_ticking_at_once_enqueue_each_time_once(cli):
    recurring.add("often", "demo", "* * * * *", "every minute")
    Schedule.objects.filter(pk="often").update(last_slot=datetime(2000, 1, 1, tzinfo=UTC))
    code = "from schedules import recurring; print(len(recurring.tick()))"
    procs = [cli.popen("manage.py", "shell", "-c", code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in outputs]
    made = sum(int(out.strip().splitlines()[-1]) for out, _ in outputs)
    # Six tickers within one minute: one task; two only if the minute turned between them.
    slots = {t.metadata["slot"] for t in tasks_of("often")}
    assert made == len(tasks_of("often")) == len(slots) and made in (1, 2)


class TestChanges:
    def test_add_writes_an_event_and_replace_changes_it(self):
        nightly()
        with pytest.raises(Conflict, match="exists"):
            nightly()
        changed = recurring.add("nightly", "demo", "30 4 * * 1", "weekly now", replace=True)
        assert (changed.cron, Schedule.objects.count()) == ("30 4 * * 1", 1)
        types = list(Event.objects.filter(type__startswith="schedule.").order_by("id").values_list("type", flat=True))
        assert types == ["schedule.added", "schedule.changed"]

    def test_run_now_enqueues_one_at_once(self):
        nightly()
        task = recurring.run_now("nightly", by="ana")
        assert task.status == "pending" and task.metadata == {"schedule": "nightly", "manual": True, "by": "ana"}

    def test_remove_keeps_the_tasks_it_made(self):
        nightly()
        task = recurring.run_now("nightly")
        recurring.remove("nightly")
        assert not Schedule.objects.exists() and Task.objects.filter(pk=task.id).exists()
        with pytest.raises(NotFound, match="no schedule named 'nightly'"):
            recurring.remove("nightly")

    @pytest.mark.parametrize("kwargs, message", [
        ({"cron": "61 * * * *"}, "invalid cron expression '61 \\* \\* \\* \\*': Bad minute"),
        ({"cron": "* * * * * *"}, "five fields"),
        ({"zone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
        ({"name": "no spaces"}, "a schedule name is"),
        ({"description": " "}, "needs a description"),
    ])
    def test_bad_input_is_refused(self, kwargs, message):
        args = {"name": "x", "project": "demo", "cron": "0 3 * * *", "description": "d", **kwargs}
        with pytest.raises(InvalidInput, match=message):
            recurring.add(args.pop("name"), args.pop("project"), args.pop("cron"), args.pop("description"), **args)
        assert not Schedule.objects.exists()


def test_the_commands(cli):
    added = cli.manage("add_schedule", "nightly", "--project", "demo", "--cron", "0 3 * * *",
                       "--description", "update deps", "--priority", "high", "--timeout", "600", "--json").json()
    assert (added["cron"], added["priority"], added["timeout"], added["timezone"]) == ("0 3 * * *", "high", 600, "UTC")
    listed = cli.manage("list_schedules")
    assert listed.stdout.startswith("nightly  [0 3 * * *, project demo, next ")
    ran = cli.manage("run_schedule", "nightly", "--json").json()
    assert (ran["priority"], ran["timeout"], ran["status"]) == ("high", 600, "pending")
    assert json.loads(cli.manage("list_schedules", "--json").stdout)["schedules"][0]["last_task"] == ran["id"]
    assert cli.manage("remove_schedule", "nightly").stdout.strip() == "removed schedule nightly"
    assert cli.manage("list_schedules").stdout.strip() == "no schedules (add one with add_schedule)"


@pytest.mark.parametrize("args, message", [
    (["add_schedule", "x", "--project", "demo", "--cron", "bad", "--description", "d"],
     "error: a cron expression has five fields (minute hour day month weekday), not 'bad'\n"),
    (["add_schedule", "x", "--project", "ghost", "--cron", "0 3 * * *", "--description", "d"],
     "error: unknown project 'ghost' (register it with register_project)\n"),
    (["run_schedule", "nope"], "error: no schedule named 'nope' (list_schedules shows them)\n"),
    (["remove_schedule", "nope"], "error: no schedule named 'nope' (list_schedules shows them)\n"),
])
def test_bad_commands_are_one_line_and_write_nothing(cli, args, message):
    before = cli.snapshot()
    result = cli.subprocess(*args)
    assert (result.returncode, result.stderr, result.stdout) == (1, message, "")
    assert cli.snapshot() == before
