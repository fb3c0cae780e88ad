"""Turning parsed expressions into sympy, without ever calling ``sympify``
on user text (which would execute Python)."""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

import sympy

from ..errors import EinsumxError, Origin
from ..lang import ast


def number(value: Fraction | float) -> sympy.Expr:
    if isinstance(value, float):
        if value == float("inf"):
            return sympy.oo
        if value == float("-inf"):
            return -sympy.oo
        return sympy.Float(value)
    return sympy.Rational(value.numerator, value.denominator)


def _fold(expr: ast.Expr, number, resolve, origin: Origin | None, allow: str):
    """Evaluate a size/index expression tree with ``number`` for literals and
    ``resolve`` for names; the arithmetic is that of whatever they return
    (sympy expressions or exact Fractions)."""

    def err(message: str, pos: int) -> EinsumxError:
        return EinsumxError(message, origin.shifted(pos) if origin else None)

    def go(node: ast.Expr):
        if isinstance(node, ast.Num):
            return number(node)
        if isinstance(node, ast.Name):
            return resolve(node)
        if isinstance(node, ast.Unary):
            return -go(node.operand)
        if isinstance(node, ast.Binary):
            if node.op not in allow:
                raise err(f"operator '{node.op}' is not allowed here", node.pos)
            left, right = go(node.left), go(node.right)
            if node.op == "+":
                return left + right
            if node.op == "-":
                return left - right
            if node.op == "*":
                return left * right
            if node.op == "/":
                if right == 0:
                    raise err("division by zero", node.pos)
                return left / right
            if not (_is_integer(right) and 0 <= right <= 64):
                raise err("exponents must be integers from 0 to 64", node.right.pos)
            return left ** int(right)
        if isinstance(node, ast.Access):
            raise err(f"tensor access '{ast.unparse(node)}' is not allowed here", node.pos)
        if isinstance(node, ast.Call):
            raise err(f"function call '{node.func}(...)' is not allowed here", node.pos)
        raise TypeError(node)  # pragma: no cover

    return go(expr)


def _is_integer(value) -> bool:
    if isinstance(value, Fraction):
        return value.denominator == 1
    return bool(getattr(value, "is_Integer", False))


def to_sympy(
    expr: ast.Expr,
    resolve: Callable[[ast.Name], sympy.Expr],
    origin: Origin | None = None,
    allow: str = "+-*/^",
) -> sympy.Expr:
    """Build the sympy form of a size or index expression.

    ``resolve`` maps a name to its symbol (and raises for unknown names);
    operators outside ``allow`` are errors, as are accesses and calls.

    >>> from einsumx.lang.parser import parse_expression
    >>> to_sympy(parse_expression("2*M0 + 1"), lambda n: sympy.Symbol(n.id))
    2*M0 + 1
    """
    return _fold(expr, lambda node: number(node.value), resolve, origin, allow)


def evaluate(expr: ast.Expr, lookup: Callable[[ast.Name], Fraction], origin: Origin | None = None) -> Fraction:
    """Exact rational value of a size expression (names via ``lookup``).

    >>> from einsumx.lang.parser import parse_expression
    >>> evaluate(parse_expression("seq / 256"), lambda n: Fraction(1000))
    Fraction(125, 32)
    """

    def literal(node: ast.Num) -> Fraction:
        if isinstance(node.value, float):
            if node.value in (float("inf"), float("-inf")):
                raise EinsumxError("a size cannot be infinite", origin.shifted(node.pos) if origin else None)
            return Fraction(node.value)
        return node.value

    return _fold(expr, literal, lookup, origin, "+-*/^")
