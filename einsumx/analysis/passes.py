"""The pass-count lower bound of a cascade over each rank (FuseMax, Sec. III).

A *pass* over a rank is a traversal of every element of its fibers. If an
Einsum can only start once some value is complete, and that value needs a
whole traversal of the rank (a full reduction over it), the Einsum's
traversal is another pass; a chain of N such read-after-reduction
dependencies makes N + 1 passes, whatever the mapping.

We order events on one time line per rank: time 2k is the boundary after
pass k is complete (time 0: before any pass), time 2k - 1 is *during* pass k.
A value streamed during pass k (time 2k - 1) can be consumed element by
element in the same pass; consuming all of it (a reduction over the rank, or
its final element) has to wait for the boundary 2k. An Einsum that traverses
the whole rank runs in pass ``j = floor(R / 2) + 1`` where ``R`` is the latest
of its inputs' times. Einsums over a split rank's chunks only (``m1`` without
``m0``) traverse a coarser fiber: they take the time of their inputs and are
not passes over the rank themselves (their own count is reported for M1).
A split rank is traversed major part first (chunk by chunk), so reducing a
minor part (``m0``) while keeping the major one (``m1``) still streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.cascade import Cascade, Edge
from ..lang import ast


@dataclass
class PassInfo:
    """The pass analysis of one rank."""

    rank: str
    passes: int
    """Lower bound on passes over the rank (0: no Einsum traverses all of it)."""
    einsum_pass: dict[int, int] = field(default_factory=dict)
    """Pass of each Einsum that traverses the whole rank."""
    einsum_time: dict[int, int] = field(default_factory=dict)
    """When each Einsum consumes its inputs (odd: during a pass, even: at a boundary)."""
    output_time: dict[int, int] = field(default_factory=dict)
    """When each Einsum's output is available."""
    reasons: list[str] = field(default_factory=list)
    """For each pass beyond the first: the chain of dependencies that forces it."""


def pass_analysis(cascade: Cascade) -> dict[str, PassInfo]:
    """Pass lower bound and its reasons for every rank of the cascade."""
    incoming: dict[int, list[Edge]] = {i: [] for i in range(len(cascade.einsums))}
    for edge in cascade.edges:
        incoming[edge.consumer].append(edge)
    return {name: _one_rank(cascade, name, incoming) for name in cascade.ranks}


def _covers(cascade: Cascade, rank: str, vars_: set[str]) -> bool:
    r = cascade.ranks[rank]
    if r.var in vars_:
        return True
    return bool(r.parts) and all(_covers(cascade, p, vars_) for p in r.parts)


def _one_rank(cascade: Cascade, rank: str, incoming: dict[int, list[Edge]]) -> PassInfo:
    family = cascade.family(rank)
    family_vars = [cascade.ranks[r].var for r in family]
    order_of = {}
    for r in family:  # major-to-minor position of each index of the family
        leaves = cascade.leaves(r)
        order_of[cascade.ranks[r].var] = [cascade.ranks[x].var for x in cascade.leaves(rank)].index(
            cascade.ranks[leaves[0]].var
        )
    info = PassInfo(rank, 0)
    crit: dict[int, Edge | None] = {}
    closes: dict[int, bool] = {}
    whole: dict[int, bool] = {}  # the critical input is a streamed value consumed whole

    for i in cascade.order:
        e = cascade.einsums[i]
        vars_ = set(e.iter_vars)
        touches = any(v in vars_ for v in family_vars)
        full = _covers(cascade, rank, vars_)
        latest, critical, rounded = 0, None, False
        for edge in incoming[i]:
            if edge.carried:
                continue
            t = info.output_time[edge.producer]
            up = t % 2 == 1 and _consumes_whole(cascade, edge, family, touches)
            if t + up > latest:
                latest, critical, rounded = t + up, edge, up
        crit[i] = critical
        whole[i] = rounded
        kept = [v for v in e.out_vars if v in family_vars]
        reduced = [v for v in e.reduce_vars if v in family_vars]
        streams = bool(kept) and all(order_of[k] < order_of[d] for k in kept for d in reduced)
        if full:
            j = latest // 2 + 1
            info.einsum_pass[i] = j
            info.einsum_time[i] = 2 * j - 1
            info.output_time[i] = 2 * j - 1 if streams else 2 * j
            closes[i] = not streams
        else:
            info.einsum_time[i] = latest
            out = latest + 1 if (latest % 2 == 1 and touches and not streams and reduced) else latest
            info.output_time[i] = out
            closes[i] = out > latest
    info.passes = max(info.einsum_pass.values(), default=0)
    info.reasons = _reasons(cascade, info, crit, closes, whole, family_vars)
    return info


def _consumes_whole(cascade: Cascade, edge: Edge, family: tuple[str, ...], touches: bool) -> bool:
    """Whether the consumer needs all of a value streamed along the rank
    (not element by element): it reads a constant index along the rank (a
    final value such as ``RNV[f,M1,p]``) or does not run over the rank."""
    if not touches:
        return True
    ranks = cascade.tensors[edge.access.tensor].ranks
    return any(ix.kind == "const" and ranks[k] in family for k, ix in enumerate(edge.access.indices))


def _reasons(cascade: Cascade, info: PassInfo, crit, closes, whole, family_vars) -> list[str]:
    reasons = []
    for j in range(2, info.passes + 1):
        first = min((i for i, p in info.einsum_pass.items() if p == j), key=cascade.order.index)
        reasons.append(f"pass {j}: " + _explain(cascade, info, first, crit, closes, whole, family_vars))
    return reasons


def _explain(cascade: Cascade, info: PassInfo, i: int, crit, closes, whole, family_vars) -> str:
    e = cascade.einsums[i]
    edge = crit[i]
    text = f"{e.label} (line {e.origin.line}) reads {edge.access.text}"
    if whole[i]:
        return text + _whole_clause(cascade, info, edge)
    chain = []
    p = edge.producer
    while not closes.get(p) and not whole.get(p) and crit.get(p) is not None:
        p = crit[p].producer
        chain.append(cascade.einsums[p].label)
    if chain:
        text += ", which depends on " + " <- ".join(chain)
    closer = cascade.einsums[p]
    src = crit[p]
    if whole.get(p):
        return text + f"; {closer.label} (line {closer.origin.line}) reads {src.access.text}" + _whole_clause(cascade, info, src)
    k = info.output_time[p] // 2
    reduced = [v for v in closer.reduce_vars if v in family_vars]
    if reduced:
        what = src.access.tensor if src is not None else ast.unparse(closer.body)
        text += (
            f"; {closer.label} (line {closer.origin.line}) takes the {closer.reduce_op} over "
            f"{','.join(reduced)} of {what}, which streams in pass {k}, "
            f"so it is complete only after pass {k}"
        )
    return text


def _whole_clause(cascade: Cascade, info: PassInfo, edge: Edge) -> str:
    """Why reading a streamed value whole waits for the end of its pass."""
    producer = cascade.einsums[edge.producer]
    k = (info.output_time[edge.producer] + 1) // 2
    what = "the last value" if edge.final else "all"
    return (
        f", {what} of what {producer.label} (line {producer.origin.line}) streams in pass {k}, "
        f"so it is available only after pass {k}"
    )
