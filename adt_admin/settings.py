"""Settings for ADT admin. Every deployment knob is an environment variable."""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from storage.databases import DatabaseURLError, database

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def envint(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


ADT_HOME = Path(os.environ.get("ADT_HOME") or "~/.adt").expanduser()
DATA_DIR = ADT_HOME / "data"

DEBUG = envbool("DJANGO_DEBUG", False)


def _secret_key():
    """DJANGO_SECRET_KEY, else a random key kept in ADT_HOME so sessions survive restarts."""
    if key := os.environ.get("DJANGO_SECRET_KEY"):
        return key
    path = ADT_HOME / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    # Written aside and hard-linked into place: two commands starting at once
    # both end up reading the same complete key.
    ADT_HOME.mkdir(parents=True, exist_ok=True)
    tmp = ADT_HOME / f".secret_key.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(50))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# `manage.py runserver`: Django's development server, never a deployment. It
# speaks plain HTTP on this machine, so it gets plain-HTTP defaults (and static
# files without collectstatic); gunicorn, `check --deploy` and everything else
# keep the secure ones. Asked here, once, rather than in gunicorn.conf.py: then
# any other way of serving the WSGI app would silently lose HTTPS.
DEV_SERVER = sys.argv[1:2] == ["runserver"]

# Behind a TLS-terminating proxy (the production setup, on by default when
# DEBUG is off, except under runserver; DJANGO_HTTPS=0 to serve plain HTTP on a
# trusted network, DJANGO_HTTPS=1 to try the secure settings under runserver).
HTTPS = envbool("DJANGO_HTTPS", not DEBUG and not DEV_SERVER)
if HTTPS:
    # The proxy says which scheme the browser used; only trust it from a
    # proxy that sets the header itself (see README, Deployment).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("DJANGO_SSL_REDIRECT", True)
    # Load balancers probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("DJANGO_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True

# Layers, top to bottom: docs/architecture.md.
INSTALLED_APPS = [
    "dashboard",
    "legacy",
    "api",
    "agents",
    "schedules",
    "tasks",
    "events",
    "projects",
    "storage",
    "common",
    "ninja",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Repeated failed logins (django-axes): the 5th wrong password for one username
# from one address locks that pair out for a few minutes, even with the right
# password; its tables live in main.db (storage.routers.MainRouter).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("ADT_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("ADT_LOGIN_COOLOFF_MINUTES", 5))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "common.web.lockout"
AXES_CLIENT_IP_CALLABLE = "common.web.client_ip"
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "adt_admin.urls"
WSGI_APPLICATION = "adt_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "common.web.roles",
            ],
        },
    },
]


def _database(alias, variable, filename, page_size=None):
    """ADT_<X>_DB: a path, a libSQL URL (token in ADT_<X>_DB_TOKEN or TURSO_TOKEN) or a PostgreSQL URL."""
    token = os.environ.get(f"{variable}_TOKEN") or os.environ.get("TURSO_TOKEN")
    timeout = float(os.environ.get("ADT_REMOTE_TIMEOUT") or 10)
    return database(os.environ.get(variable), DATA_DIR / filename, token=token, timeout=timeout, page_size=page_size)


try:
    DATABASES = {
        "default": _database("default", "ADT_MAIN_DB", "main.db"),
        # Claims rewrite a few small rows and index entries: with 2 KB pages
        # each commit copies half as many bytes into the WAL.
        "tasks": _database("tasks", "ADT_TASKS_DB", "tasks.db", page_size=2048),
        "logs": _database("logs", "ADT_LOGS_DB", "logs.db"),
    }
except DatabaseURLError as e:
    raise ImproperlyConfigured(str(e)) from None

