"""Design points per second of the vectorized evaluation model.

Builds and compiles the FuseMax template's model of the 1-pass attention
cascade once, then evaluates N design points in one call, varying the
sequence length, batch, both array dimensions, the buffer capacity, the
DRAM bandwidth and the MAC energy at random (the mapping's tile and reuse
choices held at what the mapper picked for the defaults). Prints the build
and compile time, the rate (points per second, median of the repeats) and
its ratio to the 1,000,000 per second target.

    python benchmarks/bench_model.py [--points N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1_000_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from einsumx import load_workload
    from einsumx.arch import load_architecture
    from einsumx.ir.values import param_symbol
    from einsumx.mapping.spec import load_mapping
    from einsumx.model import choose, compile_model, default_values
    from einsumx.model.build import build_model

    t0 = time.perf_counter()
    cascade = load_workload(ROOT / "workloads/attention-1pass.yaml")
    arch = load_architecture("fusemax")
    mapping = load_mapping(ROOT / "architectures/mappings/fusemax-attention.yaml")
    values, _ = default_values(cascade, arch, mapping)
    model = build_model(cascade, arch, mapping, values)
    t1 = time.perf_counter()
    compiled = compile_model(model)
    t2 = time.perf_counter()
    picked, _, _ = choose(model, compiled, values)
    values.update(picked)

    n = args.points
    rng = np.random.default_rng(0)
    grid = dict(values)
    grid[param_symbol("seq")] = 2.0 ** rng.integers(10, 21, n)          # 1K .. 1M tokens
    grid[param_symbol("batch")] = 2.0 ** rng.integers(0, 7, n)          # 1 .. 64
    side = 2.0 ** rng.integers(4, 10, n)                                 # 16 .. 512
    grid[arch.symbol("PE2D.rows")] = side
    grid[arch.symbol("PE2D.cols")] = side
    grid[arch.symbol("GLB.capacity_bytes")] = 2.0 ** rng.integers(20, 26, n)
    grid[arch.symbol("DRAM.bandwidth_bytes_per_s")] = rng.uniform(50e9, 800e9, n)
    grid[arch.symbol("PE2D.mac.energy_pj")] = rng.uniform(5, 20, n)

    times = []
    for _ in range(args.repeat):
        s = time.perf_counter()
        out = compiled(grid)
        times.append(time.perf_counter() - s)
    assert np.all(np.asarray(out["utilization.PE2D"]) <= 1 + 1e-9)
    med = statistics.median(times)
    rate = n / med
    print(f"model: {len(model.outputs)} outputs of {len(compiled.symbols)} parameters; "
          f"build {t1 - t0:.2f} s, compile {t2 - t1:.2f} s")
    print(f"{n:,} design points in {med:.3f} s (median of {args.repeat}): {rate:,.0f} points/s, "
          f"{rate / TARGET:.2f}x the {TARGET:,}/s target")


if __name__ == "__main__":
    main()
