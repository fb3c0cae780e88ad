"""Iteration-space sizes and operation counts, symbolically.

The iteration space of an Einsum is the box of its indices, cut by its
filters. Filters are bands ``lo <= u - v <= hi`` between two indices (causal
``m <= p``, sliding window ``p - W <= m <= p``) or bounds on one index, and
their lattice-point counts have closed forms (``band_points``), so a causal
QK costs exactly ``P(P+1)/2`` points per (b, h, e) when ``M = P``.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from functools import lru_cache

import sympy

from ..ir import operators
from ..ir.cascade import Bound, Cascade, Einsum, Tensor
from ..lang import ast


def _clamped_prefix(n: sympy.Expr, x: sympy.Expr) -> sympy.Expr:
    """sum_{j=1..n} clamp(j, 0, x), zero for n <= 0."""
    n = sympy.Max(n, 0)
    a = sympy.Min(n, x)
    return a * (a + 1) / 2 + (n - a) * x


@lru_cache(maxsize=1024)
def band_points(x: sympy.Expr, y: sympy.Expr, lo: sympy.Expr | None, hi: sympy.Expr | None) -> sympy.Expr:
    """Number of (u, v) with 0 <= u < x, 0 <= v < y and lo <= u - v <= hi.

    >>> n = sympy.Symbol("n", positive=True, integer=True)
    >>> sympy.simplify(band_points(n, n, None, 0) - n * (n + 1) / 2)
    0
    """
    hi = x - 1 if hi is None else hi
    lo = -(y - 1) if lo is None else lo

    def at_most(t):  # pairs with u - v <= t
        return _clamped_prefix(t + y, x) - _clamped_prefix(t, x)

    return sympy.Max(at_most(hi) - at_most(lo - 1), 0)


def box(size: sympy.Expr, lo: sympy.Expr | None, hi: sympy.Expr | None) -> tuple[sympy.Expr, sympy.Expr]:
    """First value and length of ``[0, size)`` cut to ``[lo, hi]``."""
    first = sympy.Integer(0) if lo is None else sympy.Max(lo, 0)
    last = size - 1 if hi is None else sympy.Min(hi, size - 1)
    return first, sympy.Max(last - first + 1, 0)


@lru_cache(maxsize=1024)
def bound_points(x: sympy.Expr, lo: sympy.Expr | None, hi: sympy.Expr | None) -> sympy.Expr:
    """Number of u with 0 <= u < x and lo <= u <= hi.

    >>> bound_points(10, 2, 5)
    4
    """
    return box(sympy.sympify(x), lo, hi)[1]


def _domain(cascade: Cascade, vars_: tuple[str, ...], filters: tuple[Bound, ...]) -> sympy.Expr:
    """Points of the box over ``vars_`` cut by those ``filters`` whose
    indices are all in it (a split rank's own index stands for its parts)."""
    free = list(vars_)
    count = sympy.Integer(1)
    for f in filters:
        group = [f.u] + ([f.v] if f.v else [])
        covered = []
        for v in group:
            if v in free:
                covered.append([v])
            else:
                leaves = [cascade.ranks[r].var for r in cascade.leaves(cascade.var_ranks[v])]
                if len(leaves) > 1 and all(l in free for l in leaves):
                    covered.append(leaves)
                else:
                    covered = None
                    break
        if covered is None:
            continue
        for vs in covered:
            for v in vs:
                free.remove(v)
        u_first, u_len = box(cascade.rank_of_var(f.u).symbol, f.u_lo, f.u_hi)
        if f.v is None:
            count *= u_len
            continue
        v_first, v_len = box(cascade.rank_of_var(f.v).symbol, f.v_lo, f.v_hi)
        shift = v_first - u_first  # u - v = u' - v' + (u_first - v_first)
        lo = None if f.lo is None else f.lo + shift
        hi = None if f.hi is None else f.hi + shift
        count *= band_points(u_len, v_len, lo, hi)
    for v in free:
        count *= cascade.rank_of_var(v).symbol
    return count


def iteration_points(cascade: Cascade, einsum: Einsum) -> sympy.Expr:
    """Points of an Einsum's (filtered) iteration space."""
    return _domain(cascade, einsum.iter_vars, einsum.filters)


def output_points(cascade: Cascade, einsum: Einsum) -> sympy.Expr:
    """Output elements an Einsum writes (filters on output indices only)."""
    return _domain(cascade, einsum.out_vars, einsum.filters)


def ops_per_point(einsum: Einsum, absorb_add: frozenset[str] = frozenset()) -> Counter:
    """Primitive operations at one iteration point, by cost class.

    ``Y[p] = sum(m: A[m,p] * B[m])`` is one ``mac``; ``exp(X - Y)`` is one
    ``add`` and one ``exp``, or one ``exp`` if ``"exp" in absorb_add`` (a
    unit whose input adder does the subtraction); operations between
    constants are folded.
    """
    counts: Counter = Counter()

    def go(node: ast.Expr) -> bool:
        """Count ``node``'s operations; return whether it is constant."""
        if isinstance(node, (ast.Num, ast.Name)):
            return True
        if isinstance(node, ast.Access):
            return False
        if isinstance(node, ast.Unary):
            return go(node.operand)
        if isinstance(node, ast.Binary):
            const = go(node.left) & go(node.right)
            if not const:
                counts.update(operators.INFIX[node.op].cost)
            return const
        if isinstance(node, ast.Call):
            arg = node.args[0] if len(node.args) == 1 else None
            if node.func in absorb_add and isinstance(arg, ast.Binary) and arg.op in "+-":
                const = go(arg.left) & go(arg.right)
                if not const:
                    counts.update(operators.FUNCTIONS[node.func].cost)
                return const
            const = all([go(a) for a in node.args])
            if not const:
                counts.update(operators.FUNCTIONS[node.func].cost)
            return const
        raise TypeError(node)  # pragma: no cover

    constant_body = go(einsum.body)
    if einsum.reduce_op is not None and einsum.reduce_vars:
        reduction = operators.REDUCTIONS[einsum.reduce_op]
        if einsum.reduce_op == "sum" and isinstance(einsum.body, ast.Binary) and einsum.body.op == "*" and not constant_body:
            counts["mul"] -= 1
            counts["mac"] += 1
        else:
            counts[reduction.cost_class] += 1
    return +counts


def density_factor(cascade: Cascade, einsum: Einsum) -> sympy.Expr:
    """Fraction of iteration points that do work when zero operands are
    skipped: the product of the densities of the tensors multiplied together
    at the top of the body (``S[t,n,d] * W[d,e]`` with S at density 0.1 does
    a tenth of the work); 1 when the body is not a product.

    Densities are taken as independent, the usual first-order model of
    sparse intersection.
    """
    factor = sympy.Integer(1)
    seen = set()  # S[i] * S[i] is zero where S[i] is: count it once
    stack = [einsum.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Binary) and node.op == "*":
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.Unary):
            stack.append(node.operand)
        elif isinstance(node, ast.Access) and ast.unparse(node) not in seen:
            seen.add(ast.unparse(node))
            d = Fraction(cascade.tensors[node.tensor].density).limit_denominator(10**6)
            factor *= sympy.Rational(d.numerator, d.denominator)
    return factor


