"""The dependency graph between Einsums (with recurrences and final-value
reads told apart), its order, and the index-range checks done at each
evaluated point."""

from __future__ import annotations

import sympy

from ..errors import EinsumxError
from .cascade import Cascade, Edge, Einsum, Index


def dependency_edges(cascade: Cascade, point) -> list[Edge]:
    """Producer -> consumer edges, marking loop-carried and final reads."""
    edges: list[Edge] = []
    for ci, e in enumerate(cascade.einsums):
        for a in e.inputs:
            writers = cascade.writers(a.tensor)
            if not writers:
                continue
            rec = _recurrence(cascade, writers)
            if rec is None:
                if ci in writers:
                    raise EinsumxError(
                        f"'{a.text}' reads '{a.tensor}', which this Einsum writes "
                        f"(a recurrence needs an iterative rank: declare it with 'iterative: true')",
                        a.origin,
                    )
                edges.extend(Edge(w, ci, a, False, False) for w in writers)
                continue
            w, k, w_off = rec
            ix = a.indices[k]
            w_var = cascade.einsums[w].output.indices[k].var
            if ix.kind in ("var", "step") and ix.var == w_var:
                if ix.offset > w_off:
                    raise EinsumxError(
                        f"'{a.text}' reads ahead of where '{a.tensor}' is written "
                        f"('{cascade.einsums[w].output.text}', line {cascade.einsums[w].origin.line})",
                        a.origin,
                    )
                if ix.offset < w_off:  # the previous iteration's value, or the initial one
                    edges.append(Edge(w, ci, a, True, False))
                    edges.extend(Edge(x, ci, a, False, False) for x in writers if x != w)
                    continue
                if ci == w:
                    raise EinsumxError(f"'{a.text}' reads the element this Einsum writes", a.origin)
                edges.append(Edge(w, ci, a, False, False))
            elif ix.kind == "const":
                value = point.int(ix.expr)
                chosen = [x for x in writers if _writes(cascade, x, k, value, point)] or list(writers)
                final = w in chosen and value == _write_range(cascade, w, k, point)[1]
                edges.extend(Edge(x, ci, a, False, final and x == w) for x in chosen)
            else:
                edges.extend(Edge(x, ci, a, False, False) for x in writers)
    return edges


def _recurrence(cascade: Cascade, writers: list[int]):
    """(writer, position, offset) of the writer that steps along an iterative
    rank, or None."""
    for w in writers:
        for k, ix in enumerate(cascade.einsums[w].output.indices):
            if ix.kind in ("var", "step") and cascade.rank_of_var(ix.var).iterative:
                return w, k, ix.offset
    return None


def _write_range(cascade: Cascade, w: int, k: int, point) -> tuple[int, int]:
    e = cascade.einsums[w]
    return index_range(cascade, e.output.indices[k], point, var_bounds(cascade, e, point))


def _writes(cascade: Cascade, w: int, k: int, value: int, point) -> bool:
    lo, hi = _write_range(cascade, w, k, point)
    return lo <= value <= hi


def index_range(cascade: Cascade, ix: Index, point, bounds: dict[str, tuple[int, int]] | None = None) -> tuple[int, int]:
    """Smallest and largest value of an index expression over its Einsum's
    iteration space at ``point`` (``bounds``: index ranges narrowed by the
    Einsum's filters, see ``var_bounds``)."""
    lo = hi = int(ix.const.xreplace(point.subs))
    for v, coeff in ix.terms:
        first, last = (bounds or {}).get(v, (0, point.ranks[cascade.var_ranks[v]] - 1))
        k = int(coeff.xreplace(point.subs))
        lo += min(k * first, k * last)
        hi += max(k * first, k * last)
    return lo, hi


def var_bounds(cascade: Cascade, einsum: Einsum, point) -> dict[str, tuple[int, int]]:
    """Ranges of an Einsum's indices cut by its one-index filter bounds
    (``where p < 4`` runs p over 0..3)."""
    out = {}
    for f in einsum.filters:
        for v, lo, hi in ((f.u, f.u_lo, f.u_hi), (f.v, f.v_lo, f.v_hi)):
            if v is None or v not in einsum.iter_vars or (lo is None and hi is None):
                continue
            last = point.ranks[cascade.var_ranks[v]] - 1
            first = 0 if lo is None else max(0, int(sympy.ceiling(lo.xreplace(point.subs))))
            last = last if hi is None else min(last, int(sympy.floor(hi.xreplace(point.subs))))
            out[v] = (first, last)
    return out


def dependency_order(cascade: Cascade, edges: list[Edge]) -> list[int]:
    n = len(cascade.einsums)
    succ = {i: set() for i in range(n)}
    indeg = [0] * n
    for e in edges:
        if e.carried or e.producer == e.consumer:
            continue
        if e.consumer not in succ[e.producer]:
            succ[e.producer].add(e.consumer)
            indeg[e.consumer] += 1
    ready = [i for i in range(n) if indeg[i] == 0]
    order = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in sorted(succ[i]):
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
    if len(order) < n:
        left = [i for i in range(n) if i not in order]
        cycle = _find_cycle(left, succ)
        path = " -> ".join(f"{cascade.einsums[i].label} (line {cascade.einsums[i].origin.line})" for i in cycle)
        raise EinsumxError(f"cycle: {path}", cascade.einsums[cycle[0]].origin)
    return order


def _find_cycle(nodes: list[int], succ) -> list[int]:
    nodes_set = set(nodes)
    for start in nodes:
        stack, seen = [(start, [start])], set()
        while stack:
            cur, path = stack.pop()
            for nxt in succ[cur]:
                if nxt == start:
                    return path + [start]
                if nxt in nodes_set and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return nodes[:1] + nodes[:1]  # pragma: no cover


def check_ranges(cascade: Cascade, point) -> None:
    """Every read stays inside its tensor, and no element is written twice,
    at ``point`` (done at load for the defaults and again for each analysed
    point)."""
    write_ranges: dict[str, list] = {}
    for wi, e in enumerate(cascade.einsums):
        rng = [index_range(cascade, ix, point, var_bounds(cascade, e, point)) for ix in e.output.indices]
        for other_i, other in write_ranges.get(e.output.tensor, []):
            if all(a[0] <= b[1] and b[0] <= a[1] for a, b in zip(rng, other)):
                first = cascade.einsums[other_i]
                raise EinsumxError(
                    f"tensor '{e.output.tensor}' is written twice: here and on line {first.origin.line} ('{first.text}')",
                    e.origin,
                )
        write_ranges.setdefault(e.output.tensor, []).append((wi, rng))
    for e in cascade.einsums:
        narrowed = var_bounds(cascade, e, point)
        for a in e.inputs:
            t = cascade.tensors[a.tensor]
            for k, ix in enumerate(a.indices):
                lo, hi = index_range(cascade, ix, point, narrowed)
                if a.tensor in write_ranges:
                    bounds = (min(r[k][0] for _, r in write_ranges[a.tensor]), max(r[k][1] for _, r in write_ranges[a.tensor]))
                else:
                    bounds = (0, point.ranks[t.ranks[k]] - 1)
                if lo < bounds[0] or hi > bounds[1]:
                    what = "written" if a.tensor in write_ranges else "its size"
                    raise EinsumxError(
                        f"'{a.text}' reads {a.tensor} along rank {t.ranks[k]} from {lo} to {hi}, "
                        f"outside {bounds[0]}..{bounds[1]} ({what})",
                        a.origin,
                    )
