"""Syntax trees of the Einsum language (immutable; ``pos`` is the 0-based
offset of the node's first character in its source text)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Union


@dataclass(frozen=True)
class Num:
    value: Fraction | float
    pos: int


@dataclass(frozen=True)
class Name:
    id: str
    pos: int


@dataclass(frozen=True)
class Unary:
    op: str  # '-'
    operand: "Expr"
    pos: int


@dataclass(frozen=True)
class Binary:
    op: str  # '+', '-', '*', '/', '^'
    left: "Expr"
    right: "Expr"
    pos: int


@dataclass(frozen=True)
class Access:
    """``T[i, j]``; a scalar tensor is written ``T`` or ``T[]``."""

    tensor: str
    indices: tuple["Expr", ...]
    pos: int
    bracketed: bool = True


@dataclass(frozen=True)
class Call:
    """``exp(x)``, ``max(a, b)``; a reduction ``max(m: x)`` has ``over``."""

    func: str
    args: tuple["Expr", ...]
    pos: int
    over: tuple[Name, ...] | None = None


Expr = Union[Num, Name, Unary, Binary, Access, Call]


@dataclass(frozen=True)
class Compare:
    """One comparison ``left op right`` of a filter or stopping bound."""

    left: Expr
    op: str  # '<=', '<', '>=', '>', '=='
    right: Expr
    pos: int


@dataclass(frozen=True)
class Statement:
    """``lhs = rhs [where c1, c2 ...]``."""

    lhs: Access
    rhs: Expr
    where: tuple[Compare, ...]
    pos: int


def walk(expr: Expr, indices: bool = True):
    """Yield ``expr`` and all its sub-expressions, depth first; with
    ``indices=False``, without entering the index lists of accesses (only
    the nodes that compute values)."""
    yield expr
    if isinstance(expr, Unary):
        yield from walk(expr.operand, indices)
    elif isinstance(expr, Binary):
        yield from walk(expr.left, indices)
        yield from walk(expr.right, indices)
    elif isinstance(expr, Access):
        if indices:
            for index in expr.indices:
                yield from walk(index, indices)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk(arg, indices)


def map_names(expr: Expr, fn) -> Expr:
    """A copy of ``expr`` with every value-level ``Name`` replaced by
    ``fn(name)`` (which may return the name itself)."""
    if isinstance(expr, Name):
        return fn(expr)
    if isinstance(expr, Unary):
        return Unary(expr.op, map_names(expr.operand, fn), expr.pos)
    if isinstance(expr, Binary):
        return Binary(expr.op, map_names(expr.left, fn), map_names(expr.right, fn), expr.pos)
    if isinstance(expr, Call):
        return Call(expr.func, tuple(map_names(a, fn) for a in expr.args), expr.pos, expr.over)
    return expr


def start(expr: Expr) -> int:
    """Offset of the first character of ``expr`` (a binary node's own
    ``pos`` is its operator)."""
    while isinstance(expr, Binary):
        expr = expr.left
    return expr.pos


# Binding strength: + - (1), * / (2), unary minus (3), ^ (4), atoms (5).
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}
# Least strength each operand needs to go without parentheses.
_OPERAND_MIN = {"+": (1, 1), "-": (1, 2), "*": (2, 2), "/": (2, 3), "^": (5, 3)}


def unparse(expr: Expr) -> str:
    """Text of an expression that parses back to the same value (reports,
    messages).

    >>> from einsumx.lang.parser import parse_expression
    >>> unparse(parse_expression("(-2)^2 + (2^3)^2 - 1.5"))
    '(-2) ^ 2 + (2 ^ 3) ^ 2 - 1.5'
    """
    if isinstance(expr, Num):
        return _number(expr.value)
    if isinstance(expr, Name):
        return expr.id
    if isinstance(expr, Unary):
        return f"-{_operand(expr.operand, 3)}"
    if isinstance(expr, Binary):
        left_min, right_min = _OPERAND_MIN[expr.op]
        return f"{_operand(expr.left, left_min)} {expr.op} {_operand(expr.right, right_min)}"
    if isinstance(expr, Access):
        if not expr.bracketed:
            return expr.tensor
        return f"{expr.tensor}[{','.join(unparse(i) for i in expr.indices)}]"
    if isinstance(expr, Call):
        body = ", ".join(unparse(a) for a in expr.args)
        if expr.over is not None:
            return f"{expr.func}({','.join(n.id for n in expr.over)}: {body})"
        return f"{expr.func}({body})"
    raise TypeError(expr)


def _strength(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _PREC[expr.op]
    if isinstance(expr, Unary) or (isinstance(expr, Num) and expr.value < 0):
        return 3
    return 5


def _operand(expr: Expr, least: int) -> str:
    text = unparse(expr)
    return f"({text})" if _strength(expr) < least else text


def _number(value: Fraction | float) -> str:
    if isinstance(value, float):
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if value.denominator == 1:
        return str(value.numerator)
    decimal = repr(float(value))
    if "e" not in decimal and "inf" not in decimal and Fraction(decimal) == value:
        return decimal
    return f"({value.numerator}/{value.denominator})"
