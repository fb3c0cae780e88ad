"""Mapping files: how a cascade runs on an architecture.

A mapping is a list of *phases* run one after another (each phase a fused
group of Einsums; data crossing phases goes through DRAM). A phase says:

- ``bind``: which array runs each Einsum (``PE2D: [BQK, LM, SLN]``), or
  ``auto`` for the mapper to choose;
- ``spatial``: per array and axis, the index variables to spread over it,
  first present wins (``PE2D: {rows: [m0, m], cols: [p]}``);
- ``loops``: the temporal loop nest around one *step*, outermost first; a
  loop is an index variable (``m1``: one index per iteration) or
  ``{var: tile}`` (``{p: rows}``: ``rows`` indices per iteration), where a
  tile is a number or the name of a tile size in ``tiles``;
- ``tiles``: tile sizes, each a number, a list of candidates, or ``auto``
  (the mapper picks among powers of two);
- ``schedule``: how the arrays share a step: ``sequential`` (one Einsum at
  a time), ``staged`` (stages separated by barriers where data crosses
  arrays, the tail of a step overlapping the next step: FuseMax's
  interleaving) or ``pipelined`` (steps software-pipelined across arrays,
  bounded by the busiest array and by loop-carried recurrences), or
  ``auto`` for the mapper to choose;
- ``overlap``: whether DRAM transfers overlap compute (default true).

A file without ``phases:`` is one phase whose keys sit at the top. ``set``
fixes workload parameters (``chunk: 256`` so that M0 matches the array).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EinsumxError, Origin
from ..lang.yamlsrc import Node, Text, expect_keys, expect_list, expect_mapping, load_yaml, read_source

TOP_KEYS = {
    "name": "the mapping's name",
    "description": "one paragraph",
    "workload": "the workload it is written for (checked)",
    "architecture": "the architecture it is written for (checked)",
    "set": "workload parameters the mapping fixes",
    "phases": "a list of phases",
}
PHASE_KEYS = {
    "name": "the phase's name",
    "einsums": "the Einsums of the phase ('all' or a list)",
    "bind": "array -> Einsums it runs",
    "spatial": "array -> axis -> index variables",
    "loops": "the temporal loop nest, outermost first",
    "tiles": "tile sizes: a number, candidates or auto",
    "schedule": "sequential, staged or pipelined",
    "overlap": "whether DRAM transfers overlap compute",
}
SCHEDULES = ("sequential", "staged", "pipelined")
"""``auto`` (in a file) asks the mapper to pick one of these."""
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Loop:
    var: Text
    tile: int | str
    """Indices per iteration: a number or a tile name."""


@dataclass
class PhaseSpec:
    name: str
    einsums: list[Text] | None
    """Einsum labels, or None for all."""
    bind: dict[str, list[Text]] | None
    """None: the mapper binds (``bind: auto``)."""
    spatial: dict[str, dict[str, list[Text]]]
    loops: list[Loop]
    tiles: dict[str, list[int] | None]
    """Tile name -> candidates (None: automatic)."""
    schedule: str
    overlap: bool
    origin: Origin
    key_origins: dict[str, Origin] = field(default_factory=dict)


@dataclass
class MappingSpec:
    name: str
    description: str
    file: str
    workload: str | None
    architecture: str | None
    set: dict[str, tuple[Text, Origin]]
    phases: list[PhaseSpec]
    origin: Origin


def load_mapping(path: str | Path) -> MappingSpec:
    return parse_mapping(read_source(path, "mapping"), str(path))


def parse_mapping(text: str, file: str = "<mapping>") -> MappingSpec:
    root, _ = load_yaml(text, file, what="mapping file")
    top = expect_mapping(root, "the mapping")
    if "phases" in top:
        expect_keys(root, TOP_KEYS, "mapping")
        phases = [_phase(n, i) for i, n in enumerate(expect_list(top["phases"], "phases"))]
        if not phases:
            raise EinsumxError("'phases:' is empty", top["phases"].origin)
    else:
        expect_keys(root, {**TOP_KEYS, **PHASE_KEYS}, "mapping")
        own = {k: v for k, v in top.items() if k in PHASE_KEYS and k != "name"}
        phases = [_phase(Node(own, root.origin, key_origins={k: root.key_origins[k] for k in own}), 0)]
    settings = {}
    if "set" in top:
        for k, n in expect_mapping(top["set"], "set").items():
            if isinstance(n.value, bool) or not isinstance(n.value, (int, float, str)):
                raise EinsumxError(f"set: {k} must be a number or an expression", n.origin)
            settings[k] = (Text(str(n.value), n.origin), top["set"].key_origins[k])
    return MappingSpec(
        name=str(top["name"].value) if "name" in top else Path(file).stem,
        description=" ".join(str(top["description"].value).split()) if "description" in top else "",
        file=file,
        workload=str(top["workload"].value) if "workload" in top else None,
        architecture=str(top["architecture"].value) if "architecture" in top else None,
        set=settings,
        phases=phases,
        origin=root.origin,
    )


def _names(node: Node, what: str) -> list[Text]:
    out = []
    for n in expect_list(node, what):
        if not isinstance(n.value, str):
            raise EinsumxError(f"{what}: expected a name, got '{n.value}'", n.origin)
        out.append(n.value)
    return out


def _phase(node: Node, i: int) -> PhaseSpec:
    entries = expect_mapping(node, f"phase {i + 1}")
    expect_keys(node, PHASE_KEYS, f"phase {i + 1}")
    name = str(entries["name"].value) if "name" in entries else f"phase {i + 1}"
    einsums = None
    if "einsums" in entries and entries["einsums"].value != "all":
        einsums = _names(entries["einsums"], "einsums")
    bind: dict | None = {}
    if "bind" in entries and entries["bind"].value == "auto":
        bind = None
    elif "bind" in entries:
        for array, n in expect_mapping(entries["bind"], "bind").items():
            bind[Text(array, entries["bind"].key_origins[array])] = _names(n, f"bind: {array}")
    spatial = {}
    if "spatial" in entries:
        for array, n in expect_mapping(entries["spatial"], "spatial").items():
            axes = {}
            for axis, m in expect_mapping(n, f"spatial: {array}").items():
                axes[Text(axis, n.key_origins[axis])] = _names(m, f"spatial: {array}.{axis}")
            spatial[Text(array, entries["spatial"].key_origins[array])] = axes
    loops = []
    if "loops" in entries:
        for n in expect_list(entries["loops"], "loops"):
            if isinstance(n.value, str):
                loops.append(Loop(n.value, 1))
            elif isinstance(n.value, dict) and len(n.value) == 1:
                (var, t), = n.value.items()
                var = Text(var, n.key_origins[var])
                if isinstance(t.value, bool) or not isinstance(t.value, (int, str)):
                    raise EinsumxError(f"loop over {var}: the tile must be a whole number or a tile name", t.origin)
                if isinstance(t.value, int) and t.value <= 0:
                    raise EinsumxError(f"loop over {var}: the tile must be positive, got {t.value}", t.origin)
                if isinstance(t.value, str) and not IDENT.match(t.value):
                    raise EinsumxError(f"loop over {var}: '{t.value}' is not a tile name", t.origin)
                loops.append(Loop(var, t.value))
            else:
                raise EinsumxError("a loop is an index variable ('m1') or {variable: tile} ('{p: rows}')", n.origin)
    tiles = {}
    if "tiles" in entries:
        for t, n in expect_mapping(entries["tiles"], "tiles").items():
            if n.value == "auto":
                tiles[t] = None
            elif isinstance(n.value, int) and not isinstance(n.value, bool) and n.value > 0:
                tiles[t] = [n.value]
            elif isinstance(n.value, list) and n.value and all(isinstance(m.value, int) and not isinstance(m.value, bool) and m.value > 0 for m in n.value):
                tiles[t] = [m.value for m in n.value]
            else:
                raise EinsumxError(f"tile '{t}' must be a positive whole number, a list of them, or auto", n.origin)
    for loop in loops:
        if isinstance(loop.tile, str) and loop.tile not in tiles:
            tiles[loop.tile] = None
    schedule = "staged"
    if "schedule" in entries:
        schedule = str(entries["schedule"].value)
        if schedule not in SCHEDULES + ("auto",):
            raise EinsumxError(f"unknown schedule '{schedule}' (one of: {', '.join(SCHEDULES)}, auto)", entries["schedule"].origin)
    overlap = True
    if "overlap" in entries:
        if not isinstance(entries["overlap"].value, bool):
            raise EinsumxError("overlap must be true or false", entries["overlap"].origin)
        overlap = entries["overlap"].value
    return PhaseSpec(name, einsums, bind, spatial, loops, tiles, schedule, overlap, node.origin, dict(node.key_origins))
