"""Evaluating one chunk of a run's grid: vectorized, mapper included.

A run's models (one per structure over the grid: binding, schedule,
intermediates in registers; built by ``resolve``) are unpickled and
compiled once per process (``evaluator``); every chunk then evaluates its
design points as numpy arrays:

1. each point's grid indices give its value of every key; the workload
   keys index the table of exactly evaluated workload combinations
   (derived parameters and rank sizes included), the hardware keys give
   the hardware numbers, and the keys the structure depends on give the
   point's model;
2. the mapper, by blocks of the grid (``blocks``): each key of a block gets
   an array axis and the candidates of the free choices (tile sizes, reuse
   of each input) one more, so broadcasting computes each term of the three
   outputs the choice needs (cycles, energy, buffer overflow) only over the
   keys it depends on; per point the best candidate that fits the buffer,
   by the same rule as ``einsumx evaluate`` (the objective to 9 significant
   digits, then the other of latency/energy, then the first candidate); a
   tile must divide its extent, as there;
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
class CompiledModel:
    """One model of a run (one binding), compiled."""

    decide: object
    full: object
    choices: list[tuple[sympy.Symbol, list | None, object, int]]
    """(symbol, listed options or None, (extent function, its symbols), inner tile)."""


@dataclass
class Evaluator:
    run: Run
    models: list[CompiledModel]
    """One per binding (``run.bindings``)."""
    names: list[str]
    """Stored output columns: every model's, in first-seen order."""
    choices: list[str]
    """Choice symbols' names: every model's, in first-seen order."""
    base: dict
    by_name: dict[str, sympy.Symbol]


_CACHE: dict[str, Evaluator] = {}


def evaluator(run: Run) -> Evaluator:
    """The run's compiled models, unpickled and compiled once per process."""
    key = run.key
    if key not in _CACHE:
        _CACHE[key] = _compile(run)
    return _CACHE[key]


def _compile(run: Run) -> Evaluator:
    from ..model import compile_outputs as compiled

    models, names, choices = [], {}, {}
    prepared = run.models()
    for pr in prepared:
        full = compiled(pr.stored)
        chosen = []
        for s, listed, extent, inner in pr.choices:
            choices.setdefault(s.name, None)
            if listed is None:
                syms = sorted(extent.free_symbols, key=lambda x: x.name)
                chosen.append((s, None, (sympy.lambdify(syms, extent, modules="numpy"), syms), inner))
            else:
                chosen.append((s, listed, None, 0))
        names.update(dict.fromkeys(full.names))
        models.append(CompiledModel(compiled(pr.decide), full, chosen))
    return Evaluator(run, models, list(names), list(choices), prepared[0].base, prepared[0].by_name)


def _key_values(ev: Evaluator, sub: list) -> tuple[dict, object]:
    """Every symbol's value at grid indices ``sub`` (one index array, or
    int, per key; arrays broadcast against each other), and each point's
    model (binding) index."""
    run = ev.run
    values = dict(ev.base)
    wpos = [i for i, k in enumerate(run.keys) if k.name == "model" or k.name in run.combo_symbols]
    if len(run.combos) > 1:
        combo = 0
        for i in wpos:
            combo = combo * run.shape[i] + sub[i]
        for j, n in enumerate(run.combo_symbols):
            col = run.combos[:, j]
            values[ev.by_name[n]] = col[combo] if np.ptp(col) else float(col[0])
    for i, k in enumerate(run.keys):
        if i not in wpos:
            values[ev.by_name[k.name]] = np.asarray(k.values, dtype=float)[sub[i]]
    b = 0
    for i in run.binding_keys:
        b = b * run.shape[i] + sub[i]
    return values, run.binding_table.reshape(-1)[b]


def point_values(ev: Evaluator, start: int, stop: int) -> tuple[dict, list[np.ndarray], np.ndarray]:
    """Every symbol's value over points [start, stop) of the run's grid
    (arrays where the grid varies it), each key's index per point, and
    each point's model (binding) index."""
    run = ev.run
    idx = np.arange(start, stop, dtype=np.int64)
    sub = list(np.unravel_index(idx, run.shape)) if run.keys else []
    values, model = _key_values(ev, sub)
    return values, sub, np.broadcast_to(model, (stop - start,))


