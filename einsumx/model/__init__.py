"""Evaluating a cascade on an architecture under a mapping.

``build_model`` (model.build) gives sympy expressions; ``compile_model``
lambdifies all of them into one numpy function of every parameter, so any
workload parameter, hardware number, tile size or reuse choice can be an
array: a million design points are one call. ``evaluate`` is the one-point
front end: it picks the mapping's free choices (tile sizes, reuse) with the
mapper and returns a readable, auditable ``Evaluation``.

>>> ev = evaluate("workloads/attention-1pass.yaml", "fusemax",
...               "architectures/mappings/fusemax-attention.yaml")   # doctest: +SKIP
>>> round(ev.results["utilization"]["PE2D"], 3)                      # doctest: +SKIP
0.89
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from ..arch import Architecture, load_architecture
from ..errors import EinsumxError, Origin
from ..ir.cascade import Cascade
from ..ir.values import evaluate_point, param_symbol, parse_overrides
from ..lang.parser import parse_expression
from ..mapping.spec import MappingSpec, load_mapping
from .build import Model, build_model, candidates

OBJECTIVES = ("latency", "energy", "edp")


def _max(*args):
    return functools.reduce(np.maximum, args)


def _min(*args):
    return functools.reduce(np.minimum, args)


_MODULES = [{"Max": _max, "Min": _min, "ceiling": np.ceil, "floor": np.floor}, "numpy"]


@dataclass
class Compiled:
    symbols: list[sympy.Symbol]
    names: list[str]
    func: Any

    def __call__(self, values: dict[sympy.Symbol, Any]) -> dict[str, np.ndarray]:
        """Evaluate every output; values may be numpy arrays (broadcast)."""
        missing = [s for s in self.symbols if s not in values]
        if missing:
            raise KeyError(f"no value for {', '.join(map(str, missing))}")
        with np.errstate(divide="ignore", invalid="ignore"):
            res = self.func(*[values[s] for s in self.symbols])
        return dict(zip(self.names, res))


def compile_model(model: Model) -> Compiled:
    """One numpy function for all of ``model.outputs``."""
    return compile_outputs(model.outputs)


def compile_outputs(outputs: dict[str, sympy.Expr]) -> Compiled:
    """One numpy function (common subexpressions shared) for ``outputs``.
    The symbols get plain names of one width, so the generated code (the
    order of a sum's terms, hence its last bit) is the same in every
    process whatever it compiled before; lambdify would name them
    ``_Dummy_<counter>``, and names crossing a power of ten sort differently."""
    names = list(outputs)
    exprs = [sympy.sympify(outputs[n]) for n in names]
    symbols = sorted(set().union(*[e.free_symbols for e in exprs]), key=lambda s: s.name)
    plain = [sympy.Symbol(f"v{k:05d}", **s.assumptions0) for k, s in enumerate(symbols)]
    exprs = [e.xreplace(dict(zip(symbols, plain))) for e in exprs]
    return Compiled(symbols, names, sympy.lambdify(plain, exprs, modules=_MODULES, cse=True))


def split_overrides(items: list[str] | None, arch: Architecture):
    """``--set`` items: workload parameters (parsed expressions) and
    hardware numbers (``GLB.capacity_bytes=8388608``, by symbol)."""
    work, hw = [], {}
    for item in items or []:
        name, _, value = item.partition("=")
        name = name.strip()
        if "." in name or name in ("clock_hz", "word_bits"):
            sym = arch.symbol(name)
            try:
                hw[sym] = float(Fraction(value.strip()))
            except (ValueError, ZeroDivisionError):
                raise EinsumxError(f"--set {name}: '{value.strip()}' is not a number", Origin("--set", 1, len(name) + 2, item)) from None
        else:
            work.append(item)
    return parse_overrides(work), hw


@dataclass
class Evaluation:
    model: Model
    compiled: Compiled
    values: dict[sympy.Symbol, float]
    """Every parameter, including the mapper's choices."""
    raw: dict[str, float]
    results: dict[str, Any]
    candidates: int
    feasible: int


def default_values(cascade: Cascade, arch: Architecture, mapping: MappingSpec, overrides=None, hw=None, model=None):
    """Workload parameters (defaults, the mapping's ``set``, a model
    preset, then ``--set``) and hardware numbers, by symbol."""
    from ..presets import find_model, model_overrides

    values: dict = {}
    for name, (text, origin) in mapping.set.items():
        if name not in cascade.params and name not in cascade.ranks:
            raise EinsumxError(f"set: workload {cascade.name} has no parameter '{name}'", origin)
        values[name] = (parse_expression(text, text.origin), str(text), text.origin)
    if model:
        values.update(model_overrides(find_model(model)[0], cascade.params))
    values.update(overrides or {})
    point = evaluate_point(cascade, values)
    out = {param_symbol(n): float(v) for n, v in point.params.items()}
    out.update({r.symbol: float(point.ranks[n]) for n, r in cascade.ranks.items()})
    out.update(arch.values)
    out.update(hw or {})
    return out, point


def choose(model: Model, compiled: Compiled, values: dict, objective: str = "latency"):
    """The mapper: every combination of the free choices (tile sizes, reuse
    of each input) evaluated in one vectorized call; the best that fits the
    buffer by ``objective``. Returns (choice values, #candidates, #feasible)."""
    if objective not in OBJECTIVES:
        raise EinsumxError(f"unknown objective '{objective}' (one of: {', '.join(OBJECTIVES)})", Origin("--objective"))
    options = candidates(model, values)
    syms = list(options)
    grid = list(itertools.product(*[options[s] for s in syms])) or [()]
    trial = dict(values)
    for k, s in enumerate(syms):
        trial[s] = np.array([g[k] for g in grid], dtype=float)
    out = compiled(trial)
    n = len(grid)
    fits = np.broadcast_to(out["buffer_overflow_bytes"], (n,)) <= 0.5
    cycles = np.broadcast_to(out["cycles"], (n,)).astype(float)
    energy = np.broadcast_to(out["energy_pj"], (n,)).astype(float)
    if not fits.any():
        best = int(np.argmin(np.broadcast_to(out["buffer_overflow_bytes"], (n,))))
        return dict(zip(syms, grid[best])), n, 0
    # lexicographic: the objective (to 9 significant digits), then the other
    primary = {"latency": cycles, "energy": energy, "edp": cycles * energy}[objective]
    secondary = energy if objective == "latency" else cycles
    primary = np.where(fits, _round9(primary), np.inf)
    order = np.lexsort((np.where(fits, secondary, np.inf), primary))
    best = int(order[0])
    return dict(zip(syms, grid[best])), n, int(fits.sum())


def _round9(x: np.ndarray) -> np.ndarray:
    """``x`` to 9 significant digits, so float noise does not decide ties."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 10.0 ** (np.floor(np.log10(np.abs(np.where(x == 0, 1, x)))) - 8)
    return np.round(x / scale) * scale


def evaluate(workload, arch, mapping, overrides: list[str] | None = None, model_name: str | None = None,
             objective: str = "latency") -> Evaluation:
    """Evaluate ``workload`` (a Cascade or a path) on ``arch`` (an
    Architecture, a name or a path) under ``mapping`` (a MappingSpec, a
    path, or None for one fused phase with automatic binding)."""
    from ..ir.build import load_workload

    cascade = workload if isinstance(workload, Cascade) else load_workload(workload)
    arch = arch if isinstance(arch, Architecture) else load_architecture(arch)
    mapping = _mapping(mapping)
    if mapping.workload and mapping.workload != cascade.name:
        raise EinsumxError(f"mapping '{mapping.name}' is written for workload '{mapping.workload}', not '{cascade.name}'", mapping.origin)
    work, hw = split_overrides(overrides, arch)
    values, point = default_values(cascade, arch, mapping, work, hw, model_name)
    model = build_model(cascade, arch, mapping, values)
    compiled = compile_model(model)
    picked, n, feasible = choose(model, compiled, values, objective)
    values.update(picked)
    raw = {k: float(v) for k, v in compiled(values).items()}
    if raw["buffer_overflow_bytes"] > 0.5:
        raise EinsumxError(_does_not_fit(model, values, raw), mapping.origin)
    return Evaluation(model, compiled, values, raw, _results(model, values, raw), n, feasible)


def _mapping(mapping) -> MappingSpec:
    if isinstance(mapping, MappingSpec):
        return mapping
    if mapping is None:
        from ..mapping.spec import parse_mapping

        return parse_mapping("name: auto\neinsums: all\n", "<automatic mapping>")
    return load_mapping(mapping)


def _fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def _does_not_fit(model: Model, values, raw) -> str:
    """'BK+BV+Q tiles need 17.2 MiB > 16 MiB global buffer' for the worst phase."""
    cap = _num(model.arch.buffer.capacity_bytes, model, values)
    worst = max(model.phases, key=lambda p: _num(p.fixed_bytes, model, values))
    held = {k: _num(v, model, values) for k, v in worst.occupancy.items()}
    names = [k for k, v in sorted(held.items(), key=lambda kv: -kv[1]) if v > 0]
    need = _num(worst.fixed_bytes, model, values)
    return (f"mapping '{model.mapping.name}' does not fit {model.arch.name}: phase '{worst.spec.name}': "
            f"{'+'.join(names)} tiles need {_fmt_bytes(need)} > {_fmt_bytes(cap)} global buffer")


def _num(expr, model: Model, values) -> float:
    from .build import overridden_ranks, rank_sizes

    sizes = rank_sizes(model.cascade, overridden_ranks(model.cascade, values))
    e = sympy.sympify(expr).xreplace(sizes).xreplace(values)
    return float(e)


def _results(model: Model, values, raw) -> dict[str, Any]:
    arch = model.arch
    energy_actions = {k.split(".", 1)[1]: v for k, v in raw.items() if k.startswith("energy_pj.")}
    components: dict[str, float] = {}
    for k, v in energy_actions.items():
        comp = k.split(".")[0]
        components[comp] = components.get(comp, 0.0) + v
    res: dict[str, Any] = {
        "workload": model.cascade.name,
        "architecture": arch.name,
        "mapping": model.mapping.name,
        "latency_s": raw["latency_s"],
        "cycles": raw["cycles"],
        "compute_cycles": raw["compute_cycles"],
        "memory_cycles": raw["memory_cycles"],
        "energy_pj": raw["energy_pj"],
        "energy_pj_by_component": components,
        "energy_pj_by_action": energy_actions,
        "utilization": {a: raw[f"utilization.{a}"] for a in arch.arrays},
        "dram_bytes": raw["dram_bytes"],
        "buffer_required_bytes": {"GLB": raw["buffer_required_bytes.GLB"],
                                  **{f"{a}.RF": raw[f"rf_words.{a}"] * _num(arch.word_bits, model, values) / 8 for a in arch.arrays}},
        "spill_fraction": raw["spill_fraction"],
        "area_mm2": raw["area_mm2"],
        "area_mm2_by_component": {k.split(".", 1)[1]: v for k, v in raw.items() if k.startswith("area_mm2.")},
    }
    choices = {}
    for s in model.choices:
        v = values[s]
        label = s.name
        for p in model.phases:
            for t, (sym, labels) in p.reuse.items():
                if sym == s:
                    v = f"{t}: {labels[int(v)]}"
        choices[label] = int(v) if isinstance(v, float) else v
    res["choices"] = choices
    res["phases"] = []
    for p in model.phases:
        label = lambda i: model.cascade.einsums[i].label  # noqa: E731
        res["phases"].append({
            "name": p.spec.name,
            "schedule": p.schedule.describe(label),
            "steps": _num(p.steps, model, values),
            "steps_in_flight": p.schedule.depth,
            "compute_cycles": _num(p.compute_cycles, model, values),
            "memory_cycles": _num(p.memory_cycles, model, values),
            "latency_cycles": _num(p.latency_cycles, model, values),
            "dram": [{"tensor": t.tensor, "kind": t.kind, "bytes": _num(t.bytes, model, values), "why": t.why} for t in p.traffic],
            "buffer_bytes": {k: _num(v, model, values) for k, v in p.occupancy.items()},
            "levels": p.levels,
            "views": p.views,
        })
    total = raw["cycles"]
    res["einsums"] = []
    for p in model.phases:
        for x in p.costs:
            busy = _num(x.cycles, model, values)
            res["einsums"].append({
                "einsum": x.label,
                "phase": p.spec.name,
                "array": x.array,
                "spatial": x.spatial,
                "points": _num(x.points, model, values),
                "cycles_per_point": _num(x.cycles_per_point, model, values),
                "engaged_pes": _num(x.engaged_pes, model, values),
                "busy_cycles": busy,
                "busy_fraction": busy / total if total else 0.0,
                "energy_pj": _num(x.energy_pj, model, values),
                "accesses": [{"tensor": t, "level": lv, "kind": k, "words": _num(w, model, values)} for t, lv, k, w in x.accesses],
            })
    return res
