"""Run every benchmark in turn (``make bench``); each prints its own table.

    .venv/bin/python benchmarks/run_all.py [--json]

With ``--json`` each benchmark's JSON object is printed on its own line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_vision.py", "bench_pipeline.py"]


def main() -> int:
    extra = sys.argv[1:]
    failed = 0
    for name in BENCHMARKS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        failed += subprocess.call([sys.executable, str(path), *extra]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
