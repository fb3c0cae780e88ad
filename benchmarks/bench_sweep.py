"""End-to-end sweep throughput: design points per second, Parquet included.

Runs ``einsumx sweep`` as a user would (a subprocess, local processes, the
progress bar off) on the 1-pass attention cascade on the FuseMax template
with its shipped mapping (the mapper choosing the query block and the reuse
of Q, K and V per point among up to 252 candidates), over a grid of sequence
length, batch, global-buffer size, DRAM bandwidth, 2D-array rows and
columns and MAC energy sized to N points; then ``einsumx pareto`` over the
store (latency, energy and area, one front per workload instance). Prints,
per size: points, seconds, points per second, the largest resident memory
of any one process, the Parquet bytes per point, and the sweep + Pareto
time against the one-minute target for 10M points.

    python benchmarks/bench_sweep.py [--points 1000000 10000000] [--workers N]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EINSUMX = [sys.executable, "-m", "einsumx.cli"]
TARGET_S = 60.0


def grid(points: int) -> list[str]:
    fixed = {
        "seq": "1K..1M*4",                       # 6
        "batch": "1..64*4",                      # 4
        "GLB.capacity_bytes": "4MiB..64MiB*2",   # 5
        "PE2D.rows": "64,128,256",               # 3
        "PE2D.cols": "64,128,256",               # 3
        "PE2D.mac.energy_pj": "5,10,17.1645",    # 3
    }
    rest = 6 * 4 * 5 * 3 * 3 * 3
    n_bw = max(1, math.ceil(points / rest))
    bw = ",".join(str(int(50e9 + k * (1.6e12 - 50e9) / max(1, n_bw - 1))) for k in range(n_bw))
    return [f"{k}={v}" for k, v in fixed.items()] + [f"DRAM.bandwidth_bytes_per_s={bw}"]


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    print(f"{args.workers} worker processes; attention-1pass on fusemax (mapping fusemax-attention.yaml)", flush=True)
    for n in args.points:
        out = Path(tempfile.mkdtemp(prefix="einsumx-bench-"))
        try:
            sweep = EINSUMX + ["sweep", "workloads/attention-1pass.yaml", "--arch", "fusemax",
                               "--mapping", "architectures/mappings/fusemax-attention.yaml", "--out", str(out / "s"),
                               "--workers", str(args.workers), "-q"]
            for g in grid(n):
                sweep += ["--grid", g]
            t_sweep = run(sweep)
            count = subprocess.run(EINSUMX + ["query", str(out / "s"), "SELECT count(*) AS n FROM points", "--format", "csv"],
                                   cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()[1]
            points = int(count)
            t_pareto = run(EINSUMX + ["pareto", str(out / "s"), "--objectives", "latency_s,energy_pj,area_mm2",
                                      "--out", str(out / "front.csv")])
            rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            size = sum(f.stat().st_size for f in (out / "s" / "points").rglob("*.parquet"))
            total = t_sweep + t_pareto
            print(f"{points:>11,} points: sweep {t_sweep:6.1f} s = {points / t_sweep:>9,.0f} points/s end to end "
                  f"(Parquet {size / points:.1f} bytes/point); pareto {t_pareto:5.1f} s; "
                  f"sweep + pareto {total:6.1f} s = {TARGET_S / total * points / 10_000_000:.2f}x the "
                  f"10M-in-{TARGET_S:.0f}-s target rate; largest process so far {rss_mib:,.0f} MiB", flush=True)
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