def op_counts(cascade: Cascade, einsum: Einsum) -> dict[str, sympy.Expr]:
    """Operations of an Einsum by cost class (symbolic)."""
    points = iteration_points(cascade, einsum)
    return {cls: n * points for cls, n in ops_per_point(einsum).items()}


def extents(cascade: Cascade, tensor: Tensor) -> tuple[sympy.Expr, ...]:
    """Extent of each position of a tensor: its rank's size for inputs, the
    hull of what is written for intermediates (``M1 + 1`` for a running
    value with an initial element)."""
    writers = [cascade.einsums[w] for w in cascade.writers(tensor.name)]
    if not writers:
        return tuple(cascade.ranks[r].symbol for r in tensor.ranks)
    out = []
    for k, rank in enumerate(tensor.ranks):
        los, his = [], []
        for e in writers:
            lo, hi = index_interval(cascade, e.output.indices[k])
            los.append(lo)
            his.append(hi)
        out.append(sympy.Max(*his) - sympy.Min(*los) + 1)
    return tuple(out)


def index_interval(cascade: Cascade, ix) -> tuple[sympy.Expr, sympy.Expr]:
    """Symbolic smallest and largest value of an affine index expression."""
    lo = hi = ix.const
    for v, coeff in ix.terms:
        span = coeff * (cascade.rank_of_var(v).symbol - 1)
        if coeff.is_negative:
            lo += span
        else:
            hi += span
    return lo, hi


def tensor_elements(cascade: Cascade, tensor: Tensor) -> sympy.Expr:
    """Elements of a tensor; what a filtered Einsum writes if it is the
    only writer (a causal score matrix holds about half its box)."""
    writers = cascade.writers(tensor.name)
    if len(writers) == 1 and cascade.einsums[writers[0]].filters:
        return output_points(cascade, cascade.einsums[writers[0]])
    result = sympy.Integer(1)
    for x in extents(cascade, tensor):
        result *= x
    return result


def tensor_bytes(cascade: Cascade, tensor: Tensor) -> sympy.Expr:
    """Bytes of a tensor, stored compressed at its density."""
    return tensor_elements(cascade, tensor) * bytes_per_element(tensor)


def bytes_per_element(tensor: Tensor) -> sympy.Expr:
    """Bytes per element, stored compressed at the tensor's density
    (metadata not counted): 16-bit at density 1/4 is 1/2 byte."""
    d = Fraction(tensor.density).limit_denominator(10**6)
    return sympy.Rational(tensor.bits * d.numerator, 8 * d.denominator)
