"""System checks of the events app: whether logs.db's events are a TimescaleDB hypertable.

A database check (Django's `database` tag): `manage.py check --database logs`
and `migrate --database logs` run it. Checks without that tag run before
every management command, so agents' claim_task and complete_task would each
ask the server and print this note on stderr.
"""

from django.core.checks import Info, Tags, register

from storage import timescale

LOGS = "logs"
NOT_IN_USE = "TimescaleDB is not in use on the logs database ({why}); events stay a plain table"
WHY = {
    timescale.NOT_OFFERED: "the extension is not offered by this server",
    timescale.NOT_LOADED: "the server offers the extension but does not preload it: shared_preload_libraries",
    timescale.PLAIN: "the server has the extension, but events was migrated before it did: see docs/deployment.md",
}


@register(Tags.database)
def timescaledb_in_use(app_configs=None, databases=None, **kwargs):
    if not databases or LOGS not in databases:
        return []
    state = timescale.state(LOGS, "events")
    if state == timescale.NOT_POSTGRESQL:
        return []
    if state == timescale.IN_USE:
        return [Info("TimescaleDB is in use on the logs database: events is a hypertable, "
                     "prune_logs drops its old chunks whole", id="events.I002")]
    return [Info(NOT_IN_USE.format(why=WHY[state]), id="events.I001")]
