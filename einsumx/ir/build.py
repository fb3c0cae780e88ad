"""From a parsed workload (``lang.spec``) to a validated ``Cascade``.

Checks, each with one clear error at the offending text: unknown tensors,
ranks and names; rank and shape mismatches; a tensor written twice; cycles;
reads outside what is written; non-integer or non-positive sizes; and a
warning for outputs nobody uses.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from ..errors import EinsumxError, Origin, Warning_
from ..lang import ast
from ..lang.spec import WorkloadSpec, read_spec
from . import operators
from .cascade import Access, Cascade, Einsum, Param, Rank, Tensor
from .filters import filter_vars, group_filters, is_present
from .graph import check_ranges, dependency_edges, dependency_order
from .names import Names
from .values import evaluate_point


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
            out[name] = Rank(name, size, size_text, r.origin, r.iterative, stop, tuple(str(p) for p in r.split),
                             parents.get(name), r.stop_origin)
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
            out[name] = Tensor(name, prefix + tuple(str(r) for r in t.ranks), t.bits or spec.bits, t.density, t.origin)
        return out


def build(spec: WorkloadSpec) -> Cascade:
    """Resolve and validate a parsed workload into a ``Cascade``."""
    b = _Builder(spec)
    ranks = b.ranks()
    params = b.params()
    tensors = b.tensors(ranks)
    resolver = Names(spec, ranks, params)

    for s in spec.statements:
        name = s.stmt.lhs.tensor
        at = s.text.origin.shifted(s.stmt.lhs.pos)
        if name in resolver.var_rank:
            raise EinsumxError(f"cannot write '{name}': it is the index of rank '{resolver.var_rank[name]}'", at)
        if name in params or name in ranks:
            raise EinsumxError(f"cannot write '{name}': it is a {'parameter' if name in params else 'rank'}", at)
    tensors.update(_intermediates(spec, resolver, tensors, b.outer))

    applied: set[int] = set()
    einsums = _label_writers([_einsum(i, s, resolver, tensors, b.outer, spec, ranks, applied)
                              for i, s in enumerate(spec.statements)])
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
    edges = dependency_edges(cascade, point)
    cascade = replace(cascade, edges=tuple(edges), order=tuple(dependency_order(cascade, edges)))
    check_ranges(cascade, point)
    return cascade


def _intermediates(spec: WorkloadSpec, names: Names, tensors: dict[str, Tensor], outer: tuple[str, ...]) -> dict[str, Tensor]:
    """Check every output against its declaration, and infer the ranks of
    undeclared tensors from the indices they are written with (a constant
    position, as in an initialisation ``RM[0,p]``, takes its rank from
    another writer)."""
    inferred: dict[str, tuple[list, int]] = {}
    for i, s in enumerate(spec.statements):
        lhs, origin = s.stmt.lhs, s.text.origin
        positions = [names.output_index_rank(idx, origin) for idx in lhs.indices]
        if lhs.tensor in tensors:
            user_ranks = _user_ranks(tensors[lhs.tensor], outer)
            if len(positions) != len(user_ranks):
                raise EinsumxError(
                    f"'{lhs.tensor}' is declared with {len(user_ranks)} ranks [{', '.join(user_ranks)}] "
                    f"but written with {len(positions)} indices",
                    origin.shifted(lhs.pos),
                )
            for k, (rank, idx) in enumerate(zip(positions, lhs.indices)):
                if rank is not None and rank != user_ranks[k]:
                    raise EinsumxError(
                        f"index '{ast.unparse(idx)}' (rank {rank}) written at position {k + 1} of "
                        f"'{lhs.tensor}', which is rank {user_ranks[k]}",
                        origin.shifted(ast.start(idx)),
                    )
            continue
        if lhs.tensor not in inferred:
            inferred[lhs.tensor] = (positions, i)
            continue
        known, j = inferred[lhs.tensor]
        first_line = spec.statements[j].text.origin.line
        if len(known) != len(positions):
            raise EinsumxError(
                f"'{lhs.tensor}' is written with {len(known)} indices on line {first_line} and {len(positions)} here",
                origin.shifted(lhs.pos),
            )
        for k, (a, c) in enumerate(zip(known, positions)):
            if a is not None and c is not None and a != c:
                raise EinsumxError(
                    f"'{lhs.tensor}' position {k + 1} is rank {a} on line {first_line} but rank {c} here",
                    origin.shifted(ast.start(lhs.indices[k])),
                )
            if a is None:
                known[k] = c
    out = {}
    for name, (positions, i) in inferred.items():
        if None in positions:
            s = spec.statements[i]
            raise EinsumxError(
                f"cannot infer the rank of position {positions.index(None) + 1} of '{name}' from constant indices; "
                f"declare '{name}' under tensors:",
                s.text.origin.shifted(s.stmt.lhs.pos),
            )
        out[name] = Tensor(name, outer + tuple(positions), spec.bits, 1.0, spec.statements[i].text.origin)
    return out


def _label_writers(einsums: list[Einsum]) -> list[Einsum]:
    """Unique labels when a tensor has several writers: 'RM (init)' for an
    initialisation, 'H (line 6)' when two writers both iterate."""
    out = []
    for e in einsums:
        same = [x for x in einsums if x.output.tensor == e.output.tensor]
        if len(same) > 1 and _is_init(e):
            e = replace(e, label=f"{e.label} (init)")
        elif sum(1 for x in same if not _is_init(x)) > 1:
            e = replace(e, label=f"{e.label} (line {e.origin.line})")
        out.append(e)
    return out


def _has_outer(t: Tensor, outer: tuple[str, ...]) -> bool:
    return bool(outer) and t.ranks[: len(outer)] == outer


def _user_ranks(t: Tensor, outer: tuple[str, ...]) -> tuple[str, ...]:
    """The ranks a workload writes for ``t`` (without the outer ones)."""
    return t.ranks[len(outer):] if _has_outer(t, outer) else t.ranks


def _is_init(e: Einsum) -> bool:
    """An Einsum that writes a constant position along an iterative rank."""
    return any(ix.kind == "const" for ix in e.output.indices) and not e.reduce_vars


def _einsum(i, s, names: Names, tensors, outer, spec, ranks, applied: set[int]) -> Einsum:
    stmt, origin = s.stmt, s.text.origin
    outer_ix = tuple(names.index(ast.Name(ranks[r].var, 0), origin) for r in outer)

    def make_access(node: ast.Access) -> Access:
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

    output = make_access(stmt.lhs)
    out_vars = tuple(ix.var for ix in output.indices if ix.kind in ("var", "step"))
    seen = set()
    written_from = len(output.indices) - len(stmt.lhs.indices)  # after the outer indices
    for k, ix in enumerate(output.indices):
        if ix.var is None:  # a constant position
            continue
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
            inputs.append(make_access(node))
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
        if all(is_present(v, iter_vars, ranks) for c in f.compares for v in filter_vars(c, names)):
            applied.add(k)
            items.extend((c, f.text) for c in f.compares)
    filters = group_filters(items, names, iter_vars, ranks)
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


