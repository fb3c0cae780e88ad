"""Design-space sweeps: workloads x architectures x mappings x grids, to a Parquet store.

``load_spec`` reads a sweep (file and command line), ``resolve`` checks it
and splits it into runs, ``run_sweep`` evaluates every run's grid in
chunks on local processes or a Dask cluster, resuming what an earlier
attempt left. See docs/sweeps.md.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from .engine import write_chunk
from .spec import Run, Sweep, SweepSpec, load_spec, resolve
from .store import connect, mark_complete, open_store, query, read_meta

__all__ = ["SweepSpec", "Sweep", "Run", "load_spec", "resolve", "run_sweep", "connect", "query", "read_meta", "SweepResult"]


@dataclass
class SweepResult:
    out: Path
    points: int
    computed_points: int
    """Points evaluated by this call (0: the sweep was already complete)."""
    seconds: float
    meta: dict


def _executor(workers: int, scheduler: str | None):
    if scheduler:
        from distributed import Client

        client = Client(scheduler)
        return client.get_executor(pure=False), client, max(1, sum(client.nthreads().values()))
    if workers <= 1:
        return None, None, 1
    import multiprocessing

    return (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint),
            None, workers)


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which cancels them and says how to resume (no worker tracebacks)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_sweep(sweep: Sweep, out: str | Path, command: str = "", workers: int | None = None,
              scheduler: str | None = None, quiet: bool = False, overwrite: bool = False) -> SweepResult:
    """Evaluate every chunk of ``sweep`` not yet stored in ``out``."""
    from tqdm import tqdm

    out = Path(out)
    meta, done = open_store(out, sweep, command, overwrite)
    todo = [(r, k) for r in sweep.runs for k in range(r.chunks) if (r.id, k) not in done]
    total = sweep.points
    left = sum(r.chunk_range(k)[1] - r.chunk_range(k)[0] for r, k in todo)
    if not todo:
        if meta.get("status") != "complete":
            meta = mark_complete(out, meta, 0.0)
        return SweepResult(out, total, 0, 0.0, meta)
    workers = workers or len(__import__("os").sched_getaffinity(0))
    executor, client, slots = _executor(workers, scheduler)
    bar = tqdm(total=total, initial=total - left, unit="pt", unit_scale=True, disable=quiet, file=sys.stderr,
               desc=sweep.spec.title, dynamic_ncols=True, smoothing=0.1)
    start = time.perf_counter()
    try:
        if executor is None:
            for r, k in todo:
                bar.update(write_chunk(r, k, str(out))[2])
        else:
            pending = set()
            queue = list(todo)
            while queue or pending:
                while queue and len(pending) < 2 * slots:  # bounded: memory does not grow with the grid
                    r, k = queue.pop(0)
                    pending.add(executor.submit(write_chunk, r, k, str(out)))
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    bar.update(f.result()[2])
    except BaseException:
        if executor is not None:  # chunks under way finish (a few seconds at most), so the caller's count is final
            executor.shutdown(wait=client is None, cancel_futures=True)
        if client is not None:
            client.close()
        bar.close()
        raise
    bar.close()
    elapsed = time.perf_counter() - start
    if executor is not None:
        executor.shutdown(wait=True)
    if client is not None:
        client.close()
    meta = mark_complete(out, meta, elapsed)
    return SweepResult(out, total, left, elapsed, meta)
