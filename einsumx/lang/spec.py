"""Reading a workload file's structure: which keys, of which types.

This layer checks the *shape* of the YAML (known keys, right types) and
parses every expression and Einsum; ``einsumx.ir.build`` then resolves names
and checks meaning. A typo in a key is an error, not a silently ignored
field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EinsumxError, Origin
from . import ast
from .parser import parse_comparisons, parse_expression, parse_statement
from .yamlsrc import Node, SourceFile, Text, expect_keys, expect_list, expect_mapping, load_yaml

TOP_KEYS = {
    "name": "a short name for the workload",
    "description": "one paragraph on what the cascade computes",
    "params": "parameters with their defaults",
    "ranks": "ranks and their sizes",
    "outer": "ranks prepended to every tensor and Einsum (e.g. [B, H])",
    "bits": "default element width in bits (16)",
    "tensors": "declared tensors: ranks, bits, density",
    "einsums": "the cascade, one Einsum per line",
    "where": "filters applied to every Einsum that has their indices",
    "outputs": "the tensors the cascade produces",
}
RANK_KEYS = ("size", "iterative", "stop", "split")
TENSOR_KEYS = ("ranks", "bits", "density", "outer")

RANK_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*\Z")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
RESERVED = {"inf", "where", "and"}


@dataclass
class ParamSpec:
    name: str
    expr: ast.Expr
    text: str
    origin: Origin


@dataclass
class RankSpec:
    name: str
    size: ast.Expr | None
    size_text: str
    origin: Origin
    iterative: bool = False
    stop: tuple[ast.Compare, ...] | None = None
    stop_text: str = ""
    stop_origin: Origin | None = None
    split: list[Text] = field(default_factory=list)


@dataclass
class TensorSpec:
    name: str
    ranks: list[Text]
    bits: int | None
    density: float
    outer: bool
    origin: Origin


@dataclass
class StatementSpec:
    stmt: ast.Statement
    text: Text


@dataclass
class FilterSpec:
    compares: tuple[ast.Compare, ...]
    text: Text


@dataclass
class WorkloadSpec:
    file: str
    name: str
    description: str
    params: dict[str, ParamSpec]
    ranks: dict[str, RankSpec]
    outer: list[Text]
    bits: int
    tensors: dict[str, TensorSpec]
    statements: list[StatementSpec]
    filters: list[FilterSpec]
    outputs: list[Text]
    origin: Origin


def read_spec(text: str, file: str) -> WorkloadSpec:
    """Check and parse the structure of a workload file's text."""
    root, src = load_yaml(text, file)
    top = _mapping(root, "the workload")
    _known_keys(root, TOP_KEYS, "workload")
    for required in ("ranks", "einsums"):
        if required not in top:
            raise EinsumxError(f"missing '{required}:' ({TOP_KEYS[required]})", root.origin)

    name = _string(top["name"], "name") if "name" in top else Path(file).stem
    description = _string(top["description"], "description") if "description" in top else ""
    params = {}
    if "params" in top:
        for key, node in _mapping(top["params"], "params").items():
            origin = top["params"].key_origins[key]
            _check_name(key, origin, "parameter", NAME)
            expr_text = _scalar_text(node, f"parameter '{key}'")
            params[key] = ParamSpec(key, parse_expression(expr_text, expr_text.origin), expr_text, origin)

    ranks = {}
    for key, node in _mapping(top["ranks"], "ranks").items():
        ranks[key] = _rank(key, node, top["ranks"].key_origins[key])

    outer = [_scalar_text(n, "outer rank") for n in _list(top["outer"], "outer")] if "outer" in top else []
    bits = _positive_int(top["bits"], "bits") if "bits" in top else 16

    tensors = {}
    if "tensors" in top:
        for key, node in _mapping(top["tensors"], "tensors").items():
            tensors[key] = _tensor(key, node, top["tensors"].key_origins[key])

    statements = [StatementSpec(parse_statement(line, line.origin), line) for line in _lines(top["einsums"], src, "einsums")]
    if not statements:
        raise EinsumxError("'einsums:' is empty", top["einsums"].origin)
    filters = []
    if "where" in top:
        filters = [FilterSpec(parse_comparisons(line, line.origin), line) for line in _lines(top["where"], src, "where")]
    outputs = [_scalar_text(n, "output") for n in _list(top["outputs"], "outputs")] if "outputs" in top else []
    return WorkloadSpec(file, name, description, params, ranks, outer, bits, tensors, statements, filters, outputs, root.origin)


# -- helpers -----------------------------------------------------------------

_mapping = expect_mapping
_list = expect_list
_known_keys = expect_keys


def _check_name(name: str, origin: Origin, what: str, pattern: re.Pattern) -> None:
    if not pattern.match(name) or name in RESERVED:
        rule = "start with an uppercase letter" if pattern is RANK_NAME else "be an identifier"
        raise EinsumxError(f"invalid {what} name '{name}': names must {rule} and not be one of {sorted(RESERVED)}", origin)