DATABASE_ROUTERS = [
    "storage.routers.TasksRouter",
    "storage.routers.LogsRouter",
    "storage.routers.MainRouter",
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("ADT_STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or DEV_SERVER)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# runserver with DEBUG off serves the files where they are, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG or DEV_SERVER

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    # Errors reach gunicorn's log (and journald) instead of an unset mail server.
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}

LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/"

# The queue's knobs.
ADT_MAX_RETRIES = envint("ADT_MAX_RETRIES", 3)
ADT_STALE_SECONDS = envint("ADT_STALE_SECONDS", 30)
ADT_LOG_RETENTION_DAYS = envint("ADT_LOG_RETENTION_DAYS", 90)
# How often a busy process copies its events to logs.db (see events.relay).
# Each copy holds tasks.db's write lock while it drops the rows it copied, so
# a busy process copies in batches; the interval is short next to the feed's poll.
ADT_EVENT_RELAY_INTERVAL = float(os.environ.get("ADT_EVENT_RELAY_INTERVAL") or 0.25)
# Seconds a claimed task may stay in progress before the reaper takes it back
# (a task's --timeout and its project's `task_timeout` come first). Unset: no limit.
ADT_TASK_TIMEOUT = envint("ADT_TASK_TIMEOUT", None)
if ADT_TASK_TIMEOUT is not None and ADT_TASK_TIMEOUT < 1:
    raise ImproperlyConfigured(f"ADT_TASK_TIMEOUT must be a whole number of seconds, 1 or more, not {ADT_TASK_TIMEOUT}")
# How often a long-running process (claim_task --wait) runs the reaper's sweep
# while it waits: time limits and dead agents are enforced without cron.
ADT_SWEEP_INTERVAL = float(os.environ.get("ADT_SWEEP_INTERVAL") or 10)
# How often a claiming process makes due scheduled tasks pending (the reaper does too).
ADT_SCHEDULE_CHECK_INTERVAL = float(os.environ.get("ADT_SCHEDULE_CHECK_INTERVAL") or 1.0)
# How often a process claiming in a loop writes the claim's heartbeat (see agents.lifecycle.claim).
ADT_CLAIM_HEARTBEAT_INTERVAL = float(os.environ.get("ADT_CLAIM_HEARTBEAT_INTERVAL") or 1.0)

# Where archive_tasks moves old finished tasks (one SQLite file per month)
# and where backup writes its copies by default.
# /metrics answers loopback without it; from elsewhere it needs `Authorization: Bearer <this>`.
ADT_METRICS_TOKEN = os.environ.get("ADT_METRICS_TOKEN") or None
# The longest an API claim may hold its request (and a gunicorn worker) waiting
# for a task: below gunicorn's timeout (ADT_TIMEOUT, 30 s).
ADT_API_MAX_WAIT = float(os.environ.get("ADT_API_MAX_WAIT") or 20)
ADT_ARCHIVE_DIR = Path(os.environ.get("ADT_ARCHIVE_DIR") or DATA_DIR / "archive").expanduser()
ADT_BACKUP_DIR = Path(os.environ.get("ADT_BACKUP_DIR") or ADT_HOME / "backups").expanduser()
# Under ADT_HOME but never shown as a run's log (events/runlogs.py): an agent
# may name any path as its log, and the secret key signs every session.
ADT_PRIVATE_PATHS = [ADT_HOME / "secret_key", DATA_DIR, ADT_BACKUP_DIR]

# The heavy server's optional upgrades (docs/deployment.md). Unset: nothing changes.
# Redis carries only hints (wake-ups, the newest event id, locks); the databases stay the truth.
ADT_REDIS_URL = os.environ.get("ADT_REDIS_URL") or None
# Every key and channel starts with this, so several ADT installs (or tests) can share one Redis.
ADT_REDIS_PREFIX = os.environ.get("ADT_REDIS_PREFIX") or "adt:"
# The longest a waiting claim or `tail_events --follow` trusts Redis before looking at the
# database anyway: pub/sub delivers at most once.
ADT_REDIS_SAFETY_POLL = float(os.environ.get("ADT_REDIS_SAFETY_POLL") or 5)
# ClickHouse keeps a copy of the events for months (ship_events); logs.db may then be pruned to days.
ADT_CLICKHOUSE_URL = os.environ.get("ADT_CLICKHOUSE_URL") or None
