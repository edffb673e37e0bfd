"""How a schedule reads on the command line."""

from schedules import recurring


def schedule_dict(schedule):
    return {
        "name": schedule.name,
        "project": schedule.project,
        "cron": schedule.cron,
        "timezone": schedule.zone,
        "description": schedule.description,
        "priority": schedule.priority,
        "timeout": schedule.timeout,
        "next_run": recurring.next_run(schedule),
        "last_slot": schedule.last_slot,
        "last_task": schedule.last_task,
        "last_error": schedule.last_error,
    }


def schedule_line(schedule):
    zone = "" if schedule.zone == "UTC" else f" {schedule.zone}"
    error = f"  (last tick failed: {schedule.last_error})" if schedule.last_error else ""
    return (f"{schedule.name}  [{schedule.cron}{zone}, project {schedule.project}, next "
            f"{recurring.next_run(schedule):%Y-%m-%d %H:%M} UTC]  {schedule.description}{error}")