def blocks(shape: tuple[int, ...], start: int, stop: int, budget: int):
    """Points [start, stop) of the C-order grid of ``shape`` as blocks, in
    order: (prefix, axis, lo, hi) = the keys before ``axis`` at the indices
    ``prefix``, key ``axis`` over [lo, hi), every later key whole. Each
    block holds at most ``budget`` points, unless a single index of its
    axis (with every later key whole) is more and no later key is left to cut."""
    if not shape:
        yield (), 0, 0, 1
        return
    trailing = [int(np.prod(shape[j + 1:], dtype=np.int64)) for j in range(len(shape))]

    def cut(prefix, j, lo, hi):
        t = trailing[j]
        if t > budget and j + 1 < len(shape):
            for i in range(lo, hi):
                yield from cut(prefix + (i,), j + 1, 0, shape[j + 1])
            return
        step = max(1, budget // t)
        for s in range(lo, hi, step):
            yield prefix, j, s, min(hi, s + step)

    def cover(prefix, j, a, b):  # [a, b): flat offsets within the keys from j on
        t = trailing[j]
        if a // t == (b - 1) // t and (a % t or b % t):  # inside one index of key j
            yield from cover(prefix + (a // t,), j + 1, a % t, b - (a // t) * t)
            return
        lo, hi = -(-a // t), b // t
        if a % t:
            yield from cover(prefix + (a // t,), j + 1, a % t, t)
        if hi > lo:
            yield from cut(prefix, j, lo, hi)
        if b % t:
            yield from cover(prefix + (b // t,), j + 1, 0, b % t)

    yield from cover((), 0, start, stop)


def block_indices(shape: tuple[int, ...], prefix, j: int, lo: int, hi: int) -> tuple[list, tuple[int, ...]]:
    """Each key's grid index over a block, shaped to broadcast: the keys
    before ``axis`` as ints, the others as arrays with one axis each, plus a
    trailing axis of length 1 for the mapper's candidates. Also the block's shape."""
    if not shape:
        return [], (1,)
    dims = (hi - lo,) + tuple(shape[j + 1:])
    sub: list = list(prefix)
    for i in range(j, len(shape)):
        shp = [1] * (len(dims) + 1)
        shp[i - j] = dims[i - j]
        sub.append((np.arange(lo, hi) if i == j else np.arange(shape[i])).reshape(shp))
    return sub, dims


def _round9(x):
    from ..model import _round9

    return _round9(x)


BUDGET = 1 << 20
"""Point x candidate evaluations per vectorized call of the mapper (memory bound)."""


def choose_vectorized(ev: Evaluator, start: int, stop: int, values: dict) -> dict[str, np.ndarray]:
    """Per point of [start, stop), the mapper's choice of every free choice
    (see the module doc), by blocks of the grid: the keys of a block get
    one array axis each and the candidates one more, so numpy broadcasting
    evaluates every part of the model only over the keys it depends on
    (a term without the DRAM bandwidth is not recomputed per bandwidth).
    ``values``: ``point_values`` of the chunk (they size the blocks)."""
    n = stop - start
    picked = {c: np.full(n, -1.0) for c in ev.choices}
    if not ev.choices:
        return picked
    run = ev.run
    # candidates per point at most (sizes the blocks)
    count = 1
    for m in ev.models:
        k = 1
        for s, listed, ext, inner in m.choices:
            k *= len(listed) if listed is not None else len(_tiles(_extent(*ext, values), inner)) + 1
        count = max(count, k)
    at = 0
    for prefix, j, lo, hi in blocks(run.shape, start, stop, max(1, BUDGET // count)):
        sub, dims = block_indices(run.shape, prefix, j, lo, hi)
        values, model = _key_values(ev, sub)
        size = int(np.prod(dims))
        model = np.broadcast_to(model, dims + (1,))[..., 0]
        for b in np.unique(model):
            got = _choose_block(ev.models[b], values, dims, ev.run.objective)
            mask = (model == b).reshape(-1)
            for name, v in got.items():
                picked[name][at:at + size][mask] = v.reshape(-1)[mask]
        at += size
    return picked


def _extent(fn, syms, values: dict) -> np.ndarray:
    """An automatic tile's extent over the points (rounded to whole elements)."""
    return np.rint(np.asarray(fn(*[values[x] for x in syms]), dtype=float))


def _tiles(extent: np.ndarray, inner: int) -> np.ndarray:
    """The candidate tiles up to the largest extent: ``inner`` times powers of two."""
    top = float(np.max(extent))
    return np.array([inner * 2**k for k in range(41) if inner * 2**k <= top] or [inner], dtype=float)


def _choose_block(m: CompiledModel, values: dict, dims: tuple[int, ...], objective: str) -> dict[str, np.ndarray]:
    """The mapper's choices over one block (arrays of shape ``dims``); the
    values broadcast to ``dims`` plus a trailing candidate axis."""
    options, masks, extents = [], [], []
    for s, listed, ext, inner in m.choices:
        if listed is not None:
            options.append(np.asarray(listed, dtype=float))
            masks.append(None)
            extents.append(None)
            continue
        extent = _extent(*ext, values)
        if extent.ndim == 0:
            extent = extent.reshape((1,) * (len(dims) + 1))
        tiles = _tiles(extent, inner)
        ok = (extent >= tiles) & (np.fmod(extent, tiles) == 0)  # the tiles that divide the extent
        mask = np.concatenate([ok, ~ok.any(axis=-1, keepdims=True)], axis=-1)  # else the whole extent
        keep = mask.reshape(-1, mask.shape[-1]).any(axis=0)  # options valid somewhere in the block
        options.append(np.append(tiles, np.nan)[keep])
        masks.append(mask[..., keep])
        extents.append(extent)
    grids = np.meshgrid(*[np.arange(len(o)) for o in options], indexing="ij")
    index = [g.reshape(-1) for g in grids]  # candidate k -> option of each choice, in product order
    trial = dict(values)
    valid = True
    cand = []
    for c, (s, *_ ) in enumerate(m.choices):
        vals = options[c][index[c]]
        if extents[c] is not None:
            vals = np.where(np.isnan(vals), extents[c], vals)
            valid = valid & masks[c][..., index[c]]
        else:
            vals = vals.reshape((1,) * len(dims) + (-1,))
        trial[s] = vals
        cand.append(vals)
    out = m.decide(trial)
    shape = dims + (len(index[0]),)
    cycles = np.asarray(out["cycles"], float)
    energy = np.asarray(out["energy_pj"], float)
    over = np.asarray(out["buffer_overflow_bytes"], float)
    fits = np.broadcast_to(valid & (over <= 0.5), shape)
    primary = {"latency": cycles, "energy": energy, "edp": cycles * energy}[objective]
    secondary = energy if objective == "latency" else cycles
    p = np.where(fits, _round9(primary), np.inf)
    best = p == p.min(axis=-1, keepdims=True)
    s2 = np.where(best, secondary, np.inf)
    first = np.argmax(best & (s2 == s2.min(axis=-1, keepdims=True)), axis=-1)  # lexicographic, then the first
    o = np.broadcast_to(np.where(valid, over, np.inf), shape)
    least = np.argmax(o == o.min(axis=-1, keepdims=True), axis=-1)  # nothing fits: the least overflow
    k = np.where(fits.any(axis=-1), first, least)[..., None]
    return {s.name: np.take_along_axis(np.broadcast_to(v, shape), k, axis=-1)[..., 0]
            for (s, *_), v in zip(m.choices, cand)}


def evaluate_chunk(run: Run, k: int) -> pa.Table:
    """The stored rows of chunk ``k`` of ``run``."""
    ev = evaluator(run)
    start, stop = run.chunk_range(k)
    n = stop - start
    values, sub, model = point_values(ev, start, stop)
    picked = choose_vectorized(ev, start, stop, values)
    outs = {name: np.full(n, 0.0 if name.startswith("energy_") else np.nan) for name in ev.names}
    for b in np.unique(model):
        rows = np.arange(n) if len(ev.models) == 1 else np.flatnonzero(model == b)
        trial = {s: (v[rows] if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == n else v) for s, v in values.items()}
        for s, *_ in ev.models[b].choices:
            trial[s] = picked[s.name][rows]
        for name, v in ev.models[b].full(trial).items():
            outs[name][rows] = np.broadcast_to(np.asarray(v, dtype=float), (len(rows),))
    cols: dict[str, pa.Array] = {
        "run": pa.array(np.full(n, run.id, dtype=np.int32)),
        "point": pa.array(np.arange(start, stop, dtype=np.int64)),
    }
    for label, name in (("workload", run.workload_name), ("architecture", run.architecture_name), ("mapping", run.mapping_name)):
        cols[label] = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([name]))
    cols["binding"] = pa.DictionaryArray.from_arrays(pa.array(np.asarray(model, dtype=np.int32)), pa.array(run.bindings))
    for i, key in enumerate(run.keys):
        vals = key.values
        if key.name == "model":
            cols["model"] = pa.DictionaryArray.from_arrays(pa.array(sub[i].astype(np.int32)), pa.array([str(v) for v in vals]))
        elif all(isinstance(v, int) for v in vals):
            cols[key.column] = pa.array(np.asarray(vals, dtype=np.int64)[sub[i]])
        else:
            cols[key.column] = pa.array(np.asarray(vals, dtype=float)[sub[i]])
    for name in ev.choices:
        cols[choice_column(name)] = pa.array(picked[name].astype(np.int64))
    for name in ev.names:
        cols[name] = pa.array(outs[name])
    cols["feasible"] = pa.array(outs["buffer_overflow_bytes"] <= 0.5)
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
