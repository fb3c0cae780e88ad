"""From a parsed workload (``lang.spec``) to a validated ``Cascade``.

Checks, each with one clear error at the offending text: unknown tensors,
ranks and names; rank and shape mismatches; a tensor written twice; cycles;
reads outside what is written; non-integer or non-positive sizes; and a
warning for outputs nobody uses.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import sympy

from ..errors import EinsumxError, Origin, Warning_
from ..lang import ast
from ..lang.spec import WorkloadSpec, read_spec
from . import operators
from .cascade import Access, Bound, Cascade, Edge, Einsum, Index, Param, Rank, Tensor
from .symbolic import to_sympy
from .values import evaluate_point, param_symbol


def load_workload(path: str | Path, text: str | None = None) -> Cascade:
    """Read, parse and validate a workload file.

    >>> c = load_workload("workloads/attention-3pass.yaml")  # doctest: +SKIP
    """
    path = str(path)
    if text is None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise EinsumxError(f"cannot read workload: {exc.strerror}", Origin(path)) from None
    return build(read_spec(text, path))


def parse_workload(text: str, name: str = "<workload>") -> Cascade:
    """Validate a workload given as text (tests, the dashboard)."""
    return load_workload(name, text)


def var_symbol(var: str) -> sympy.Symbol:
    return sympy.Symbol(var, integer=True, nonnegative=True)


class _Builder:
    def __init__(self, spec: WorkloadSpec):
        self.spec = spec
        self.warnings: list[Warning_] = []

    # -- declarations ---------------------------------------------------
    def ranks(self) -> dict[str, Rank]:
        spec = self.spec
        parents: dict[str, str] = {}
        for name, r in spec.ranks.items():
            if name in spec.params:
                raise EinsumxError(f"'{name}' is both a parameter and a rank", r.origin)
            for part in r.split:
                if part not in spec.ranks:
                    raise EinsumxError(f"rank '{name}' is split into unknown rank '{part}'", part.origin)
                if part == name:
                    raise EinsumxError(f"rank '{name}' cannot be split into itself", part.origin)
                if part in parents:
                    raise EinsumxError(f"rank '{part}' is a part of both '{parents[part]}' and '{name}'", part.origin)
                parents[str(part)] = name
        vars_seen: dict[str, str] = {}
        out: dict[str, Rank] = {}
        for name, r in spec.ranks.items():
            var = name.lower()
            if var in vars_seen:
                raise EinsumxError(f"ranks '{vars_seen[var]}' and '{name}' share the index name '{var}'", r.origin)
            if var in spec.params:
                raise EinsumxError(f"parameter '{var}' has the name of the index of rank '{name}'", spec.params[var].origin)
            vars_seen[var] = name
            size, size_text, stop = r.size, r.size_text, None
            if r.stop is not None:
                stop = self._stop(name, r)
                if size is None:  # the stopping bound gives the size (the check is then trivial)
                    size, size_text = stop, ast.unparse(stop)
            out[name] = Rank(name, size, size_text, r.origin, r.iterative, stop, tuple(str(p) for p in r.split), parents.get(name))
        # a split must not be circular
        for name in out:
            seen, cur = [name], parents.get(name)
            while cur is not None:
                if cur in seen:
                    raise EinsumxError(f"circular split: {' -> '.join(seen + [cur])}", out[name].origin)
                seen.append(cur)
                cur = parents.get(cur)
        return out

    def _stop(self, name: str, r) -> ast.Expr:
        if len(r.stop) != 1:
            raise EinsumxError(f"the stopping bound of '{name}' must be one comparison, e.g. '{name.lower()} >= {name}'", r.stop_origin)
        c = r.stop[0]
        if not (isinstance(c.left, ast.Name) and c.left.id == name.lower() and c.op in (">=", "==")):
            raise EinsumxError(
                f"the stopping bound of '{name}' must read '{name.lower()} >= BOUND', got '{r.stop_text}'",
                r.stop_origin,
            )
        return c.right

    def params(self) -> dict[str, Param]:
        return {n: Param(n, p.expr, p.text, p.origin) for n, p in self.spec.params.items()}

    def tensors(self, ranks: dict[str, Rank]) -> dict[str, Tensor]:
        spec = self.spec
        outer = []
        for r in spec.outer:
            if r not in ranks:
                raise EinsumxError(f"unknown outer rank '{r}'", r.origin)
            outer.append(str(r))
        self.outer = tuple(outer)
        out: dict[str, Tensor] = {}
        index_names = {r.var: r.name for r in ranks.values()}
        for name, t in spec.tensors.items():
            if name in index_names:
                raise EinsumxError(f"tensor '{name}' has the name of the index of rank '{index_names[name]}'", t.origin)
            if name in spec.params or name in ranks:
                raise EinsumxError(f"'{name}' is declared as a tensor and as a {'parameter' if name in spec.params else 'rank'}", t.origin)
            for r in t.ranks:
                if r not in ranks:
                    raise EinsumxError(f"unknown rank '{r}' in tensor '{name}'", r.origin)
                if r in self.outer and t.outer:
                    raise EinsumxError(f"tensor '{name}' lists outer rank '{r}', which every tensor has already", r.origin)
            prefix = self.outer if t.outer else ()
            out[name] = Tensor(name, prefix + tuple(str(r) for r in t.ranks), t.bits or spec.bits, t.density, t.origin, True)
        return out


def build(spec: WorkloadSpec) -> Cascade:
    """Resolve and validate a parsed workload into a ``Cascade``."""
    b = _Builder(spec)
    ranks = b.ranks()
    params = b.params()
    tensors = b.tensors(ranks)
    resolver = _Names(spec, ranks, params)

    # Tensors written by the cascade (and where), before resolving reads.
    written: dict[str, list[int]] = {}
    for i, s in enumerate(spec.statements):
        written.setdefault(s.stmt.lhs.tensor, []).append(i)
        name = s.stmt.lhs.tensor
        if name in resolver.var_rank:
            raise EinsumxError(
                f"cannot write '{name}': it is the index of rank '{resolver.var_rank[name]}'",
                s.text.origin.shifted(s.stmt.lhs.pos),
            )
        if name in params or name in ranks:
            kind = "parameter" if name in params else "rank"
            raise EinsumxError(f"cannot write '{name}': it is a {kind}", s.text.origin.shifted(s.stmt.lhs.pos))

    # Pass 1: outputs, to infer the ranks of undeclared intermediates.
    inferred: dict[str, list] = {}
    for i, s in enumerate(spec.statements):
        lhs = s.stmt.lhs
        origin = s.text.origin
        positions = []
        for idx in lhs.indices:
            positions.append(resolver.output_index_rank(idx, origin))
        if lhs.tensor in tensors:
            t = tensors[lhs.tensor]
            user_ranks = _user_ranks(t, b.outer)
            if len(positions) != len(user_ranks):
                raise EinsumxError(
                    f"'{lhs.tensor}' is declared with {len(user_ranks)} ranks [{', '.join(user_ranks)}] but written with {len(positions)} indices",
                    origin.shifted(lhs.pos),
                )
            for k, (rank, idx) in enumerate(zip(positions, lhs.indices)):
                if rank is not None and rank != user_ranks[k]:
                    raise EinsumxError(
                        f"index '{ast.unparse(idx)}' (rank {rank}) written at position {k + 1} of '{lhs.tensor}', which is rank {user_ranks[k]}",
                        origin.shifted(ast.start(idx)),
                    )
            continue
        prev = inferred.get(lhs.tensor)
        if prev is None:
            inferred[lhs.tensor] = [positions, i]
            continue
        old, j = prev
        if len(old) != len(positions):
            raise EinsumxError(
                f"'{lhs.tensor}' is written with {len(old)} indices on line {spec.statements[j].text.origin.line} and {len(positions)} here",
                origin.shifted(lhs.pos),
            )
        for k, (a, c) in enumerate(zip(old, positions)):
            if a is not None and c is not None and a != c:
                raise EinsumxError(
                    f"'{lhs.tensor}' position {k + 1} is rank {a} on line {spec.statements[j].text.origin.line} but rank {c} here",
                    origin.shifted(lhs.indices[k].pos),
                )
            if a is None:
                old[k] = c
    for name, (positions, i) in inferred.items():
        for k, rank in enumerate(positions):
            if rank is None:
                s = spec.statements[i]
                raise EinsumxError(
                    f"cannot infer the rank of position {k + 1} of '{name}' from constant indices; declare '{name}' under tensors:",
                    s.text.origin.shifted(s.stmt.lhs.pos),
                )
        tensors[name] = Tensor(name, b.outer + tuple(positions), spec.bits, 1.0, spec.statements[i].text.origin, False)

    # Pass 2: resolve each Einsum.
    einsums: list[Einsum] = []
    labels: dict[str, int] = {}
    applied: set[int] = set()
    for i, s in enumerate(spec.statements):
        e = _einsum(i, s, resolver, tensors, written, b.outer, spec, ranks, applied)
        count = labels.get(e.output.tensor, 0)
        labels[e.output.tensor] = count + 1
        einsums.append(e)
    # Distinguish the writers of one tensor: 'RM (init)' and 'RM'.
    for k, e in enumerate(einsums):
        if labels[e.output.tensor] > 1:
            tag = "init" if _is_init(e) else f"line {e.origin.line}"
            if tag == "init" or sum(1 for x in einsums if x.output.tensor == e.output.tensor and not _is_init(x)) > 1:
                einsums[k] = _relabel(e, f"{e.output.tensor} ({tag})")

    for k, f in enumerate(spec.filters):
        if k not in applied:
            b.warnings.append(Warning_(f"filter '{f.text.strip()}' applies to no Einsum (none has all its indices)", f.text.origin))
    used = {e.output.tensor for e in einsums} | {a.tensor for e in einsums for a in e.inputs}
    for name, t in spec.tensors.items():
        if name not in used:
            b.warnings.append(Warning_(f"tensor '{name}' is declared but never used", t.origin))
    outputs = _outputs(spec, einsums, b)
    cascade = Cascade(
        spec.name, spec.description, spec.file,
        MappingProxyType(params), MappingProxyType(ranks), MappingProxyType(tensors),
        tuple(einsums), outputs, (), (), tuple(b.warnings),
    )
    point = evaluate_point(cascade)
    edges = _edges(cascade, point)
    order = _topological(cascade, edges)
    cascade = Cascade(
        cascade.name, cascade.description, cascade.file, cascade.params, cascade.ranks, cascade.tensors,
        cascade.einsums, cascade.outputs, tuple(edges), tuple(order), cascade.warnings,
    )
    check_ranges(cascade, point)
    return cascade


def _has_outer(t: Tensor, outer: tuple[str, ...]) -> bool:
    return bool(outer) and t.ranks[: len(outer)] == outer


def _user_ranks(t: Tensor, outer: tuple[str, ...]) -> tuple[str, ...]:
    """The ranks a workload writes for ``t`` (without the outer ones)."""
    return t.ranks[len(outer):] if _has_outer(t, outer) else t.ranks


def _is_init(e: Einsum) -> bool:
    """An Einsum that writes a constant position along an iterative rank."""
    return any(ix.kind == "const" for ix in e.output.indices) and not e.reduce_vars


def _relabel(e: Einsum, label: str) -> Einsum:
    return Einsum(e.number, label, e.output, e.inputs, e.body, e.reduce_op, e.iter_vars, e.out_vars,
                  e.reduce_vars, e.filters, e.text, e.origin)


class _Names:
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


def _einsum(i, s, names: _Names, tensors, written, outer, spec, ranks, applied: set[int]) -> Einsum:
    stmt, origin = s.stmt, s.text.origin
    outer_ix = tuple(names.index(ast.Name(ranks[r].var, 0), origin) for r in outer)

    def make_access(node: ast.Access, is_output: bool) -> Access:
        if node.tensor not in tensors:
            raise EinsumxError(f"unknown tensor '{node.tensor}'", origin.shifted(node.pos))
        t = tensors[node.tensor]
        has_outer = _has_outer(t, outer)
        user_ranks = _user_ranks(t, outer)
        if len(node.indices) != len(user_ranks):
            raise EinsumxError(
                f"'{node.tensor}' has {len(user_ranks)} ranks [{', '.join(user_ranks)}] but is indexed with {len(node.indices)}",
                origin.shifted(node.pos),
            )
        indices = []
        for k, expr in enumerate(node.indices):
            ix = names.index(expr, origin)
            if ix.kind in ("var", "step"):
                rank = names.var_rank[ix.var]
                if rank != user_ranks[k]:
                    raise EinsumxError(
                        f"index '{ix.text}' (rank {rank}) used at position {k + 1} of '{node.tensor}', which is rank {user_ranks[k]}",
                        origin.shifted(ast.start(expr)),
                    )
            indices.append(ix)
        full = (outer_ix if has_outer else ()) + tuple(indices)
        return Access(node.tensor, full, ast.unparse(node), origin.shifted(node.pos))

    output = make_access(stmt.lhs, True)
    out_vars = tuple(ix.var for ix in output.indices if ix.kind in ("var", "step"))
    seen = set()
    written_from = len(output.indices) - len(stmt.lhs.indices)  # after the outer indices
    for k, ix in enumerate(output.indices):
        if ix.var in seen:
            node = stmt.lhs.indices[k - written_from]
            raise EinsumxError(f"index '{ix.var}' appears twice in the output", origin.shifted(ast.start(node)))
        seen.add(ix.var)

    rhs, reduce_op, over = stmt.rhs, None, None
    if isinstance(rhs, ast.Call) and rhs.over is not None:
        if rhs.func not in operators.REDUCTIONS:
            known = ", ".join(operators.REDUCTIONS)
            raise EinsumxError(f"unknown reduction '{rhs.func}' (known: {known})", origin.shifted(rhs.pos))
        if len(rhs.args) != 1:
            raise EinsumxError(f"reduction '{rhs.func}' takes one expression after ':'", origin.shifted(rhs.pos))
        reduce_op, over, rhs = rhs.func, rhs.over, rhs.args[0]

    # A bare name of a scalar tensor ('Y * X') is an access, not a constant.
    rhs = ast.map_names(rhs, lambda n: ast.Access(n.id, (), n.pos, bracketed=False) if n.id in tensors else n)
    inputs: list[Access] = []
    for node in ast.walk(rhs, indices=False):
        if isinstance(node, ast.Binary) and node.op == "^":
            raise EinsumxError(
                "'^' is not a map operator: write x * x, or exp(y * log(x)) for a general power",
                origin.shifted(node.pos),
            )
        if isinstance(node, ast.Call):
            _check_call(node, origin)
        elif isinstance(node, ast.Access):
            if not node.bracketed and tensors.get(node.tensor) and _user_ranks(tensors[node.tensor], outer):
                raise EinsumxError(f"tensor '{node.tensor}' needs indices, e.g. {node.tensor}[...]", origin.shifted(node.pos))
            inputs.append(make_access(node, False))
        elif isinstance(node, ast.Name):
            if node.id in names.var_rank:
                raise EinsumxError(f"index '{node.id}' cannot be used as a value", origin.shifted(node.pos))
            elif node.id not in names.params and node.id not in names.ranks:
                raise EinsumxError(f"unknown tensor or parameter '{node.id}'", origin.shifted(node.pos))

    in_vars: list[str] = []
    for a in inputs:
        for v in a.vars:
            if v not in in_vars:
                in_vars.append(v)
    reduce_vars = tuple(v for v in in_vars if v not in out_vars)
    if over is not None:
        listed = []
        for n in over:
            if n.id not in names.var_rank:
                raise EinsumxError(f"unknown index '{n.id}': no rank named '{n.id.upper()}'", origin.shifted(n.pos))
            if n.id in out_vars:
                raise EinsumxError(f"index '{n.id}' is reduced but also kept in the output", origin.shifted(n.pos))
            if n.id not in in_vars:
                raise EinsumxError(f"'{reduce_op}' reduces over '{n.id}', which no input uses", origin.shifted(n.pos))
            listed.append(n.id)
        for v in reduce_vars:
            if v not in listed:
                raise EinsumxError(
                    f"index '{v}' is reduced but not listed in {reduce_op}({', '.join(listed)}: ...)",
                    origin.shifted(stmt.rhs.pos),
                )
    elif reduce_vars:
        reduce_op = "sum"
    iter_vars = out_vars + reduce_vars

    items = [(c, s.text) for c in stmt.where]
    for k, f in enumerate(spec.filters):  # workload-level filters apply where all their indices are
        if all(_present(v, iter_vars, ranks) for c in f.compares for v in _filter_vars(c, names)):
            applied.add(k)
            items.extend((c, f.text) for c in f.compares)
    filters = _filters(items, names, iter_vars, ranks)
    return Einsum(i + 1, stmt.lhs.tensor, output, tuple(inputs), rhs, reduce_op, iter_vars, out_vars,
                  reduce_vars, tuple(filters), str(s.text).split("#")[0].strip(), origin)


def _check_call(node: ast.Call, origin: Origin) -> None:
    if node.over is not None:
        raise EinsumxError(
            f"reduction '{node.func}(...: ...)' must be the whole right-hand side; split it into its own Einsum",
            origin.shifted(node.pos),
        )
    if node.func in operators.FUNCTIONS:
        op = operators.FUNCTIONS[node.func]
        if len(node.args) != op.arity:
            raise EinsumxError(
                f"'{node.func}' takes {op.arity} argument{'s' if op.arity > 1 else ''}, got {len(node.args)}",
                origin.shifted(node.pos),
            )
        return
    if node.func in operators.REDUCTIONS:
        raise EinsumxError(f"'{node.func}' needs the indices it reduces, e.g. {node.func}(m: ...)", origin.shifted(node.pos))
    known = ", ".join(operators.FUNCTIONS)
    raise EinsumxError(f"unknown operator '{node.func}' (known: {known})", origin.shifted(node.pos))


def _filters(items, names: _Names, iter_vars, ranks) -> list[Bound]:
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
        missing = [v for v in vars_ if not _present(v, iter_vars, ranks)]
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
            entries.setdefault(tuple(vars_), []).append((side, sympy.simplify((shift - const) / sign), words, where))

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


def _present(v: str, iter_vars, ranks) -> bool:
    """Whether index ``v`` is an index of the Einsum, or the index of a
    split rank all of whose finest parts are."""
    if v in iter_vars:
        return True
    rank = next(r for r in ranks.values() if r.var == v)
    stack, leaves = [rank.name], []
    while stack:
        cur = stack.pop(0)
        if ranks[cur].parts:
            stack[:0] = list(ranks[cur].parts)
        else:
            leaves.append(ranks[cur].var)
    return len(leaves) > 1 and all(leaf in iter_vars for leaf in leaves)


def _filter_vars(c, names: _Names) -> set[str]:
    return {n.id for side in (c.left, c.right) for n in ast.walk(side) if isinstance(n, ast.Name) and n.id in names.var_rank}


def _outputs(spec: WorkloadSpec, einsums: list[Einsum], b: _Builder) -> tuple[str, ...]:
    written = [e.output.tensor for e in einsums]
    read = {a.tensor for e in einsums for a in e.inputs}
    if spec.outputs:
        for o in spec.outputs:
            if o not in written:
                raise EinsumxError(f"output '{o}' is not written by any Einsum", o.origin)
        outputs = tuple(str(o) for o in spec.outputs)
    else:
        outputs = (einsums[-1].output.tensor,)
    for e in einsums:
        t = e.output.tensor
        if t not in read and t not in outputs:
            b.warnings.append(Warning_(f"'{t}' is computed but never used (not listed in outputs:)", e.origin.shifted(0)))
    return outputs


def _edges(cascade: Cascade, point) -> list[Edge]:
    """Producer -> consumer edges, marking loop-carried and final reads."""
    edges: list[Edge] = []
    for ci, e in enumerate(cascade.einsums):
        for a in e.inputs:
            writers = cascade.writers(a.tensor)
            if not writers:
                continue
            rec = _recurrence(cascade, writers)
            if rec is None:
                if ci in writers:
                    raise EinsumxError(
                        f"'{a.text}' reads '{a.tensor}', which this Einsum writes "
                        f"(a recurrence needs an iterative rank: declare it with 'iterative: true')",
                        a.origin,
                    )
                edges.extend(Edge(w, ci, a, False, False) for w in writers)
                continue
            w, k, w_off = rec
            ix = a.indices[k]
            w_var = cascade.einsums[w].output.indices[k].var
            if ix.kind in ("var", "step") and ix.var == w_var:
                if ix.offset > w_off:
                    raise EinsumxError(
                        f"'{a.text}' reads ahead of where '{a.tensor}' is written "
                        f"('{cascade.einsums[w].output.text}', line {cascade.einsums[w].origin.line})",
                        a.origin,
                    )
                if ix.offset < w_off:  # the previous iteration's value, or the initial one
                    edges.append(Edge(w, ci, a, True, False))
                    edges.extend(Edge(x, ci, a, False, False) for x in writers if x != w)
                    continue
                if ci == w:
                    raise EinsumxError(f"'{a.text}' reads the element this Einsum writes", a.origin)
                edges.append(Edge(w, ci, a, False, False))
            elif ix.kind == "const":
                value = point.int(ix.expr)
                chosen = [x for x in writers if _writes(cascade, x, k, value, point)] or list(writers)
                final = w in chosen and value == _write_range(cascade, w, k, point)[1]
                edges.extend(Edge(x, ci, a, False, final and x == w) for x in chosen)
            else:
                edges.extend(Edge(x, ci, a, False, False) for x in writers)
    return edges


def _recurrence(cascade: Cascade, writers: list[int]):
    """(writer, position, offset) of the writer that steps along an iterative
    rank, or None."""
    for w in writers:
        for k, ix in enumerate(cascade.einsums[w].output.indices):
            if ix.kind in ("var", "step") and cascade.rank_of_var(ix.var).iterative:
                return w, k, ix.offset
    return None


def _write_range(cascade: Cascade, w: int, k: int, point) -> tuple[int, int]:
    e = cascade.einsums[w]
    return index_range(cascade, e.output.indices[k], point, var_bounds(cascade, e, point))


def _writes(cascade: Cascade, w: int, k: int, value: int, point) -> bool:
    lo, hi = _write_range(cascade, w, k, point)
    return lo <= value <= hi


def index_range(cascade: Cascade, ix: Index, point, bounds: dict[str, tuple[int, int]] | None = None) -> tuple[int, int]:
    """Smallest and largest value of an index expression over its Einsum's
    iteration space at ``point`` (``bounds``: index ranges narrowed by the
    Einsum's filters, see ``var_bounds``)."""
    lo = hi = int(ix.const.xreplace(point.subs))
    for v, coeff in ix.terms:
        first, last = (bounds or {}).get(v, (0, point.ranks[cascade.var_ranks[v]] - 1))
        k = int(coeff.xreplace(point.subs))
        lo += min(k * first, k * last)
        hi += max(k * first, k * last)
    return lo, hi


def var_bounds(cascade: Cascade, einsum: Einsum, point) -> dict[str, tuple[int, int]]:
    """Ranges of an Einsum's indices cut by its one-index filter bounds
    (``where p < 4`` runs p over 0..3)."""
    out = {}
    for f in einsum.filters:
        for v, lo, hi in ((f.u, f.u_lo, f.u_hi), (f.v, f.v_lo, f.v_hi)):
            if v is None or v not in einsum.iter_vars or (lo is None and hi is None):
                continue
            last = point.ranks[cascade.var_ranks[v]] - 1
            first = 0 if lo is None else max(0, int(sympy.ceiling(lo.xreplace(point.subs))))
            last = last if hi is None else min(last, int(sympy.floor(hi.xreplace(point.subs))))
            out[v] = (first, last)
    return out


def _topological(cascade: Cascade, edges: list[Edge]) -> list[int]:
    n = len(cascade.einsums)
    succ = {i: set() for i in range(n)}
    indeg = [0] * n
    for e in edges:
        if e.carried or e.producer == e.consumer:
            continue
        if e.consumer not in succ[e.producer]:
            succ[e.producer].add(e.consumer)
            indeg[e.consumer] += 1
    ready = [i for i in range(n) if indeg[i] == 0]
    order = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in sorted(succ[i]):
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
    if len(order) < n:
        left = [i for i in range(n) if i not in order]
        cycle = _find_cycle(left, succ)
        path = " -> ".join(f"{cascade.einsums[i].label} (line {cascade.einsums[i].origin.line})" for i in cycle)
        raise EinsumxError(f"cycle: {path}", cascade.einsums[cycle[0]].origin)
    return order


def _find_cycle(nodes: list[int], succ) -> list[int]:
    nodes_set = set(nodes)
    for start in nodes:
        stack, seen = [(start, [start])], set()
        while stack:
            cur, path = stack.pop()
            for nxt in succ[cur]:
                if nxt == start:
                    return path + [start]
                if nxt in nodes_set and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return nodes[:1] + nodes[:1]  # pragma: no cover


def check_ranges(cascade: Cascade, point) -> None:
    """Every read stays inside its tensor, and no element is written twice,
    at ``point`` (done at load for the defaults and again for each analysed
    point)."""
    write_ranges: dict[str, list] = {}
    for wi, e in enumerate(cascade.einsums):
        rng = [index_range(cascade, ix, point, var_bounds(cascade, e, point)) for ix in e.output.indices]
        for other_i, other in write_ranges.get(e.output.tensor, []):
            if all(a[0] <= b[1] and b[0] <= a[1] for a, b in zip(rng, other)):
                first = cascade.einsums[other_i]
                raise EinsumxError(
                    f"tensor '{e.output.tensor}' is written twice: here and on line {first.origin.line} ('{first.text}')",
                    e.origin,
                )
        write_ranges.setdefault(e.output.tensor, []).append((wi, rng))
    for e in cascade.einsums:
        narrowed = var_bounds(cascade, e, point)
        for a in e.inputs:
            t = cascade.tensors[a.tensor]
            for k, ix in enumerate(a.indices):
                lo, hi = index_range(cascade, ix, point, narrowed)
                if a.tensor in write_ranges:
                    bounds = (min(r[k][0] for _, r in write_ranges[a.tensor]), max(r[k][1] for _, r in write_ranges[a.tensor]))
                else:
                    bounds = (0, point.ranks[t.ranks[k]] - 1)
                if lo < bounds[0] or hi > bounds[1]:
                    what = "written" if a.tensor in write_ranges else "its size"
                    raise EinsumxError(
                        f"'{a.text}' reads {a.tensor} along rank {t.ranks[k]} from {lo} to {hi}, "
                        f"outside {bounds[0]}..{bounds[1]} ({what})",
                        a.origin,
                    )
