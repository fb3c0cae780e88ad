"""A cascade on an einsumx template, one Timeloop problem per Einsum.

For each Einsum, ``export_cascade`` takes what the cascade-level evaluation
decided (the array it is bound to, the index on each array axis, the phase's
loops and the mapper's tile sizes) and writes it as a loop nest over
Timeloop's storage levels:

- ``DRAM`` (the template's DRAM: vectors of ``access_bits``) runs the
  phase's loops (``b``, ``{p: rows}``) over the Einsum's ranks;
- ``GlobalBuffer`` (vectors of one row) runs every other factor,
  output ranks outside reduced ones, and fans out to the PEs: the index on
  each axis takes the largest factor of its rank that fits the axis; it
  bypasses the inputs the mapper chose to stream;
- ``<array>_RF`` (one per PE) keeps the output: partial sums stay in the PE;
- ``<array>_PE`` computes; its energy per compute is the Einsum's
  operations per point on that array (an ``exp`` on FuseMax's 2D array is
  6 MACs and an add).

``docs/timeloop.md`` lists what this leaves out (filters, multi-cycle
operations, ragged tiles) and how the numbers compare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy

from ...analysis.counts import ops_per_point
from ...errors import EinsumxError
from ...model.build import is_view
from ...model.loopnest import (ComputeUnit, Hierarchy, LevelMapping, LoopNest, Problem, StorageLevel,
                               problem_from_einsum)


@dataclass
class ExportedEinsum:
    label: str
    problem: Problem
    hierarchy: Hierarchy
    nest: LoopNest
    notes: list[str] = field(default_factory=list)


class _At:
    """Rank sizes and integer expressions at an evaluation's values."""

    def __init__(self, cascade, values):
        self.values = values
        self.ranks = {name: self.int(r.symbol) for name, r in cascade.ranks.items()}

    def int(self, expr) -> int:
        value = sympy.sympify(expr).xreplace(self.values)
        return int(round(float(value)))


def _fit(n: int, limit: int) -> int:
    """The largest divisor of ``n`` that is at most ``limit``."""
    return max(d for d in range(1, min(n, max(limit, 1)) + 1) if n % d == 0)


def _at_least(n: int, want: int) -> int:
    """The smallest divisor of ``n`` that is at least ``want``."""
    return min(d for d in range(1, n + 1) if n % d == 0 and d >= min(want, n))


def _source(cascade, tensor: str) -> str:
    """The tensor a view re-lays out (``BK`` -> ``K``): the mapper's reuse
    choices are made for it."""
    for w in cascade.einsums:
        if w.output.tensor == tensor and w.inputs and is_view(cascade, w):
            return w.inputs[0].tensor
    return tensor


