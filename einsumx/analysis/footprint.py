"""What extra passes cost: the live footprint that avoids them, or the
traffic that spilling instead adds; and the compulsory traffic.

At the boundary after pass k, a tensor along the rank is *live* if it was
touched by pass k (or earlier) and is read again after the boundary. Keeping
those fibers on chip is the live-footprint lower bound (per fiber: all other
indices fixed, e.g. one whole M fiber of QK per (b, h, p) for 3-pass
attention, which grows with sequence length). Not keeping them costs, per
live tensor, one write (if the cascade computes it) plus one read for each
later phase that reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..ir.cascade import Cascade
from .counts import box, bytes_per_element, extents, tensor_bytes
from .passes import PassInfo


@dataclass
class LiveTensor:
    tensor: str
    boundaries: tuple[int, ...]
    """Pass boundaries (k: between pass k and k+1) it is live across."""
    fiber_ranks: tuple[str, ...]
    fiber_bytes: sympy.Expr
    """Bytes of one fiber along the rank (other indices fixed)."""
    spill_bytes: sympy.Expr
    """Traffic if it is spilled to memory instead of kept."""
    spill_terms: str
    """How ``spill_bytes`` is made up, in words."""


@dataclass
class Footprint:
    rank: str
    live: list[LiveTensor] = field(default_factory=list)
    bytes: sympy.Expr = sympy.Integer(0)
    """Live-footprint lower bound per fiber: the worst boundary."""
    spill_bytes: sympy.Expr = sympy.Integer(0)


def live_footprint(cascade: Cascade, info: PassInfo) -> Footprint:
    """The footprint and spill cost implied by ``info``'s passes."""
    fp = Footprint(info.rank)
    if info.passes < 2:
        return fp
    family = set(cascade.family(info.rank))
    per_boundary: dict[int, sympy.Expr] = {}
    for name, tensor in cascade.tensors.items():
        positions = [k for k, r in enumerate(tensor.ranks) if r in family]
        if not positions:
            continue
        writers = cascade.writers(name)
        produced = [info.output_time[w] for w in writers]
        readers = sorted({info.einsum_time[i] for i, x in enumerate(cascade.einsums)
                          for a in x.inputs if a.tensor == name})
        if not readers:
            continue
        if writers and all(_inputs_only(cascade, w) for w in writers):
            produced = [readers[0]]  # a re-layout of inputs runs as late as its first reader
        first = min(produced + readers)
        boundaries = tuple(k for k in range(1, info.passes) if first <= 2 * k - 1 and readers[-1] >= 2 * k)
        if not boundaries:
            continue
        fiber_elems = _fiber_elements(cascade, tensor, positions)
        fiber_bytes = fiber_elems * bytes_per_element(tensor)
        whole = tensor_bytes(cascade, tensor)
        start_phase = min(t // 2 for t in produced) if writers else min(t // 2 for t in readers)
        later = len({t // 2 for t in readers if t // 2 > start_phase})
        if writers:
            spill = whole * (1 + later)
            terms = f"write {name} once + read it {later}x more"
        else:
            spill = whole * later
            terms = f"read input {name} {later}x more"
        fp.live.append(LiveTensor(name, boundaries, tuple(tensor.ranks[k] for k in positions), fiber_bytes, spill, terms))
        for k in boundaries:
            per_boundary[k] = per_boundary.get(k, sympy.Integer(0)) + fiber_bytes
        fp.spill_bytes += spill
    if per_boundary:
        fp.bytes = sympy.Max(*per_boundary.values()) if len(per_boundary) > 1 else next(iter(per_boundary.values()))
    return fp


def _fiber_elements(cascade: Cascade, tensor, positions: list[int]) -> sympy.Expr:
    """Elements of the longest fiber of ``tensor`` over ``positions``: the
    extents, cut by its writer's one-index bounds (``where m < 100``) and
    narrowed to the band width where the writer keeps a band between an
    index of the fiber and one outside it (a sliding window)."""
    ext = list(extents(cascade, tensor))
    writers = cascade.writers(tensor.name)
    if len(writers) == 1:
        e = cascade.einsums[writers[0]]
        index_pos = {ix.var: k for k, ix in enumerate(e.output.indices) if ix.kind == "var"}
        for f in e.filters:
            for v, lo, hi in ((f.u, f.u_lo, f.u_hi), (f.v, f.v_lo, f.v_hi)):
                k = index_pos.get(v)
                if k in positions and (lo is not None or hi is not None):
                    ext[k] = sympy.Min(ext[k], box(cascade.rank_of_var(v).symbol, lo, hi)[1])
            if f.v is None or f.lo is None or f.hi is None:
                continue
            for inside, outside in ((f.u, f.v), (f.v, f.u)):
                k = index_pos.get(inside)
                if k in positions and index_pos.get(outside) not in positions:
                    ext[k] = sympy.Min(ext[k], f.hi - f.lo + 1)
    result = sympy.Integer(1)
    for k in positions:
        result *= ext[k]
    return result


def _inputs_only(cascade: Cascade, w: int) -> bool:
    """Whether an Einsum reads only the cascade's inputs (so it can run
    whenever its output is first needed)."""
    return all(not cascade.writers(a.tensor) for a in cascade.einsums[w].inputs)


def compulsory_traffic(cascade: Cascade) -> tuple[sympy.Expr, list[tuple[str, str, sympy.Expr]]]:
    """Bytes that any mapping moves: every true input read once and every
    output written once; with the terms (tensor, 'read'|'write', bytes)."""
    terms = [(t, "read", tensor_bytes(cascade, cascade.tensors[t])) for t in cascade.inputs]
    terms += [(t, "write", tensor_bytes(cascade, cascade.tensors[t])) for t in cascade.outputs]
    total = sum((b for _, _, b in terms), sympy.Integer(0))
    return total, terms
