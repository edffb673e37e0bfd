"""The task django-tasks-db stores a path to (its worker imports it by that path).

Imported only inside a process whose settings name django_tasks_db's backend.
"""

from django_tasks import task


@task()
def noop(i):
    return None
