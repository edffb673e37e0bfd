"""Reading legacy values: each spelling several ADT versions wrote, and what is refused."""

from datetime import UTC, datetime

import pytest

from legacy import log_files
from legacy.values import AGENT_STATUS, TASK_STATUS, Malformed, enum, keep_unknown, priority, when


def at(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T12:00:00Z", at(2024, 3, 1, 12)),
        ("2024-03-01T12:00:00", at(2024, 3, 1, 12)),  # naive means UTC
        ("2024-03-01 14:00:00+02:00", at(2024, 3, 1, 12)),
        ("2024-03-01 12:00:00,250", at(2024, 3, 1, 12, 0, 0, 250000)),
        ("2024-03-01", at(2024, 3, 1)),
        (1709294400, at(2024, 3, 1, 12)),
        (1709294400.5, at(2024, 3, 1, 12, 0, 0, 500000)),
        ("1709294400", at(2024, 3, 1, 12)),
        (1709294400000, at(2024, 3, 1, 12)),  # milliseconds
        (None, None),
        ("", None),
    ],
)
def test_timestamps_are_read_as_aware_utc(value, expected):
    assert when(value, "t") == expected


@pytest.mark.parametrize("value", [True, [2024], {"at": 1}, "yesterday", "2024-13-45", float("nan")])
def test_a_value_that_is_no_timestamp_is_malformed(value):
    with pytest.raises(Malformed):
        when(value, "created_at")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urgent", "urgent"), ("Critical", "urgent"), ("p0", "urgent"), ("high", "high"), ("P1", "high"),
        ("medium", "normal"), ("normal", "normal"), ("low", "low"), ("minor", "low"),
        (0, "urgent"), (1, "high"), (2, "normal"), (3, "low"), ("2", "normal"), (1.0, "high"), (None, "normal"),
    ],
)
def test_known_priorities_map_without_a_warning(value, expected):
    warnings = []
    assert priority(value, "priority", warnings.append) == expected
    assert warnings == []


@pytest.mark.parametrize(("value", "expected"), [("whenever", "normal"), (9, "low"), (-2, "urgent")])
def test_unknown_priorities_map_to_the_nearest_with_a_warning(value, expected):
    warnings = []
    assert priority(value, "priority", warnings.append) == expected
    assert len(warnings) == 1
    assert f"imported as {expected}" in warnings[0]


@pytest.mark.parametrize("value", [True, [1], {"p": 1}, 1.5])
def test_a_priority_of_the_wrong_kind_is_malformed(value):
    with pytest.raises(Malformed):
        priority(value, "priority", print)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("running", "in_progress"), ("in-progress", "in_progress"), ("In Progress", "in_progress"), ("active", "in_progress"),
        ("done", "completed"), ("success", "completed"), ("error", "failed"), ("queued", "pending"), ("new", "pending"),
        ("canceled", "cancelled"), ("cancelled", "cancelled"),
    ],
)
def test_legacy_task_statuses_map_without_a_warning(value, expected):
    warnings = []
    assert enum(value, TASK_STATUS, "status", "pending", warnings.append) == expected
    assert warnings == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("busy", "working"), ("running", "working"), ("stopped", "idle"), ("idle", "idle"), ("dead", "stale"), ("stale", "stale")],
)
def test_legacy_agent_statuses_map_to_idle_working_or_stale(value, expected):
    assert enum(value, AGENT_STATUS, "status", "idle", print) == expected


def test_an_unknown_status_becomes_the_guess_with_a_warning():
    warnings = []
    assert enum("paused", TASK_STATUS, "status", "pending", warnings.append) == "pending"
    assert warnings == ["status 'paused' is not known; imported as pending"]


def test_unknown_fields_never_overwrite_known_ones():
    warnings = []
    merged = keep_unknown({"issue": 1}, {"issue": 2, "tags": ["x"]}, warnings.append, "task 'a'")
    assert merged == {"issue": 1, "legacy_issue": 2, "tags": ["x"]}
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("line", "timestamp", "level"),
    [
        ("[2024-03-01 10:00:00] INFO agent started", at(2024, 3, 1, 10), "info"),
        ("2024-03-01T10:00:00Z [warn] slow", at(2024, 3, 1, 10), "warn"),
        ("2024-05-02 09:10:00,500 - adt.agent - WARNING - slow", at(2024, 5, 2, 9, 10, 0, 500000), "warn"),
        ("2024-05-02T09:00:00+02:00 ERROR: boom", at(2024, 5, 2, 7), "error"),
        ("1709294400 DEBUG tick", at(2024, 3, 1, 12), "debug"),
        ('{"ts": 1709294400, "level": "error", "msg": "x"}', at(2024, 3, 1, 12), "error"),
        ("error: the disk is full", None, "error"),
        ("level=warn msg=slow", None, "warn"),
        ("Traceback (most recent call last):", None, "info"),
        ("2024-03-01 10:00:00 the build found no Error at all", at(2024, 3, 1, 10), "info"),
        ("plain words", None, "info"),
    ],
)
def test_log_lines_give_their_timestamp_and_level_where_they_show_one(line, timestamp, level):
    assert log_files.parse_line(line) == (timestamp, level)


def test_a_log_line_key_changes_with_its_content_and_its_place():
    assert log_files.line_key(1, b"a") == log_files.line_key(1, b"a")
    assert log_files.line_key(1, b"a") != log_files.line_key(2, b"a")
    assert log_files.line_key(1, b"a") != log_files.line_key(1, b"b")
