"""Evaluating one chunk of a run's grid: vectorized, mapper included.

A run's model is built and compiled once per process (``evaluator``), at
the run's first grid point; every chunk then evaluates its design points
as numpy arrays:

1. the grid indices of the chunk (``np.unravel_index``) give each point's
   value of every key; the workload keys index the table of exactly
   evaluated workload combinations (derived parameters and rank sizes
   included), the hardware keys give the hardware numbers;
2. the mapper: every candidate of the free choices (tile sizes, reuse of
   each input) is evaluated over the whole chunk with the three outputs it
   needs (cycles, energy, buffer overflow), keeping per point the best that
   fits the buffer, by the same rule as ``einsumx evaluate`` (the objective
   to 9 significant digits, then the other of latency/energy, then the first
   candidate); a tile must divide its extent, as there;
3. the stored outputs are evaluated once more with each point's choices.

The chunk's rows go to one Parquet file, written under a temporary name
and renamed into place: a chunk is either wholly stored or not at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sympy

from .spec import Run

DECIDE = ("cycles", "energy_pj", "buffer_overflow_bytes")


def output_columns(name: str) -> str | None:
    """The store's column of a model output (None: not stored; the
    per-action and per-Einsum terms are re-derived by ``einsumx evaluate``)."""
    if name.startswith("einsum.") or name.startswith("energy_pj."):
        return None
    head, _, rest = name.partition(".")
    if not rest:
        return name
    rest = rest.replace(".", "_")
    return {
        "busy_cycles": f"busy_{rest}_cycles",
        "utilization": f"utilization_{rest}",
        "buffer_required_bytes": f"buffer_{rest}_required_bytes",
        "rf_words": f"rf_{rest}_words",
        "area_mm2": f"area_{rest}_mm2",
    }.get(head)


def choice_column(name: str) -> str:
    """``phase 1.reuse.K`` -> ``map_phase_1_reuse_K``."""
    return "map_" + re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")


@dataclass
class Prepared:
    """What evaluating a run needs of its model, as sympy expressions
    (picklable: built once where the sweep is checked, compiled where it runs)."""

    decide: dict[str, sympy.Expr]
    stored: dict[str, sympy.Expr]
    choices: list[tuple[sympy.Symbol, list | None, sympy.Expr | None, int]]
    """(symbol, listed options or None, the extent an automatic tile divides, the tile inside it)."""
    reuse_labels: dict[str, list[str]]
    base: dict[sympy.Symbol, float]
    """Every symbol's value at the run's first grid point."""
    by_name: dict[str, sympy.Symbol]


def prepare(model, base: dict, by_name: dict) -> Prepared:
    """The outputs a sweep stores (per-component energy summed; per-action
    and per-Einsum terms left to ``einsumx evaluate``) and the mapper's choices."""
    stored: dict[str, sympy.Expr] = {}
    components: dict[str, sympy.Expr] = {}
    for name, expr in model.outputs.items():
        if name.startswith("energy_pj."):
            comp = name.split(".")[1]
            components[comp] = components.get(comp, sympy.Integer(0)) + expr
        col = output_columns(name)
        if col:
            stored[col] = expr
    for comp, expr in components.items():
        stored[f"energy_{comp}_pj"] = expr
    choices = []
    for s, options in model.choices.items():
        if options is None:
            extent, inner = model.tile_info[s]
            choices.append((s, None, sympy.sympify(extent), int(inner)))
        else:
            choices.append((s, list(options), None, 0))
    labels = {}
    for p in model.phases:
        for t, (sym, lab) in p.reuse.items():
            labels[choice_column(sym.name)] = list(lab)
    return Prepared({n: model.outputs[n] for n in DECIDE}, stored, choices, labels, dict(base), dict(by_name))


@dataclass
class Evaluator:
    run: Run
    decide: object
    full: object
    names: list[str]
    """Stored output columns, in the order of ``full``'s outputs."""
    choices: list[tuple[sympy.Symbol, list | None, object, int]]
    """(symbol, listed options or None, (extent function, its symbols), inner tile)."""
    base: dict
    by_name: dict[str, sympy.Symbol]


