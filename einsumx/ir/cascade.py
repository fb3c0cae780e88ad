"""The cascade IR: ranks, tensors, accesses and Einsums, after validation.

Everything here is immutable and symbolic: sizes are sympy expressions of
rank symbols (``M``, ``M0`` ...) whose own sizes are expressions of the
workload's parameters; ``einsumx.ir.values`` evaluates them at a point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import sympy

from ..errors import Origin, Warning_
from ..lang import ast


@dataclass(frozen=True)
class Param:
    """A workload parameter with its default (an expression of other
    parameters)."""

    name: str
    default: ast.Expr
    text: str
    origin: Origin


@dataclass(frozen=True)
class Rank:
    """A rank (dimension) of the iteration space.

    ``parts`` splits a rank uniformly into sub-ranks, major first
    (``M -> (M1, M0)`` means ``m = m1*M0 + m0``); ``iterative`` ranks carry
    running values (``RM[m1+1,p] = f(RM[m1,p])``) and stop when the index
    reaches ``stop`` (the rank's size unless said otherwise).
    """

    name: str
    size: ast.Expr
    size_text: str
    origin: Origin
    iterative: bool = False
    stop: ast.Expr | None = None
    parts: tuple[str, ...] = ()
    parent: str | None = None
    stop_origin: Origin | None = None

    @property
    def var(self) -> str:
        """The index variable that runs over this rank (``m1`` for ``M1``)."""
        return self.name.lower()

    @cached_property
    def symbol(self) -> sympy.Symbol:
        return sympy.Symbol(self.name, integer=True, positive=True)


@dataclass(frozen=True)
class Tensor:
    name: str
    ranks: tuple[str, ...]
    bits: int
    density: float
    origin: Origin


@dataclass(frozen=True)
class Index:
    """One position of an access, e.g. ``m1*M0 + m0`` at position 1 of K.

    ``expr`` is affine in the index variables (sympy symbols named like the
    variables); ``kind`` is ``var`` (``m``), ``step`` (``m1+1``, ``l-1``),
    ``const`` (``0``, ``M1``) or ``affine`` (anything else).
    """

    expr: sympy.Expr
    vars: tuple[str, ...]
    kind: str
    text: str
    var: str | None = None
    offset: int = 0
    terms: tuple[tuple[str, sympy.Expr], ...] = ()
    """(index, coefficient) of each index variable."""
    const: sympy.Expr = sympy.Integer(0)
    """The part that does not depend on the index variables."""


@dataclass(frozen=True)
class Access:
    tensor: str
    indices: tuple[Index, ...]
    text: str
    origin: Origin

    @property
    def vars(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for index in self.indices:
            for v in index.vars:
                seen[v] = None
        return tuple(seen)


@dataclass(frozen=True)
class Bound:
    """The filter on one index (``v`` is None: ``u_lo <= u <= u_hi``) or on
    a pair: ``lo <= u - v <= hi`` with each index also boxed by its own
    bounds. Any bound may be None (open)."""

    u: str
    v: str | None
    lo: sympy.Expr | None
    hi: sympy.Expr | None
    u_lo: sympy.Expr | None
    u_hi: sympy.Expr | None
    v_lo: sympy.Expr | None
    v_hi: sympy.Expr | None
    text: str


@dataclass(frozen=True)
class Einsum:
    """One (extended) Einsum: ``output = reduce_op(reduce_vars: body)``."""

    number: int
    """1-based position in the workload's list."""
    label: str
    """A unique name for reports: the output tensor, plus '(init)' etc."""
    output: Access
    inputs: tuple[Access, ...]
    body: ast.Expr
    reduce_op: str | None
    iter_vars: tuple[str, ...]
    """Output variables first, then reduced ones."""
    out_vars: tuple[str, ...]
    reduce_vars: tuple[str, ...]
    filters: tuple[Bound, ...]
    text: str
    origin: Origin


@dataclass(frozen=True)
class Edge:
    """``consumer`` reads what ``producer`` wrote, through ``access``.

    ``carried`` edges read the value of an earlier iteration of an iterative
    rank (``RD[m1,p]`` when RD is written at ``m1+1``): they close a
    recurrence, not a cycle.
    """

    producer: int
    consumer: int
    access: Access
    carried: bool
    final: bool
    """The access reads the last value of a running tensor (``RNV[f,M1,p]``)."""


@dataclass(frozen=True)
class Cascade:
    """A validated cascade of Einsums."""

    name: str
    description: str
    file: str
    params: Mapping[str, Param]
    ranks: Mapping[str, Rank]
    tensors: Mapping[str, Tensor]
    einsums: tuple[Einsum, ...]
    outputs: tuple[str, ...]
    edges: tuple[Edge, ...]
    order: tuple[int, ...]
    """Einsum indices (0-based) in a dependency order."""
    warnings: tuple[Warning_, ...] = field(default=())

    @property
    def inputs(self) -> tuple[str, ...]:
        """Tensors read but never written: the cascade's true inputs, in
        the order they are declared."""
        written = {e.output.tensor for e in self.einsums}
        read = {a.tensor for e in self.einsums for a in e.inputs}
        return tuple(t for t in self.tensors if t in read and t not in written)

    def rank_of_var(self, var: str) -> Rank:
        return self.ranks[self.var_ranks[var]]

    @cached_property
    def var_ranks(self) -> dict[str, str]:
        return {r.var: r.name for r in self.ranks.values()}

    def writers(self, tensor: str) -> list[int]:
        return [i for i, e in enumerate(self.einsums) if e.output.tensor == tensor]

    def leaves(self, rank: str) -> tuple[str, ...]:
        """The finest parts of ``rank``, major first (itself if unsplit)."""
        r = self.ranks[rank]
        if not r.parts:
            return (rank,)
        return tuple(leaf for part in r.parts for leaf in self.leaves(part))

    def family(self, rank: str) -> tuple[str, ...]:
        """``rank`` and all its parts, major first."""
        r = self.ranks[rank]
        return (rank,) + tuple(x for part in r.parts for x in self.family(part))
