"""Filters on an Einsum's iteration space: comparisons grouped into bands
between two indices (``m <= p``, ``p - W <= m``) and bounds on one index."""

from __future__ import annotations

import sympy

from ..errors import EinsumxError
from ..lang import ast
from .cascade import Bound
from .names import Names, var_symbol
from .symbolic import to_sympy


def group_filters(items, names: Names, iter_vars, ranks) -> list[Bound]:
    """Group an Einsum's filter comparisons into ``Bound``s.

    ``items`` are ``(comparison, source text)`` pairs: the Einsum's own
    ``where`` and the workload-level filters that apply to it. A filter may
    name a split rank's own index (``m`` when the Einsum runs over ``m1`` and
    ``m0``): it then means ``m1*M0 + m0``.
    """
    entries: dict[tuple[str, ...], list] = {}
    for c, text in items:
        origin = text.origin
        words = f"{ast.unparse(c.left)} {c.op} {ast.unparse(c.right)}"
        where = origin.shifted(ast.start(c.left))
        left = to_sympy(c.left, names.index_resolver(origin), origin, allow="+-*")
        right = to_sympy(c.right, names.index_resolver(origin), origin, allow="+-*")
        expr = sympy.expand(left - right)
        if expr.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
            raise EinsumxError(f"filter '{words}' has an infinite bound (leave the side open instead)", where)
        vars_ = sorted(s.name for s in expr.free_symbols if s.name in names.var_rank)
        if not vars_:
            raise EinsumxError(f"filter '{words}' has no index", where)
        missing = [v for v in vars_ if not is_present(v, iter_vars, ranks)]
        if missing:
            raise EinsumxError(f"filter uses '{missing[0]}', which is not an index of this Einsum", where)
        coeffs = [sympy.diff(expr, var_symbol(v)) for v in vars_]
        if len(vars_) > 2 or not all(k in (1, -1) for k in coeffs) or (len(vars_) == 2 and coeffs[0] == coeffs[1]):
            raise EinsumxError(
                "unsupported filter: each comparison must bound one index, or the difference of two "
                "(like 'm <= p' or 'p - W <= m')",
                where,
            )
        const = expr - sum(k * var_symbol(v) for k, v in zip(coeffs, vars_))
        sign = coeffs[0]
        # expr = sign * D + const, D = u (one index) or u - v (two), compared with 0
        for kind, shift in {"<=": [("le", 0)], "<": [("le", -1)], ">=": [("ge", 0)], ">": [("ge", 1)],
                            "==": [("le", 0), ("ge", 0)]}[c.op]:
            side = ("hi" if kind == "le" else "lo") if sign == 1 else ("lo" if kind == "le" else "hi")
            entries.setdefault(tuple(vars_), []).append((side, sympy.expand((shift - const) / sign), words, where))

    pairs = [key for key in entries if len(key) == 2]
    partner: dict[str, tuple[str, str]] = {}
    for key in pairs:
        for v in key:
            if v in partner and partner[v] != key:
                other = [x for x in partner[v] if x != v][0]
                new = [x for x in key if x != v][0]
                raise EinsumxError(
                    f"unsupported filter: index '{v}' is compared with both '{other}' and '{new}'",
                    entries[key][0][3],
                )
            partner[v] = key

    # Groups must constrain disjoint indices: a filter on a split rank's own
    # index (m) and one on its part (m1) cannot be counted apart.
    covers: dict[str, str] = {}
    for key, items_ in entries.items():
        for v in key:
            for leaf in _leaves(v, ranks):
                if leaf in covers and covers[leaf] != v:
                    raise EinsumxError(
                        f"unsupported filter: '{v}' and '{covers[leaf]}' both constrain rank "
                        f"{_root(v, ranks)}; filter on one of them",
                        items_[0][3],
                    )
                covers[leaf] = v

    def side(items_, which):
        values = [b for k, b, _, _ in items_ if k == which]
        if not values:
            return None
        return (sympy.Max if which == "lo" else sympy.Min)(*values) if len(values) > 1 else values[0]

    out = []
    for key in pairs:
        u, v = key
        own_u, own_v = entries.get((u,), []), entries.get((v,), [])
        words = ", ".join(dict.fromkeys(w for _, _, w, _ in entries[key] + own_u + own_v))
        out.append(Bound(u, v, side(entries[key], "lo"), side(entries[key], "hi"),
                         side(own_u, "lo"), side(own_u, "hi"), side(own_v, "lo"), side(own_v, "hi"), words))
    for key, items_ in entries.items():
        if len(key) == 1 and key[0] not in partner:
            words = ", ".join(dict.fromkeys(w for _, _, w, _ in items_))
            out.append(Bound(key[0], None, None, None, side(items_, "lo"), side(items_, "hi"), None, None, words))
    return out


def is_present(v: str, iter_vars, ranks) -> bool:
    """Whether index ``v`` is an index of the Einsum, or the index of a
    split rank all of whose finest parts are."""
    if v in iter_vars:
        return True
    leaves = _leaves(v, ranks)
    return len(leaves) > 1 and all(leaf in iter_vars for leaf in leaves)


def _leaves(v: str, ranks) -> list[str]:
    """The indices of the finest parts of the rank of index ``v``."""
    rank = next(r for r in ranks.values() if r.var == v)
    stack, leaves = [rank.name], []
    while stack:
        cur = stack.pop(0)
        if ranks[cur].parts:
            stack[:0] = list(ranks[cur].parts)
        else:
            leaves.append(ranks[cur].var)
    return leaves


def _root(v: str, ranks) -> str:
    rank = next(r for r in ranks.values() if r.var == v)
    while rank.parent is not None:
        rank = ranks[rank.parent]
    return rank.name


def filter_vars(c, names: Names) -> set[str]:
    return {n.id for side in (c.left, c.right) for n in ast.walk(side) if isinstance(n, ast.Name) and n.id in names.var_rank}