_CACHE: dict[str, Evaluator] = {}


def evaluator(run: Run) -> Evaluator:
    """The run's compiled model, compiled once per process."""
    key = run.key
    if key not in _CACHE:
        _CACHE[key] = _compile(run)
    return _CACHE[key]


def _compile(run: Run) -> Evaluator:
    from ..model import Compiled, _MODULES

    def compiled(outputs: dict[str, sympy.Expr]) -> Compiled:
        names = list(outputs)
        exprs = [sympy.sympify(outputs[n]) for n in names]
        symbols = sorted(set().union(*[e.free_symbols for e in exprs]), key=lambda x: x.name)
        return Compiled(symbols, names, sympy.lambdify(symbols, exprs, modules=_MODULES, cse=True))

    pr = run.prepared
    full = compiled(pr.stored)
    choices = []
    for s, listed, extent, inner in pr.choices:
        if listed is None:
            syms = sorted(extent.free_symbols, key=lambda x: x.name)
            choices.append((s, None, (sympy.lambdify(syms, extent, modules="numpy"), syms), inner))
        else:
            choices.append((s, listed, None, 0))
    return Evaluator(run, compiled(pr.decide), full, full.names, choices, pr.base, pr.by_name)


def point_values(ev: Evaluator, start: int, stop: int) -> tuple[dict, list[np.ndarray]]:
    """Every symbol's value over points [start, stop) of the run's grid
    (arrays where the grid varies it), and each key's index per point."""
    run = ev.run
    idx = np.arange(start, stop, dtype=np.int64)
    sub = list(np.unravel_index(idx, run.shape)) if run.keys else []
    values = dict(ev.base)
    wpos = [i for i, k in enumerate(run.keys) if k.name == "model" or k.name in run.combo_symbols]
    if len(run.combos) > 1:
        combo = np.ravel_multi_index([sub[i] for i in wpos], [run.shape[i] for i in wpos])
        for j, n in enumerate(run.combo_symbols):
            col = run.combos[:, j]
            values[ev.by_name[n]] = col[combo] if np.ptp(col) else float(col[0])
    for i, k in enumerate(run.keys):
        if i not in wpos:
            values[ev.by_name[k.name]] = np.asarray(k.values, dtype=float)[sub[i]]
    return values, sub


def _round9(x):
    from ..model import _round9

    return _round9(x)


BUDGET = 1 << 20
"""Point x candidate evaluations per vectorized call of the mapper (memory bound)."""


