"""Timeloop v4 / Accelergy interoperation.

- ``read``: their YAML (architecture, problem, mapping, ERT/ART) into
  einsumx's loop-nest objects;
- ``write``: those objects back into Timeloop's YAML, and a Timeloop
  problem into an einsumx workload;
- ``stats``: Timeloop's stats text, parsed and printed;
- ``cascade``: a cascade's Einsums on an einsumx template as Timeloop
  problems, hierarchies and loop nests (``einsumx export-timeloop``);
- ``run``: the real ``timeloop-model``, when it is installed.

``import_timeloop`` is the whole import: the files are read, the problem
becomes an einsumx workload (parsed by the einsumx language like any other),
and that workload's Einsum is evaluated by the loop-nest model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ...ir.build import parse_workload
from ...ir.cascade import Cascade
from ...ir.values import evaluate_point
from ...model.loopnest import NestStats, Problem, evaluate, problem_from_einsum
from .read import TimeloopSpec, read_timeloop
from .write import workload_yaml, write_timeloop

__all__ = ["Imported", "TimeloopSpec", "import_timeloop", "read_timeloop", "write_timeloop", "workload_yaml"]


@dataclass
class Imported:
    """Timeloop files as einsumx objects, and their evaluation."""

    spec: TimeloopSpec
    workload_text: str
    cascade: Cascade
    problem: Problem
    stats: NestStats


def import_timeloop(paths) -> Imported:
    """Read Timeloop files, build the einsumx workload, evaluate it.

    >>> imp = import_timeloop(["arch.yaml", "prob.yaml", "map.yaml", "ERT.yaml", "ART.yaml"])  # doctest: +SKIP
    >>> imp.stats.cycles                                                                      # doctest: +SKIP
    48
    """
    spec = read_timeloop(paths)
    text = workload_yaml(spec.problem, ", ".join(Path(f).name for f in spec.files))
    cascade = parse_workload(text, f"{spec.problem.name} (imported)")
    derived = problem_from_einsum(cascade, cascade.einsums[0], evaluate_point(cascade))
    by_name = {ds.name: ds for ds in derived.data_spaces}
    problem = replace(derived, name=spec.problem.name, coefficients=spec.problem.coefficients,
                      data_spaces=tuple(replace(by_name[ds.name], dim_names=by_name[ds.name].dim_names)
                                        for ds in spec.problem.data_spaces))
    assert dict(problem.dims) == dict(spec.problem.dims), (problem.dims, spec.problem.dims)
    assert [ds.projection for ds in problem.data_spaces] == [ds.projection for ds in spec.problem.data_spaces]
    return Imported(spec, text, cascade, problem, evaluate(problem, spec.hierarchy, spec.nest))
