"""One change applied to many tasks: the queue page's bulk actions and the admin's actions."""

from django.contrib import messages

from common.errors import ADTError

# Refusals listed one by one; the rest are counted.
SHOWN_ERRORS = 5


def apply(task_ids, change, done):
    """Run `change(task_id)` for each id; a task that refuses does not stop the others.

    Returns the messages to show, as (level, text): "<done> 3 tasks." and each
    refusal (the first few, then how many more).
    """
    changed, errors = 0, []
    for task_id in task_ids:
        try:
            change(task_id)
            changed += 1
        except ADTError as e:
            errors.append(str(e))
    shown = [(messages.SUCCESS, f"{done} {changed} task{'s' if changed != 1 else ''}.")] if changed else []
    shown += [(messages.ERROR, error) for error in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        shown.append((messages.ERROR, f"… and {len(errors) - SHOWN_ERRORS} more not changed."))
    return shown
