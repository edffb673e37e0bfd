"""Loading old rows straight into the files, as months of agents' work would have left them."""

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

TASK_COLUMNS = ("id", "project", "description", "priority", "status", "assigned_to", "created_at", "started_at",
                "completed_at", "result", "error", "retry_count", "metadata")


def stamp(days_ago, now=None):
    """A datetime `days_ago` days back, as Django stores it in SQLite."""
    moment = (now or datetime.now(UTC)) - timedelta(days=days_ago)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def task_row(status, completed_days_ago=None, created_days_ago=None, project="demo", **fields):
    created = created_days_ago if created_days_ago is not None else (completed_days_ago or 0) + 1
    row = {
        "id": uuid.uuid4().hex[:16],
        "project": project,
        "description": f"{status} task",
        "priority": "normal",
        "status": status,
        "assigned_to": "demo" if status != "pending" else None,
        "created_at": stamp(created),
        "started_at": stamp(created) if status != "pending" else None,
        "completed_at": stamp(completed_days_ago) if completed_days_ago is not None else None,
        "result": "done" if status == "completed" else None,
        "error": "boom" if status == "failed" else None,
        "retry_count": 0,
        "metadata": '{"n": 1}',
    }
    row.update(fields)
    return tuple(row[c] for c in TASK_COLUMNS)


def insert_tasks(path, rows):
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})", rows)


def all_tasks(path):
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks").fetchall()
