"""Settings for the test run: every run (and every xdist worker) gets its own ADT_HOME."""

import os
import tempfile

os.environ["ADT_HOME"] = tempfile.mkdtemp(prefix="adt-test-")
for name in ("ADT_MAIN_DB", "ADT_TASKS_DB", "ADT_LOGS_DB"):
    os.environ.pop(name, None)

from adt_admin.settings import *  # noqa: E402,F403

# This run's home is itself thrown away: its files are the test databases.
for _entry in DATABASES.values():  # noqa: F405
    _entry["TEST"] = {"NAME": _entry["NAME"]}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ADT_EVENT_RELAY_INTERVAL = 0  # every change relays at once, so in-process tests see events right away
ADT_CLAIM_HEARTBEAT_INTERVAL = 0

# In-process page tests render {% static %} without a collectstatic run (the
# browser tests run collectstatic and the real manifest storage); a STATIC_ROOT
# that exists keeps WhiteNoise from warning on every request.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT = ADT_HOME / "static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
