"""How a task reads on the command line: the fields of --json, and the one line otherwise."""


def task_dict(task):
    return {
        "id": task.id,
        "project": task.project,
        "description": task.description,
        "priority": task.priority,
        "status": task.status,
        "assigned_to": task.assigned_to,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "completed_at": task.completed_at,
        "retry_count": task.retry_count,
        "metadata": task.metadata,
        "result": task.result,
        "error": task.error,
        "timeout": task.timeout,
        "run_at": task.run_at,
        "unique_key": task.unique_key,
        # While in progress: when the reaper takes the task back (extend_task pushes it out).
        "deadline": task.deadline if task.status == "in_progress" else None,
        # The claim's fencing token: pass it back as --lease to complete/fail.
        "lease": task.started_at.isoformat() if task.started_at and task.status == "in_progress" else None,
    }


def task_line(task):
    holder = f", held by {task.assigned_to}" if task.assigned_to else ""
    return f"{task.id}  [{task.status}, {task.priority}, project {task.project}{holder}, retries {task.retry_count}]  {task.description}"
