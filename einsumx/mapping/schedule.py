"""Stage schedules: how the arrays share one step of a phase.

A *stage* is a set of Einsums run between two barriers; within a stage each
array runs its Einsums one after another and the arrays run concurrently,
so a stage lasts as long as its busiest array. A step lasts the sum of its
stages. The stages are derived, not written:

1. *levels*: an Einsum's level is the length of the longest chain of
   same-step producers before it;
2. *retiming* (``staged``): the tail of a step, Einsums whose results are
   read only by the next step (loop-carried) or after the loop (final
   values), moves to the front of the next step, where it overlaps the
   head of that step;
3. *merging*: consecutive levels share a stage unless data crosses arrays
   between them (a barrier is needed only there).

For the FuseMax cascade and binding this gives four stages per step,
``[QK LM | RD RNV AV] [RM] [SLN SLD SLNV | PRM SPD SPNV]``, i.e. the
paper's ``max(QK+LM, RD+RNV+AV) + RM + max(SLN+SLD, PRM+SPD) + max(SLNV,
SPNV)`` (its last two stages are one stage here: the sum of maxima equals
the maximum of sums when neither array waits on the other).

``sequential`` runs one Einsum at a time; ``pipelined`` overlaps
consecutive steps fully, so a step costs the busiest array's work, or a
loop-carried recurrence if that is longer.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy


@dataclass
class Schedule:
    kind: str
    stages: list[dict[str, list[int]]]
    """Per stage: array -> Einsum indices in order."""
    step_cycles: sympy.Expr
    depth: int
    """Steps in flight (pipelined: the number of levels; otherwise 1 or 2)."""
    recurrences: list[tuple[list[int], sympy.Expr]]

    def describe(self, label) -> str:
        """``[QK LM | RD RNV AV] [RM] ...`` with ``label(i)`` naming Einsums."""
        if self.kind == "sequential":
            return "sequential: " + " + ".join(label(i) for st in self.stages for es in st.values() for i in es)
        if self.kind == "pipelined":
            parts = [f"{a}: " + " ".join(label(i) for i in es) for a, es in self.stages[0].items()]
            return "pipelined: max(" + "; ".join(parts) + ")"
        return " ".join("[" + " | ".join(" ".join(label(i) for i in es) for es in st.values()) + "]" for st in self.stages)


def build_schedule(kind: str, nodes: list[int], array: dict[int, str], cycles: dict[int, sympy.Expr],
                   intra: set[tuple[int, int]], carried: set[tuple[int, int]], tails: set[int]) -> Schedule:
    """The stage schedule of one step.

    ``intra``: same-step edges (producer, consumer); ``carried``: edges from
    one step to the next; ``tails``: Einsums nothing in the same step reads.
    """
    order = _topological(nodes, intra)
    level = {i: 0 for i in nodes}
    for i in order:
        for p, c in intra:
            if c == i:
                level[i] = max(level[i], level[p] + 1)
    if kind == "sequential":
        stages = [{array[i]: [i]} for i in order]
        return Schedule(kind, stages, sum((cycles[i] for i in nodes), sympy.Integer(0)), 1, [])
    if kind == "pipelined":
        per_array: dict[str, list[int]] = {}
        for i in sorted(order, key=lambda i: level[i]):
            per_array.setdefault(array[i], []).append(i)
        busiest = sympy.Max(*[sum((cycles[i] for i in es), sympy.Integer(0)) for es in per_array.values()])
        recs = _recurrences(order, intra, carried, cycles)
        step = sympy.Max(busiest, *[c for _, c in recs]) if recs else busiest
        return Schedule(kind, [per_array], step, max(level.values()) + 1, recs)

    # staged: retime the tail of the step to the front of the next one
    deferred: list[int] = []
    for t in order:
        if t not in tails:
            continue
        ok = all(array[p] == array[t] for p, c in intra if c == t and p in deferred)
        ok &= all(array[c] == array[t] or c in tails or level[c] >= 1 for p, c in carried if p == t)
        if ok:
            deferred.append(t)
    # after retiming, a deferred Einsum's same-step producers ran in the
    # previous step; its carried consumers now follow it within the step
    edges = {(p, c) for p, c in intra if (p in deferred) == (c in deferred)}
    edges |= {(p, c) for p, c in carried if p in deferred and c not in deferred}
    lv = {i: (0 if i in deferred else level[i]) for i in nodes}
    if deferred:  # everything else starts after the retimed tail where it must
        for i in _topological(nodes, edges):
            for p, c in edges:
                if c == i and p != c and not (c in deferred and p not in deferred):
                    need = lv[p] + (0 if array[p] == array[c] else 1)
                    lv[i] = max(lv[i], need)
    by_level: dict[int, list[int]] = {}
    for i in sorted(nodes, key=lambda i: (lv[i], 0 if i in deferred else 1, order.index(i))):
        by_level.setdefault(lv[i], []).append(i)
    stages: list[list[int]] = []
    for k in sorted(by_level):
        group = by_level[k]
        if stages and not any((p, c) in edges and array[p] != array[c] for p in stages[-1] for c in group):
            stages[-1].extend(group)
        else:
            stages.append(list(group))
    out = []
    total = sympy.Integer(0)
    for st in stages:
        per_array = {}
        for i in st:
            per_array.setdefault(array[i], []).append(i)
        out.append(per_array)
        total += sympy.Max(*[sum((cycles[i] for i in es), sympy.Integer(0)) for es in per_array.values()])
    return Schedule(kind, out, total, 2 if deferred else 1, [])


def _topological(nodes: list[int], edges) -> list[int]:
    """Nodes in an order where producers come first (ties: given order)."""
    indeg = {i: 0 for i in nodes}
    for p, c in edges:
        if p != c and p in indeg and c in indeg:
            indeg[c] += 1
    ready = [i for i in nodes if indeg[i] == 0]
    out = []
    while ready:
        i = ready.pop(0)
        out.append(i)
        for p, c in sorted(edges):
            if p == i and c != p and c in indeg:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
        ready.sort(key=nodes.index)
    return out + [i for i in nodes if i not in out]


def _recurrences(order, intra, carried, cycles) -> list[tuple[list[int], sympy.Expr]]:
    """Loop-carried recurrences: for a carried edge u -> v (v reads in step
    i+1 what u wrote in step i), the longest same-step chain from v to u;
    a step cannot be shorter than that chain's cycles."""
    out = []
    for u, v in sorted(carried):
        # longest path v ->* u in the same step, by node cycles
        best: dict[int, tuple[sympy.Expr, list[int]]] = {v: (cycles[v], [v])}
        for i in order[order.index(v) + 1:] if v in order else []:
            preds = [best[p] for p, c in intra if c == i and p in best]
            if preds:
                length = sympy.Max(*[b[0] for b in preds]) if len(preds) > 1 else preds[0][0]
                path = max(preds, key=lambda b: len(b[1]))[1]
                best[i] = (length + cycles[i], path + [i])
        if u in best:
            out.append((best[u][1], best[u][0]))
    return out
