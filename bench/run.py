"""`make bench`: run every benchmark in bench/, one after the other, in one run.

Timings on shared machines are noisy; each benchmark prints ratios measured
within its own run. `make bench BENCH=claim` runs one; BENCH_ARGS are passed on.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["claim", "api", "archive", "pages", "peers", "wakeup", "events_store"]


def main():
    wanted = [b for b in os.environ.get("BENCH", "").split(",") if b] or ORDER
    args = os.environ.get("BENCH_ARGS", "").split()
    failed = []
    for name in wanted:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"== {name}: not written yet, skipped", flush=True)
            continue
        print(f"\n== bench/{name}.py", flush=True)
        if subprocess.run([sys.executable, str(script), *args], cwd=HERE.parent).returncode:
            failed.append(name)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
