"""Resolving names in index, size and filter expressions: an index is the
lowercase name of its rank (``m1`` runs over ``M1``); upper-case names are
rank sizes; anything else must be a parameter."""

from __future__ import annotations

import sympy

from ..errors import EinsumxError, Origin
from ..lang import ast
from ..lang.spec import WorkloadSpec
from .cascade import Index, Param, Rank
from .symbolic import to_sympy
from .values import param_symbol


def var_symbol(var: str) -> sympy.Symbol:
    return sympy.Symbol(var, integer=True, nonnegative=True)


class Names:
    """Resolves names in index, size and filter expressions."""

    def __init__(self, spec: WorkloadSpec, ranks: dict[str, Rank], params: dict[str, Param]):
        self.spec = spec
        self.ranks = ranks
        self.params = params
        self.var_rank = {r.var: r.name for r in ranks.values()}

    def index_resolver(self, origin: Origin):
        def resolve(node: ast.Name) -> sympy.Expr:
            if node.id in self.var_rank:
                return var_symbol(node.id)
            if node.id in self.ranks:
                return self.ranks[node.id].symbol
            if node.id in self.params:
                return param_symbol(node.id)
            if node.id[:1].islower():
                raise EinsumxError(f"unknown index '{node.id}': no rank named '{node.id.upper()}'", origin.shifted(node.pos))
            raise EinsumxError(f"unknown name '{node.id}'", origin.shifted(node.pos))
        return resolve

    def index(self, expr: ast.Expr, origin: Origin) -> Index:
        sym = to_sympy(expr, self.index_resolver(origin), origin, allow="+-*")
        text = ast.unparse(expr)
        where = origin.shifted(ast.start(expr))
        if sym.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
            raise EinsumxError(f"index '{text}' must be finite", where)
        if any(not n.is_Integer for n in sym.atoms(sympy.Number)):
            raise EinsumxError(f"index '{text}' must be an integer expression", where)
        vars_ = tuple(sorted((s.name for s in sym.free_symbols if s.name in self.var_rank), key=text.find))
        if not vars_:
            return Index(sym, (), "const", text, const=sym)
        terms = []
        for v in vars_:
            coeff = sympy.diff(sym, var_symbol(v))
            if any(s.name in self.var_rank for s in coeff.free_symbols):
                raise EinsumxError(f"index expression '{text}' is not affine in its indices", where)
            terms.append((v, coeff))
        const = sympy.expand(sym.subs({var_symbol(v): 0 for v in vars_}))
        if len(vars_) == 1 and terms[0][1] == 1 and const.is_Integer:
            kind = "var" if const == 0 else "step"
            return Index(sym, vars_, kind, text, vars_[0], int(const), tuple(terms), const)
        return Index(sym, vars_, "affine", text, terms=tuple(terms), const=const)

    def output_index_rank(self, expr: ast.Expr, origin: Origin) -> str | None:
        ix = self.index(expr, origin)
        if ix.kind == "const":
            return None
        if ix.kind == "affine":
            raise EinsumxError(
                f"output index '{ix.text}' must be an index (m), a step of an iterative rank (m1+1) or a constant",
                origin.shifted(ast.start(expr)),
            )
        rank = self.ranks[self.var_rank[ix.var]]
        if ix.kind == "step" and not rank.iterative:
            raise EinsumxError(
                f"'{ix.text}' steps along rank {rank.name}, which is not iterative (declare it with 'iterative: true')",
                origin.shifted(ast.start(expr)),
            )
        return rank.name
