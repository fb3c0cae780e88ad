"""Evaluating a cascade's parameters and rank sizes at one point."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

import sympy

from ..errors import EinsumxError, Origin
from ..lang import ast
from ..lang.parser import parse_expression
from .cascade import Cascade
from .symbolic import evaluate


@dataclass(frozen=True)
class Point:
    """Values of every parameter and rank size of a cascade.

    ``subs`` maps the sympy symbols (ranks and parameters) to their values,
    ready for ``expr.xreplace(point.subs)``.
    """

    params: Mapping[str, Fraction]
    ranks: Mapping[str, int]
    subs: Mapping[sympy.Symbol, sympy.Expr]

    def __call__(self, expr: sympy.Expr) -> sympy.Expr:
        """Evaluate a symbolic result at this point (exactly)."""
        return sympy.sympify(expr).xreplace(self.subs)

    def int(self, expr: sympy.Expr) -> int:
        """An integer-valued expression (an index) at this point."""
        value = self(expr)
        if not value.is_Integer:
            raise ValueError(f"{expr} = {value} is not an integer")
        return int(value)

    def value(self, expr: sympy.Expr) -> int:
        """A count at this point, rounded up (bytes of sub-byte or sparse
        tensors, density-scaled op counts)."""
        return int(sympy.ceiling(self(expr)))


def param_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def parse_overrides(items: list[str] | None) -> dict[str, tuple[ast.Expr, str, Origin]]:
    """``["seq=4096", "M0=128"]`` to parsed expressions (``--set`` values).

    >>> sorted(parse_overrides(["seq=4096"]))
    ['seq']
    """
    out: dict[str, tuple[ast.Expr, str, Origin]] = {}
    for item in items or []:
        origin = Origin("--set", None, None)
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise EinsumxError(f"--set expects NAME=VALUE, got '{item}'", origin)
        text_origin = Origin("--set", 1, len(name) + 2, item)
        out[name] = (parse_expression(value, text_origin), value.strip(), text_origin)
    return out


def evaluate_point(cascade: Cascade, overrides: Mapping[str, tuple[ast.Expr, str, Origin]] | None = None) -> Point:
    """Evaluate every parameter and rank size, with ``overrides`` applied.

    Rank sizes must come out as positive integers and split ranks must
    multiply out exactly; otherwise one ``EinsumxError`` says which rank,
    its expression, and the value it got.
    """
    overrides = dict(overrides or {})
    for name, (_, text, origin) in overrides.items():
        if name not in cascade.params and name not in cascade.ranks:
            known = ", ".join(list(cascade.params) + list(cascade.ranks))
            at_name = Origin(origin.file, origin.line, 1, origin.source_line)
            raise EinsumxError(f"--set {name}={text}: no parameter or rank named '{name}' (known: {known})", at_name)

    values: dict[str, Fraction] = {}
    active: list[str] = []

    def definition(name: str) -> tuple[ast.Expr, Origin, str]:
        if name in overrides:
            expr, text, origin = overrides[name]
            return expr, origin, text
        if name in cascade.params:
            p = cascade.params[name]
            return p.default, p.origin, p.text
        r = cascade.ranks[name]
        return r.size, r.origin, r.size_text

    def lookup_from(origin: Origin):
        def lookup(node: ast.Name) -> Fraction:
            if node.id not in cascade.params and node.id not in cascade.ranks:
                raise EinsumxError(f"unknown name '{node.id}' in a size expression", origin.shifted(node.pos))
            return value_of(node.id)
        return lookup

    def value_of(name: str) -> Fraction:
        if name in values:
            return values[name]
        expr, origin, _ = definition(name)
        if name in active:
            cycle = " -> ".join(active[active.index(name):] + [name])
            raise EinsumxError(f"circular definition: {cycle}", origin)
        active.append(name)
        values[name] = evaluate(expr, lookup_from(origin), origin)
        active.pop()
        return values[name]

    params = {name: value_of(name) for name in cascade.params}
    ranks: dict[str, int] = {}
    for name, rank in cascade.ranks.items():
        v = value_of(name)
        _, origin, text = definition(name)
        point_text = _point_text(cascade, values, overrides)
        where = f" (with {point_text})" if point_text else ""
        size = text if text.replace(" ", "") == str(v) else f"{text} = {v}"
        if v.denominator != 1:
            raise EinsumxError(f"rank '{name}' has non-integer size {size}{where}", origin)
        if v <= 0:
            raise EinsumxError(f"rank '{name}' has non-positive size {size}{where}", origin)
        ranks[name] = int(v)
    for name, rank in cascade.ranks.items():
        if rank.stop is not None and rank.stop is not rank.size:
            bound = evaluate(rank.stop, lookup_from(rank.origin), rank.origin)
            if bound != ranks[name]:
                text = ast.unparse(rank.stop)
                shown = text if text == str(bound) else f"{text} = {bound}"
                raise EinsumxError(f"rank '{name}' stops at {shown} but has size {ranks[name]}", rank.stop_origin or rank.origin)
        if rank.parts:
            product = 1
            for part in rank.parts:
                product *= ranks[part]
            if product != ranks[name]:
                parts = " x ".join(f"{p}={ranks[p]}" for p in rank.parts)
                raise EinsumxError(
                    f"rank '{name}' = {ranks[name]} is not split exactly into {parts} (product {product})",
                    rank.origin,
                )
    subs: dict[sympy.Symbol, sympy.Expr] = {}
    for name, v in params.items():
        subs[param_symbol(name)] = sympy.Rational(v.numerator, v.denominator)
    for name, v in ranks.items():
        subs[cascade.ranks[name].symbol] = sympy.Integer(v)
    return Point(params, ranks, subs)


def _point_text(cascade: Cascade, values: Mapping[str, Fraction], overrides=()) -> str:
    """The parameters, and any rank set with --set, as 'name=value, ...'."""
    shown = [f"{n}={values[n]}" for n in cascade.params if n in values]
    shown += [f"{n}={values[n]}" for n in cascade.ranks if n in overrides and n in values]
    return ", ".join(shown)
