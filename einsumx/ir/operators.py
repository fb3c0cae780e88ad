"""The operator catalogue: every operator the language knows and its cost.

An operator's *cost* is a count of primitive operations by *cost class*. The
classes are the kinds of function unit an architecture provides:

========  ==============================================================
``mac``   multiply-accumulate (a ``*`` feeding a ``sum`` reduction)
``mul``   multiply
``add``   add or subtract (also the accumulate of a ``sum`` reduction)
``div``   divide
``max``   compare-and-select: max, min, relu, heaviside, abs
``exp``   exponential
``log``   logarithm
``sqrt``  square root
========  ==============================================================

Composite operators (sigmoid, silu, softplus, tanh, gelu) are charged the
primitives of their usual formula, so an architecture without a unit for
them still knows what they cost; docs/language.md has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

COST_CLASSES: tuple[str, ...] = ("mac", "mul", "add", "div", "max", "exp", "log", "sqrt")


@dataclass(frozen=True)
class Operator:
    """An element-wise (map) operator."""

    name: str
    arity: int
    cost: Mapping[str, int]
    formula: str
    """What the operator computes, in words or as a formula."""


@dataclass(frozen=True)
class Reduction:
    """A reduction operator usable as ``op(i, j: expr)``."""

    name: str
    cost_class: str
    identity: str
    formula: str


def _op(name: str, arity: int, formula: str, **cost: int) -> Operator:
    return Operator(name, arity, MappingProxyType(dict(cost)), formula)


# Infix map operators.
INFIX: Mapping[str, Operator] = MappingProxyType({
    "+": _op("+", 2, "a + b", add=1),
    "-": _op("-", 2, "a - b", add=1),
    "*": _op("*", 2, "a * b", mul=1),
    "/": _op("/", 2, "a / b", div=1),
})

# Named element-wise operators.
FUNCTIONS: Mapping[str, Operator] = MappingProxyType({
    op.name: op
    for op in (
        _op("exp", 1, "e^x", exp=1),
        _op("log", 1, "ln x", log=1),
        _op("sqrt", 1, "x^(1/2)", sqrt=1),
        _op("rsqrt", 1, "1 / sqrt(x)", sqrt=1, div=1),
        _op("recip", 1, "1 / x", div=1),
        _op("max", 2, "the larger of a and b", max=1),
        _op("min", 2, "the smaller of a and b", max=1),
        _op("abs", 1, "|x| = max(x, -x)", max=1),
        _op("relu", 1, "max(x, 0)", max=1),
        _op("heaviside", 1, "1 if x >= 0 else 0 (a threshold compare)", max=1),
        _op("sigmoid", 1, "1 / (1 + exp(-x))", exp=1, add=1, div=1),
        _op("silu", 1, "x * sigmoid(x)", exp=1, add=1, div=1, mul=1),
        _op("softplus", 1, "log(1 + exp(x))", exp=1, add=1, log=1),
        _op("tanh", 1, "(exp(2x) - 1) / (exp(2x) + 1)", exp=1, add=2, div=1),
        _op(
            "gelu", 1, "0.5 x (1 + tanh(0.79788 (x + 0.044715 x^3)))  (tanh form)",
            mul=6, add=4, exp=1, div=1,
        ),
    )
})

# Reduction operators; a reduction of n elements is charged n operations
# (accumulation into an identity-initialised output), the convention of
# Timeloop and of the FuseMax paper's per-element counts.
REDUCTIONS: Mapping[str, Reduction] = MappingProxyType({
    r.name: r
    for r in (
        Reduction("sum", "add", "0", "a + b"),
        Reduction("max", "max", "-inf", "max(a, b)"),
        Reduction("min", "max", "+inf", "min(a, b)"),
        Reduction("prod", "mul", "1", "a * b"),
    )
})


def catalogue_rows() -> list[dict[str, str]]:
    """The catalogue as table rows (name, kind, cost, formula)."""
    rows = []
    for op in list(INFIX.values()) + list(FUNCTIONS.values()):
        cost = " + ".join(f"{n} {c}" if n > 1 else c for c, n in op.cost.items())
        rows.append({"operator": op.name, "kind": f"map/{op.arity}", "cost": cost, "formula": op.formula})
    for r in REDUCTIONS.values():
        if r.name == "sum":
            cost = "add per element, or 1 mac per element with a '*' body"
        else:
            cost = f"{r.cost_class} per element"
        rows.append({"operator": f"{r.name}(i: ...)", "kind": "reduce", "cost": cost,
                     "formula": f"{r.formula}, identity {r.identity}"})
    return rows
