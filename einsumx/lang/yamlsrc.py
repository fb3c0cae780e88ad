"""YAML loading that remembers where every value came from.

PyYAML's composer gives each node a start mark; we turn the node tree into
plain Python containers whose scalars and entries keep their ``Origin``, so a
mistake anywhere in a workload file can be reported at its line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import EinsumxError, Origin


class Text(str):
    """A string scalar that knows its origin."""

    origin: Origin

    def __new__(cls, value: str, origin: Origin):
        obj = super().__new__(cls, value)
        obj.origin = origin
        return obj


@dataclass
class Node:
    """A YAML value with its origin: ``value`` is a python scalar, a dict of
    ``str -> Node`` or a list of ``Node``."""

    value: Any
    origin: Origin
    style: str | None = None
    """The scalar style ('|' or '>' for block scalars, quote char, or None)."""
    key_origins: dict[str, Origin] = field(default_factory=dict)
    tag: str | None = None
    """A local tag (``!Component``), as Timeloop's files use them; else None."""

    def text(self) -> Text:
        return Text(str(self.value), self.origin)


class SourceFile:
    """A YAML source file and its lines."""

    def __init__(self, text: str, name: str):
        self.text = text
        self.name = name
        self.lines = text.splitlines()

    def origin(self, line0: int, col0: int) -> Origin:
        """Origin from PyYAML's 0-based mark."""
        src = self.lines[line0] if 0 <= line0 < len(self.lines) else None
        return Origin(self.name, line0 + 1, col0 + 1, src)

    def scalar_lines(self, node: Node) -> list[Text]:
        """The lines of a string scalar, each with the origin of its first
        character; block scalars ('|') keep their source lines."""
        value = str(node.value)
        o = node.origin
        if node.style in ("|", ">"):
            out: list[Text] = []
            line0 = (o.line or 1)  # content starts on the line after the indicator
            for k, piece in enumerate(value.split("\n")):
                src_idx = line0 + k  # 0-based index of the source line
                src = self.lines[src_idx] if src_idx < len(self.lines) else piece
                col = src.find(piece) if piece else 0
                out.append(Text(piece, Origin(self.name, src_idx + 1, max(col, 0) + 1, src)))
            return out
        if "\n" in value:
            # A folded plain or quoted scalar: positions inside are approximate.
            return [Text(piece, o) for piece in value.split("\n")]
        shift = 1 if node.style in ("'", '"') else 0
        return [Text(value, o.shifted(shift))]


def load_yaml(text: str, name: str, what: str = "workload file") -> tuple[Node, SourceFile]:
    """Parse ``text`` into a ``Node`` tree.

    >>> node, _ = load_yaml("a: 1\\nb: [x, y]\\n", "f.yaml")
    >>> node.value["b"].value[1].origin.line
    2
    """
    src = SourceFile(text, name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        origin = src.origin(mark.line, mark.column) if mark else Origin(name)
        raise EinsumxError(f"invalid YAML: {exc.problem or exc.context}", origin) from None
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        raise EinsumxError(f"invalid YAML: {exc}", Origin(name)) from None
    except RecursionError:
        raise EinsumxError("invalid YAML: nested too deeply", Origin(name, 1, 1)) from None
    if root is None:
        raise EinsumxError(f"empty {what}", Origin(name, 1, 1))
    try:
        return _convert(root, src, yaml.SafeLoader("")), src
    except RecursionError:
        raise EinsumxError("invalid YAML: nested too deeply", Origin(name, 1, 1)) from None


def _convert(node: yaml.Node, src: SourceFile, loader: yaml.SafeLoader) -> Node:
    origin = src.origin(node.start_mark.line, node.start_mark.column)
    tag = node.tag if node.tag.startswith("!") and not node.tag.startswith("!!") else None
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Node] = {}
        key_origins: dict[str, Origin] = {}
        for key_node, value_node in node.value:
            key_origin = src.origin(key_node.start_mark.line, key_node.start_mark.column)
            if not isinstance(key_node, yaml.ScalarNode):
                raise EinsumxError("mapping keys must be plain names", key_origin)
            key = str(key_node.value)
            if key in out:
                raise EinsumxError(f"duplicate key '{key}'", key_origin)
            out[key] = _convert(value_node, src, loader)
            key_origins[key] = key_origin
        return Node(out, origin, key_origins=key_origins, tag=tag)
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(item, src, loader) for item in node.value], origin, tag=tag)
    if tag is not None:  # a tagged scalar (``!Nothing``) keeps its text
        return Node(Text(str(node.value), origin), origin, style=node.style, tag=tag)
    try:
        value = loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        # e.g. a timestamp-looking scalar such as 2001-13-45
        raise EinsumxError(f"invalid YAML value '{node.value}': {exc}", origin) from None
    if isinstance(value, str):
        value = Text(value, origin)
    return Node(value, origin, style=node.style)


def read_source(path, what: str) -> str:
    """The text of a user's file, or one error naming it (``what``: 'workload', 'architecture', ...)."""
    from pathlib import Path

    try:
        return Path(path).read_text()
    except OSError as exc:
        raise EinsumxError(f"cannot read {what}: {exc.strerror}", Origin(str(path))) from None


# -- structure checks shared by every YAML format (workloads, architectures, mappings)

def expect_mapping(node: Node, what: str) -> dict[str, Node]:
    """``node``'s entries, or an error saying ``what`` must be a mapping."""
    if not isinstance(node.value, dict):
        raise EinsumxError(f"{what} must be a mapping of names to values", node.origin)
    return node.value


def expect_list(node: Node, what: str) -> list[Node]:
    """``node``'s items (a single scalar counts as a list of one)."""
    if isinstance(node.value, list):
        return node.value
    if isinstance(node.value, str):
        return [node]
    raise EinsumxError(f"'{what}' must be a list", node.origin)


def expect_keys(node: Node, known, what: str) -> None:
    """Reject any key of ``node`` not in ``known`` (a typo is an error)."""
    for key in node.value:
        if key not in known:
            options = ", ".join(known)
            raise EinsumxError(f"unknown key '{key}' in {what} (expected one of: {options})", node.key_origins[key])