def choose_vectorized(ev: Evaluator, values: dict, n: int) -> dict:
    """Per point, the mapper's choice of every free choice (see the module
    doc): all candidates of a block of points in one call, as a
    (points x candidates) array."""
    if not ev.choices:
        return {}
    # per choice: option values (K_c,) and, for automatic tiles, validity per point (n, K_c)
    option_values, option_masks, extents = [], [], []
    for s, listed, ext, inner in ev.choices:
        if listed is not None:
            option_values.append(np.asarray(listed, dtype=float))
            option_masks.append(None)
            extents.append(None)
            continue
        fn, syms = ext
        extent = np.broadcast_to(np.rint(np.asarray(fn(*[values[x] for x in syms]), dtype=float)), (n,))
        top = float(extent.max())
        tiles = np.array([inner * 2**k for k in range(41) if inner * 2**k <= top] or [inner], dtype=float)
        ok = (extent[:, None] >= tiles[None, :]) & (np.fmod(extent[:, None], tiles[None, :]) == 0)
        none = ~ok.any(axis=1)
        # the last option: the whole extent, where no power of two divides it
        option_values.append(np.append(tiles, np.nan))
        option_masks.append(np.column_stack([ok, none]))
        extents.append(extent)
    grids = np.meshgrid(*[np.arange(len(v)) for v in option_values], indexing="ij")
    index = [g.reshape(-1) for g in grids]  # candidate k -> option of each choice, in product order
    k_count = len(index[0])
    block = max(1, BUDGET // k_count)
    picked = [np.empty(n) for _ in ev.choices]
    objective = ev.run.objective
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        m = hi - lo
        trial = {sym: (v[lo:hi, None] if isinstance(v, np.ndarray) and v.ndim == 1 and v.shape[0] == n else v)
                 for sym, v in values.items()}
        valid = np.ones((m, k_count), bool)
        cand = []
        for c, (s, *_ ) in enumerate(ev.choices):
            vals = option_values[c][index[c]][None, :]
            if extents[c] is not None:
                vals = np.where(np.isnan(vals), extents[c][lo:hi, None], vals)
                valid &= option_masks[c][lo:hi][:, index[c]]
            trial[s] = vals
            cand.append(vals)
        out = ev.decide(trial)
        cycles = np.broadcast_to(np.asarray(out["cycles"], float), (m, k_count))
        energy = np.broadcast_to(np.asarray(out["energy_pj"], float), (m, k_count))
        over = np.broadcast_to(np.asarray(out["buffer_overflow_bytes"], float), (m, k_count))
        fits = valid & (over <= 0.5)
        primary = {"latency": cycles, "energy": energy, "edp": cycles * energy}[objective]
        secondary = energy if objective == "latency" else cycles
        p = np.where(fits, _round9(primary), np.inf)
        best = p == p.min(axis=1, keepdims=True)
        s2 = np.where(best, secondary, np.inf)
        first = np.argmax(best & (s2 == s2.min(axis=1, keepdims=True)), axis=1)  # lexicographic, then the first
        o = np.where(valid, over, np.inf)
        least = np.argmax(o == o.min(axis=1, keepdims=True), axis=1)  # nothing fits: the least overflow
        k = np.where(fits.any(axis=1), first, least)
        rows = np.arange(m)
        for c, vals in enumerate(cand):
            picked[c][lo:hi] = np.broadcast_to(vals, (m, k_count))[rows, k]
    return {s: v for (s, *_), v in zip(ev.choices, picked)}


def evaluate_chunk(run: Run, k: int) -> pa.Table:
    """The stored rows of chunk ``k`` of ``run``."""
    ev = evaluator(run)
    start, stop = run.chunk_range(k)
    n = stop - start
    values, sub = point_values(ev, start, stop)
    picked = choose_vectorized(ev, values, n)
    values.update(picked)
    out = ev.full(values)
    cols: dict[str, pa.Array] = {
        "run": pa.array(np.full(n, run.id, dtype=np.int32)),
        "point": pa.array(np.arange(start, stop, dtype=np.int64)),
    }
    for label, name in (("workload", run.workload_name), ("architecture", run.architecture_name), ("mapping", run.mapping_name)):
        cols[label] = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([name]))
    for i, key in enumerate(run.keys):
        vals = key.values
        if key.name == "model":
            cols["model"] = pa.DictionaryArray.from_arrays(pa.array(sub[i].astype(np.int32)), pa.array([str(v) for v in vals]))
        elif all(isinstance(v, int) for v in vals):
            cols[key.column] = pa.array(np.asarray(vals, dtype=np.int64)[sub[i]])
        else:
            cols[key.column] = pa.array(np.asarray(vals, dtype=float)[sub[i]])
    for s, *_ in ev.choices:
        cols[choice_column(s.name)] = pa.array(np.broadcast_to(values[s], (n,)).astype(np.int64))
    for name in ev.names:
        cols[name] = pa.array(np.broadcast_to(np.asarray(out[name], dtype=float), (n,)))
    cols["feasible"] = pa.array(np.broadcast_to(np.asarray(out["buffer_overflow_bytes"], float) <= 0.5, (n,)))
    return pa.table(cols)


def chunk_path(out: Path, run_id: int, k: int) -> Path:
    return Path(out) / "points" / f"run={run_id}" / f"chunk-{k:06d}.parquet"


def write_chunk(run: Run, k: int, out: str) -> tuple[int, int, int]:
    """Evaluate chunk ``k`` of ``run`` and store it atomically; (run, chunk, rows)."""
    table = evaluate_chunk(run, k)
    path = chunk_path(Path(out), run.id, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=1)
    os.replace(tmp, path)
    return run.id, k, table.num_rows
