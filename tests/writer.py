"""A process that keeps adding tasks, each with its event, until it is killed.

The load an online backup must not stop nor miss (tests/test_backup.py).
Usage: python tests/writer.py PROJECT
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from tasks import queue  # noqa: E402

while True:
    print(queue.enqueue(sys.argv[1], "written during a backup").id, flush=True)
