from agents import lifecycle
from common.cli import ADTCommand


def _age(seconds):
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


class Command(ADTCommand):
    help = "Show every agent: state, last heartbeat, current task, last run."

    def handle(self, *args, **options):
        rows = lifecycle.overview()
        data = {
            "agents": [
                {
                    "agent": row["agent"].name,
                    "provider": row["agent"].provider,
                    "status": row["agent"].status,
                    "last_heartbeat": row["agent"].last_heartbeat,
                    "heartbeat_age_seconds": row["heartbeat_age"],
                    "tasks": row["tasks"],
                    "queue": row["queue"],
                    "paused": _pause(row["paused"]),
                    "last_run": _run(row["last_run"]),
                }
                for row in rows
            ]
        }
        header = f"{'AGENT':20} {'STATUS':8} {'HEARTBEAT':12} {'TASK':18} {'QUEUE':28} LAST RUN"
        lines = [header] + [
            f"{row['agent'].name:20} {row['agent'].status:8} {_age(row['heartbeat_age']):12} "
            f"{(','.join(row['tasks']) or '-'):18} {_queue_text(row):28} {_run_text(row['last_run'])}"
            for row in rows
        ]
        if not rows:
            lines = ["no agents registered (register_project NAME PATH)"]
        self.emit(data, lines)


def _run(run):
    if run is None:
        return None
    return {"id": run.id, "status": run.status, "started_at": run.started_at, "ended_at": run.ended_at, "exit_code": run.exit_code}


def _run_text(run):
    if run is None:
        return "-"
    return f"#{run.id} {run.status}" + (f" (exit {run.exit_code})" if run.exit_code is not None else "")


def _pause(pause):
    if pause is None:
        return None
    return {"paused_at": pause.paused_at, "paused_by": pause.paused_by, "reason": pause.reason}


def _queue_text(row):
    """'PAUSED 3 paused, 1 blocked', '2 pending, 1 scheduled', or '-'."""
    counts = ", ".join(f"{n} {status}" for status, n in row["queue"].items() if n)
    return ("PAUSED " if row["paused"] else "") + (counts or "-")
