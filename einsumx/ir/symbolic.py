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


def to_sympy(
    expr: ast.Expr,
    resolve: Callable[[ast.Name], sympy.Expr],
    origin: Origin | None = None,
    allow: str = "+-*/^",
) -> sympy.Expr:
    """Build the sympy form of a size or index expression.

    ``resolve`` maps a name to its symbol (and raises for unknown names);
    operators outside ``allow`` are errors, as are accesses and calls.
    """

    def err(message: str, pos: int) -> EinsumxError:
        return EinsumxError(message, origin.shifted(pos) if origin else None)

    def go(node: ast.Expr) -> sympy.Expr:
        if isinstance(node, ast.Num):
            return number(node.value)
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
            if not (right.is_Integer and 0 <= int(right) <= 64):
                raise err("exponents must be integers from 0 to 64", node.right.pos)
            return left ** right
        if isinstance(node, ast.Access):
            raise err(f"tensor access '{ast.unparse(node)}' is not allowed here", node.pos)
        if isinstance(node, ast.Call):
            raise err(f"function call '{node.func}(...)' is not allowed here", node.pos)
        raise TypeError(node)  # pragma: no cover

    return go(expr)


def evaluate(expr: ast.Expr, lookup: Callable[[ast.Name], Fraction], origin: Origin | None = None) -> Fraction:
    """Exact rational value of a size expression (names via ``lookup``)."""

    def err(message: str, pos: int) -> EinsumxError:
        return EinsumxError(message, origin.shifted(pos) if origin else None)

    def go(node: ast.Expr) -> Fraction:
        if isinstance(node, ast.Num):
            if isinstance(node.value, float):
                if node.value in (float("inf"), float("-inf")):
                    raise err("a size cannot be infinite", node.pos)
                return Fraction(node.value)
            return node.value
        if isinstance(node, ast.Name):
            return lookup(node)
        if isinstance(node, ast.Unary):
            return -go(node.operand)
        if isinstance(node, ast.Binary):
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
            if node.op == "^":
                if right.denominator != 1 or not 0 <= right <= 64:
                    raise err("exponents must be integers from 0 to 64", node.right.pos)
                return left ** int(right)
        if isinstance(node, ast.Access):
            raise err(f"tensor access '{ast.unparse(node)}' is not allowed here", node.pos)
        if isinstance(node, ast.Call):
            raise err(f"function call '{node.func}(...)' is not allowed here", node.pos)
        raise TypeError(node)  # pragma: no cover

    return go(expr)