def _string(node: Node, what: str) -> str:
    if isinstance(node.value, bool) or not isinstance(node.value, (str, int, float)):
        raise EinsumxError(f"'{what}' must be a string", node.origin)
    return str(node.value)


def _scalar_text(node: Node, what: str) -> Text:
    if isinstance(node.value, bool) or not isinstance(node.value, (str, int, float)):
        # also YAML dates and timestamps: '2001-12-25' is not a size
        raise EinsumxError(f"{what} must be a number or an expression", node.origin)
    if isinstance(node.value, Text):
        return node.value
    return Text(str(node.value), node.origin)


def _positive_int(node: Node, what: str) -> int:
    if isinstance(node.value, bool) or not isinstance(node.value, int) or node.value <= 0:
        raise EinsumxError(f"{what} must be a positive integer, got '{node.value}'", node.origin)
    return node.value


def _rank(name: str, node: Node, origin: Origin) -> RankSpec:
    _check_name(name, origin, "rank", RANK_NAME)
    if not isinstance(node.value, dict):
        text = _scalar_text(node, f"the size of rank '{name}'")
        return RankSpec(name, parse_expression(text, text.origin), text, node.origin)
    _known_keys(node, RANK_KEYS, f"rank '{name}'")
    fields = node.value
    spec = RankSpec(name, None, "", node.origin)
    if "size" in fields:
        text = _scalar_text(fields["size"], f"the size of rank '{name}'")
        spec.size, spec.size_text, spec.origin = parse_expression(text, text.origin), text, fields["size"].origin
    if "iterative" in fields:
        if not isinstance(fields["iterative"].value, bool):
            raise EinsumxError(f"'iterative' of rank '{name}' must be true or false", fields["iterative"].origin)
        spec.iterative = fields["iterative"].value
    if "stop" in fields:
        text = _scalar_text(fields["stop"], f"the stopping bound of rank '{name}'")
        spec.stop, spec.stop_text, spec.stop_origin = parse_comparisons(text, text.origin), text, text.origin
        spec.iterative = True
    if "split" in fields:
        spec.split = [_scalar_text(n, "split part") for n in _list(fields["split"], "split")]
        if len(spec.split) < 2:
            raise EinsumxError(f"rank '{name}' must be split into at least two parts", fields["split"].origin)
    if spec.size is None and spec.stop is None:
        raise EinsumxError(f"rank '{name}' needs a size (or a stopping bound)", origin)
    return spec


def _tensor(name: str, node: Node, origin: Origin) -> TensorSpec:
    _check_name(name, origin, "tensor", NAME)
    if isinstance(node.value, list):
        return TensorSpec(name, [_scalar_text(n, "rank") for n in node.value], None, 1.0, True, origin)
    if not isinstance(node.value, dict):
        raise EinsumxError(f"tensor '{name}' must be a list of ranks or a mapping with 'ranks:'", node.origin)
    _known_keys(node, TENSOR_KEYS, f"tensor '{name}'")
    fields = node.value
    if "ranks" not in fields:
        raise EinsumxError(f"tensor '{name}' needs 'ranks:' (a list, [] for a scalar)", node.origin)
    ranks = [_scalar_text(n, "rank") for n in _list(fields["ranks"], "ranks")] if fields["ranks"].value else []
    bits = _positive_int(fields["bits"], f"bits of tensor '{name}'") if "bits" in fields else None
    density = 1.0
    if "density" in fields:
        d = fields["density"].value
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 1:
            raise EinsumxError(f"density of tensor '{name}' must be a number in (0, 1], got '{d}'", fields["density"].origin)
        density = float(d)
    outer = True
    if "outer" in fields:
        if not isinstance(fields["outer"].value, bool):
            raise EinsumxError(f"'outer' of tensor '{name}' must be true or false", fields["outer"].origin)
        outer = fields["outer"].value
    return TensorSpec(name, ranks, bits, density, outer, origin)


def _lines(node: Node, src: SourceFile, what: str) -> list[Text]:
    """Statements given as a list of strings or as one block of lines;
    blank and comment-only lines are skipped."""
    if isinstance(node.value, list):
        out = []
        for item in node.value:
            if isinstance(item.value, dict):
                raise EinsumxError(
                    f"each entry of '{what}' must be a string: YAML reads 'a: b' as a mapping, so quote "
                    f"entries that contain ': ' (e.g. a reduction), or write them as a block ('{what}: |')",
                    item.origin,
                )
            if not isinstance(item.value, str):
                raise EinsumxError(f"each entry of '{what}' must be a string", item.origin)
            out.extend(src.scalar_lines(item))
    elif isinstance(node.value, str):
        if node.style == ">":
            raise EinsumxError(f"write '{what}' as a literal block ('|'), which keeps one statement per line; "
                               "'>' folds the lines into one", node.origin)
        out = src.scalar_lines(node)
    else:
        raise EinsumxError(f"'{what}' must be a list of strings or a block of lines", node.origin)
    return [line for line in out if line.strip() and not line.strip().startswith("#")]
