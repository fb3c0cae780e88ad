"""Time the analysis of every shipped workload.

Two figures per workload: the whole command (``einsumx analyze``, a fresh
interpreter each time, so imports included) and the analysis alone
(load + analyze + render, in process). Printed as milliseconds and as a
fraction of the one-second budget for the whole command.

    python benchmarks/bench_analyze.py [--repeat N] [WORKLOAD ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 1.0


def whole_command(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "einsumx.cli", "analyze", str(path)],
                       check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_process(path: Path, repeat: int) -> float:
    import einsumx
    from einsumx.report.text import render

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        render(einsumx.analyze(einsumx.load_workload(path)))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workloads", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    paths = args.workloads or sorted((ROOT / "workloads").glob("*.yaml"))
    sys.path.insert(0, str(ROOT))
    print(f"{'workload':<32} {'command ms':>10} {'of budget':>9} {'analysis ms':>11}")
    worst = 0.0
    for path in paths:
        cmd = whole_command(path, args.repeat)
        ana = in_process(path, args.repeat)
        worst = max(worst, cmd)
        print(f"{path.stem:<32} {cmd * 1e3:>10.0f} {cmd / BUDGET_S:>9.2f} {ana * 1e3:>11.1f}")
    print(f"slowest command: {worst * 1e3:.0f} ms = {worst / BUDGET_S:.2f} of the {BUDGET_S:.0f} s budget "
          f"(median of {args.repeat} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
