"""gunicorn settings for ADT admin (`make serve`). Every value can be set from the environment."""

import multiprocessing
import os
import sys

wsgi_app = "adt_admin.wsgi:application"
bind = os.environ.get("ADT_BIND", "127.0.0.1:8000")
# Sync workers: each request is a few short queries. SQLite's WAL lets the
# workers read while one writes.
workers = int(os.environ.get("ADT_WORKERS") or min(4, multiprocessing.cpu_count() * 2 + 1))
timeout = int(os.environ.get("ADT_TIMEOUT") or 30)
graceful_timeout = 20
# Recycle workers now and then, so a slow leak never becomes an outage.
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
# The reverse proxy in front; X-Forwarded-* from anyone else is ignored.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def on_starting(server):
    debug = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes", "on")
    if not debug and not os.environ.get("DJANGO_SECRET_KEY"):
        sys.stderr.write("error: set DJANGO_SECRET_KEY before serving with DEBUG off (see docs/deployment.md)\n")
        sys.exit(1)