def hierarchy_for(arch, array: str, energy_per_compute: float, compute_cls: str) -> Hierarchy:
    """The template as Timeloop levels: DRAM, global buffer, the array's
    register files, its PEs."""
    v = arch.value
    word = int(v(arch.word_bits))
    a = arch.arrays[array]
    pes = int(v(a.pes))
    axes = [int(v(s)) for s in a.axes.values()]
    mesh_x = axes[-1]
    dram = StorageLevel("DRAM", "DRAM", 1, 1, None, max(1, int(v(arch.dram.access_bits)) // word), word,
                        {"read": v(arch.dram.read_pj), "write": v(arch.dram.write_pj),
                         "update": v(arch.dram.write_pj), "leak": 0.0})
    row = int(v(arch.buffer.row_bits))
    glb_area = v(arch.buffer.capacity_bytes) / 2**20 * v(arch.buffer.area_mm2_per_mib) * 1e6
    glb = StorageLevel("GlobalBuffer", "SRAM", 1, 1, int(v(arch.buffer.capacity_bytes)) * 8 // row,
                       max(1, row // word), word,
                       {"read": v(arch.buffer.read_pj), "write": v(arch.buffer.write_pj),
                        "update": v(arch.buffer.write_pj), "leak": 0.0}, glb_area)
    rf = StorageLevel(f"{array}_RF", "regfile", pes, mesh_x, int(v(a.rf_words)), 1, word,
                      {"read": v(a.rf_read_pj), "write": v(a.rf_write_pj), "update": v(a.rf_write_pj), "leak": 0.0},
                      v(a.rf_words * a.rf_area_um2_per_word))
    units = sum((op.area_um2 for op in a.operators.values() if op.via is None), sympy.Integer(0))
    pe = ComputeUnit(f"{array}_PE", compute_cls, pes, mesh_x, energy_per_compute, v(units), word)
    return Hierarchy(arch.name, (dram, glb, rf), pe, 1.0 / v(arch.clock_hz), "")


def export_cascade(ev) -> list[ExportedEinsum]:
    """Every Einsum of an ``Evaluation`` as a Timeloop problem, hierarchy
    and loop nest."""
    model = ev.model
    cascade, arch = model.cascade, model.arch
    at = _At(cascade, ev.values)
    phases = {p.name: p for p in model.mapping.phases}
    choices = ev.results.get("choices", {})
    out = []
    for row in ev.results["einsums"]:
        e = next(x for x in cascade.einsums if x.label == row["einsum"])
        problem = problem_from_einsum(cascade, e, at)
        a = arch.arrays[row["array"]]
        notes = []
        ops = ops_per_point(e, frozenset(c for c, op in a.operators.items() if op.absorbs_add))
        energy = sum(n * arch.value(a.energy_pj(cls)) for cls, n in ops.items())
        cycles = sum(n * arch.value(a.cycles(cls)) for cls, n in ops.items())
        if cycles != 1:
            notes.append(f"one point of {e.label} takes {cycles:g} cycles on {row['array']}; "
                         "Timeloop counts one cycle per compute")
        if e.filters:
            notes.append(f"{e.label} has a filter ({', '.join(f.text for f in e.filters)}); the Timeloop "
                         "problem is the dense box around it")
        cls = "intmac" if dict(ops) == {"mac": 1} else "compute"
        hierarchy = hierarchy_for(arch, row["array"], energy, cls)
        var_rank = {r.var: name for name, r in cascade.ranks.items()}
        remaining = dict(problem.dims)

        # DRAM: the phase's loops over this Einsum's ranks
        dram_loops = []
        phase = phases.get(row["phase"])
        for loop in phase.loops if phase else []:
            rank = var_rank.get(str(loop.var))
            if rank not in remaining:
                continue
            tile = loop.tile
            if isinstance(tile, str):
                key = f"{row['phase']}.{tile}"
                if key not in choices:
                    raise EinsumxError(f"cannot tell the tile '{tile}' of loop {loop.var} in {row['phase']}")
                tile = int(choices[key])
            size = remaining[rank]
            factor = _at_least(size, math.ceil(size / max(int(tile), 1)))
            if factor * int(tile) != size and factor > 1:
                notes.append(f"{rank}: {size} is not a multiple of the tile {tile}; DRAM runs {factor} tiles")
            remaining[rank] = size // factor
            if any(d == rank for d, _ in dram_loops):  # Timeloop: one factor per dimension per level
                dram_loops = [(d, f * factor if d == rank else f) for d, f in dram_loops]
                notes.append(f"the phase has two loops over {rank}: one DRAM loop of their product")
            else:
                dram_loops.append((rank, factor))

        # the PEs: each axis takes the largest factor of its rank that fits
        spatial = []
        names = list(a.axes)
        for axis in reversed(names):  # X (the last axis) first
            var = row["spatial"].get(axis)
            rank = var_rank.get(var) if var else None
            if rank not in remaining:
                continue
            f = _fit(remaining[rank], at.int(a.axes[axis]))
            if f < min(remaining[rank], at.int(a.axes[axis])):
                notes.append(f"{rank} ({remaining[rank]}) on {axis} ({at.int(a.axes[axis])}): {f} PEs engaged")
            spatial.append((rank, f, "X" if axis == names[-1] else "Y"))
            remaining[rank] //= f
        out_dims = [var_rank[v] for v in e.out_vars if var_rank.get(v) in remaining]
        order = out_dims + [d for d in problem.dims if d not in out_dims]
        glb_loops = [(d, remaining[d]) for d in order]
        spatial_outer_first = list(reversed(spatial))
        output = next(ds.name for ds in problem.data_spaces if ds.read_write)
        streamed = {ds.name for acc, ds in zip(e.inputs, problem.data_spaces)
                    if "streamed" in str(choices.get(f"{row['phase']}.reuse.{_source(cascade, acc.tensor)}", ""))}
        glb_keep = frozenset(ds.name for ds in problem.data_spaces if ds.name not in streamed) if streamed else None
        if streamed:
            notes.append(f"{', '.join(sorted(streamed))} streamed (the mapper's choice): the global buffer bypasses it")
        nest = LoopNest((
            LevelMapping("DRAM", tuple(dram_loops)),
            LevelMapping("GlobalBuffer", tuple(glb_loops), tuple(spatial_outer_first), glb_keep),
            LevelMapping(f"{row['array']}_RF", (), (), frozenset({output})),
        ))
        out.append(ExportedEinsum(e.label, problem, hierarchy, nest, notes))
    return out
