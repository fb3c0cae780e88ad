"""Mapping-independent static analysis of a cascade.

``analyze`` evaluates, at one point of the parameters: op counts per Einsum
and per cost class, the pass lower bound per rank with its reasons, the live
footprint those passes imply and the traffic of spilling instead, and the
compulsory traffic. Every number keeps its symbolic form for reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy

from ..ir import operators
from ..ir.graph import check_ranges
from ..ir.cascade import Cascade, Einsum
from ..ir.values import Point, evaluate_point
from .counts import density_factor, iteration_points, op_counts
from .footprint import Footprint, compulsory_traffic, live_footprint
from .passes import PassInfo, pass_analysis


@dataclass
class EinsumResult:
    einsum: Einsum
    points: sympy.Expr
    points_value: int
    ops: dict[str, sympy.Expr]
    ops_value: dict[str, int]
    passes: dict[str, int]
    """Pass number over each rank this Einsum traverses in full."""
    density: sympy.Expr = sympy.Integer(1)
    """Fraction of points doing work when zero operands are skipped."""
    ops_effective_value: dict[str, int] = field(default_factory=dict)


@dataclass
class Analysis:
    cascade: Cascade
    point: Point
    einsums: list[EinsumResult]
    pass_info: dict[str, PassInfo]
    footprints: dict[str, Footprint]
    compulsory: sympy.Expr
    compulsory_terms: list[tuple[str, str, sympy.Expr]]
    model: str | None = None
    ops: dict[str, int] = field(default_factory=dict)
    ops_effective: dict[str, int] = field(default_factory=dict)
    """``ops`` with zero operands skipped at the declared tensor densities."""

    @property
    def passes(self) -> dict[str, int]:
        return {r: p.passes for r, p in self.pass_info.items()}

    overrides: dict = field(default_factory=dict)
    """The parameter and rank values (model preset, then ``--set``) analysed."""

    def value(self, expr: sympy.Expr) -> int:
        """A count at this point, rounded up (see ``Point.value``)."""
        return self.point.value(expr)

    def point_at(self, **changes: int) -> Point:
        """This analysis's point with some values changed, checked like the
        original (``an.point_at(seq=4096)``); symbolic results evaluate at it
        with ``point.value(expr)`` without re-running the analysis."""
        from ..ir.values import parse_overrides

        values = {**self.overrides, **parse_overrides([f"{k}={v}" for k, v in changes.items()])}
        point = evaluate_point(self.cascade, values)
        check_ranges(self.cascade, point)
        return point

    @property
    def compulsory_traffic_bytes(self) -> int:
        return self.value(self.compulsory)

    @property
    def live_footprint_bytes(self) -> dict[str, int]:
        return {r: self.value(f.bytes) for r, f in self.footprints.items()}

    @property
    def spill_traffic_bytes(self) -> dict[str, int]:
        return {r: self.value(f.spill_bytes) for r, f in self.footprints.items()}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``einsumx analyze --json``)."""
        c = self.cascade
        return {
            "workload": c.name,
            "file": c.file,
            "model": self.model,
            "params": {k: _num(v) for k, v in self.point.params.items()},
            "ranks": dict(self.point.ranks),
            "passes": self.passes,
            "pass_reasons": {r: p.reasons for r, p in self.pass_info.items() if p.reasons},
            "ops": self.ops,
            "ops_effective": self.ops_effective,
            "compulsory_traffic_bytes": self.compulsory_traffic_bytes,
            "compulsory_traffic_terms": [
                {"tensor": t, "access": kind, "bytes": self.value(b), "formula": str(b)} for t, kind, b in self.compulsory_terms
            ],
            "live_footprint_bytes": self.live_footprint_bytes,
            "spill_traffic_bytes": self.spill_traffic_bytes,
            "live_tensors": {
                r: [
                    {"tensor": lt.tensor, "boundaries": list(lt.boundaries), "fiber_ranks": list(lt.fiber_ranks),
                     "fiber_bytes": self.value(lt.fiber_bytes), "spill_bytes": self.value(lt.spill_bytes),
                     "spill_terms": lt.spill_terms}
                    for lt in f.live
                ]
                for r, f in self.footprints.items() if f.live
            },
            "einsums": [
                {
                    "number": r.einsum.number,
                    "label": r.einsum.label,
                    "line": r.einsum.origin.line,
                    "text": r.einsum.text,
                    "iteration_space": list(r.einsum.iter_vars),
                    "reduce": r.einsum.reduce_op,
                    "filters": [f.text for f in r.einsum.filters],
                    "points": r.points_value,
                    "points_formula": str(r.points),
                    "ops": r.ops_value,
                    "ops_effective": r.ops_effective_value,
                    "density": float(r.density),
                    "ops_formula": {k: str(v) for k, v in r.ops.items()},
                    "passes": r.passes,
                }
                for r in self.einsums
            ],
            "warnings": [str(w) for w in c.warnings],
        }


def _num(v):
    return int(v) if v.denominator == 1 else float(v)


def analyze(cascade: Cascade, overrides=None, model: str | None = None) -> Analysis:
    """Analyse ``cascade`` at its defaults, a model preset and/or overrides.

    >>> from einsumx import load_workload
    >>> a = analyze(load_workload("workloads/attention-3pass.yaml"))  # doctest: +SKIP
    >>> a.passes["M"], a.ops["exp"]                                     # doctest: +SKIP
    (3, 805306368)
    """
    from ..presets import find_model, model_overrides

    values = {}
    if model:
        model = find_model(model)[0]
        values.update(model_overrides(model, cascade.params))
    values.update(overrides or {})
    point = evaluate_point(cascade, values)
    check_ranges(cascade, point)
    info = pass_analysis(cascade)
    results = []
    totals: dict[str, int] = {}
    effective: dict[str, int] = {}
    an = Analysis(cascade, point, results, info, {}, sympy.Integer(0), [], model, overrides=values)
    for i, e in enumerate(cascade.einsums):
        points = iteration_points(cascade, e)
        ops = op_counts(cascade, e)
        ops_value = {k: an.value(v) for k, v in ops.items()}
        density = density_factor(cascade, e)
        ops_effective = {k: an.value(v * density) for k, v in ops.items()}
        for k, v in ops_value.items():
            totals[k] = totals.get(k, 0) + v
            effective[k] = effective.get(k, 0) + ops_effective[k]
        passes = {r: p.einsum_pass[i] for r, p in info.items() if i in p.einsum_pass}
        results.append(EinsumResult(e, points, an.value(points), ops, ops_value, passes, density, ops_effective))
    an.ops = {k: totals[k] for k in operators.COST_CLASSES if k in totals}
    an.ops_effective = {k: effective[k] for k in operators.COST_CLASSES if k in effective}
    an.footprints = {r: live_footprint(cascade, p) for r, p in info.items()}
    an.compulsory, an.compulsory_terms = compulsory_traffic(cascade)
    return an
