"""Architecture templates: a spatial array behind a global buffer and DRAM.

A template (``architectures/*.yaml``) is data: the clock, DRAM (bandwidth,
access width, energy per access), one global buffer (capacity, row width,
banks, energy per row access, area per MiB) and one or more compute arrays
(axes and their sizes, a register file per PE, and the operators each PE
runs with their cycles, energy and area). An operator a PE has no unit for
is written as the operators that emulate it (``exp: {via: {mac: 6, add:
1}}``); its cycles and energy are theirs.

Every number is also a sympy symbol named by its path (``GLB.capacity_bytes``,
``PE2D.rows``, ``PE2D.mac.energy_pj``), so the evaluation model stays
symbolic in the hardware and a sweep can vary any of them.

>>> arch = load_architecture("architectures/fusemax.yaml")  # doctest: +SKIP
>>> arch.arrays["PE2D"].pes_value                            # doctest: +SKIP
65536
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from ..errors import EinsumxError, Origin
from ..ir.operators import COST_CLASSES
from ..lang.yamlsrc import Node, expect_keys, expect_mapping, load_yaml, read_source

ROOT = Path(__file__).resolve().parents[2]
"""The project root (architectures/ and workloads/ live there)."""

UNITS = {
    "_bytes": {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9},
    "_bytes_per_s": {"B/s": 1, "KiB/s": 2**10, "MiB/s": 2**20, "GiB/s": 2**30, "MB/s": 1e6, "GB/s": 1e9},
    "_hz": {"Hz": 1, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z/]+)?\s*$")

TOP_KEYS = {
    "name": "the template's name",
    "description": "one paragraph",
    "technology": "process node, for the record",
    "clock_hz": "clock frequency",
    "word_bits": "datapath width",
    "dram": "off-chip memory",
    "global_buffer": "the on-chip buffer",
    "arrays": "compute arrays",
}
DRAM_KEYS = ("bandwidth_bytes_per_s", "access_bits", "read_pj", "write_pj")
BUFFER_KEYS = ("capacity_bytes", "row_bits", "banks", "read_pj", "write_pj", "area_mm2_per_mib")
ARRAY_KEYS = ("axes", "register_file", "operators", "idle_pj_per_pe_cycle", "description")
RF_KEYS = ("words", "read_pj", "write_pj", "area_um2_per_word")
OP_KEYS = ("cycles", "energy_pj", "area_um2", "via", "absorbs_add")


@dataclass(frozen=True)
class Operator:
    """How one cost class runs on a PE: natively (cycles, energy, a unit
    of some area) or emulated by other classes (``via``)."""

    name: str
    cycles: sympy.Expr
    energy_pj: sympy.Expr
    area_um2: sympy.Expr
    via: dict[str, int] | None
    absorbs_add: bool
    """``exp(a - b)`` costs one exp: the unit's input adder does the subtraction."""


@dataclass
class Array:
    """A 1D or 2D array of identical PEs."""

    name: str
    axes: dict[str, sympy.Symbol]
    """Axis name -> its size (a symbol); row-major order."""
    operators: dict[str, Operator]
    rf_words: sympy.Expr
    rf_read_pj: sympy.Expr
    rf_write_pj: sympy.Expr
    rf_area_um2_per_word: sympy.Expr
    origin: Origin
    description: str = ""
    idle_pj_per_pe_cycle: sympy.Expr = sympy.Integer(0)
    """Energy of a PE in a cycle it does no work (clock and leakage)."""

    @property
    def pes(self) -> sympy.Expr:
        out = sympy.Integer(1)
        for size in self.axes.values():
            out *= size
        return out

    def supports(self, cls: str) -> bool:
        return cls in self.operators

    def cycles(self, cls: str) -> sympy.Expr:
        """Cycles one PE spends on one ``cls`` operation."""
        op = self.operators[cls]
        if op.via is None:
            return op.cycles
        return sum((n * self.operators[c].cycles for c, n in op.via.items()), sympy.Integer(0))

    def energy_pj(self, cls: str) -> sympy.Expr:
        op = self.operators[cls]
        if op.via is None:
            return op.energy_pj
        return sum((n * self.operators[c].energy_pj for c, n in op.via.items()), sympy.Integer(0))

    def actions(self, cls: str) -> dict[str, int]:
        """The native actions one ``cls`` operation performs (``exp`` -> 6 mac + 1 add)."""
        op = self.operators[cls]
        return {cls: 1} if op.via is None else dict(op.via)

    def pe_area_um2(self) -> sympy.Expr:
        units = sum((op.area_um2 for op in self.operators.values() if op.via is None), sympy.Integer(0))
        return units + self.rf_words * self.rf_area_um2_per_word


@dataclass(frozen=True)
class Dram:
    bandwidth_bytes_per_s: sympy.Expr
    access_bits: sympy.Expr
    read_pj: sympy.Expr
    write_pj: sympy.Expr


@dataclass(frozen=True)
class Buffer:
    capacity_bytes: sympy.Expr
    row_bits: sympy.Expr
    banks: sympy.Expr
    read_pj: sympy.Expr
    write_pj: sympy.Expr
    area_mm2_per_mib: sympy.Expr


@dataclass
class Architecture:
    name: str
    description: str
    file: str
    clock_hz: sympy.Expr
    word_bits: sympy.Expr
    dram: Dram
    buffer: Buffer
    arrays: dict[str, Array]
    values: dict[sympy.Symbol, float] = field(default_factory=dict)
    """Every hardware number, by its symbol."""
    origins: dict[str, Origin] = field(default_factory=dict)

    def value(self, expr) -> float:
        """A hardware expression at the template's numbers."""
        return float(sympy.sympify(expr).xreplace(self.values))

    def symbol(self, path: str) -> sympy.Symbol:
        """The symbol of a number by its path (``GLB.capacity_bytes``)."""
        for s in self.values:
            if s.name == path:
                return s
        known = ", ".join(s.name for s in self.values)
        raise EinsumxError(f"architecture '{self.name}' has no number '{path}' (known: {known})", Origin("--set"))

    def area_mm2(self) -> dict[str, sympy.Expr]:
        """Area per component: each array (PEs x units + register file) and the buffer."""
        out = {name: a.pes * a.pe_area_um2() / 10**6 for name, a in self.arrays.items()}
        out["GLB"] = self.buffer.capacity_bytes / 2**20 * self.buffer.area_mm2_per_mib
        return out


def find_architecture(name_or_path: str) -> Path:
    """A template by file path or by name (``fusemax`` -> architectures/fusemax.yaml)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    shipped = ROOT / "architectures" / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = ", ".join(sorted(q.stem for q in (ROOT / "architectures").glob("*.yaml")))
    raise EinsumxError(f"unknown architecture '{name_or_path}' (shipped: {known})", Origin(name_or_path))


def load_architecture(path: str | Path) -> Architecture:
    """Read and check an architecture template."""
    path = find_architecture(str(path))
    return parse_architecture(read_source(path, "architecture"), str(path))


def parse_architecture(text: str, file: str = "<architecture>") -> Architecture:
    root, _ = load_yaml(text, file, what="architecture file")
    top = expect_mapping(root, "the architecture")
    expect_keys(root, TOP_KEYS, "architecture")
    for required in ("clock_hz", "dram", "global_buffer", "arrays"):
        if required not in top:
            raise EinsumxError(f"missing '{required}:' ({TOP_KEYS[required]})", root.origin)
    values: dict[sympy.Symbol, float] = {}
    origins: dict[str, Origin] = {}

    def number(node: Node, path: str, key: str, integer: bool = False, zero_ok: bool = False) -> sympy.Symbol:
        value = _quantity(node, key, path)
        if integer and value != int(value):
            raise EinsumxError(f"{path} must be a whole number, got '{node.value}'", node.origin)
        if value < 0 or (value == 0 and not zero_ok):
            raise EinsumxError(f"{path} must be positive, got '{node.value}'", node.origin)
        sym = sympy.Symbol(path, positive=not zero_ok, nonnegative=True)
        values[sym] = float(value)
        origins[path] = node.origin
        return sym

    def block(node: Node, keys, what: str, required=()) -> dict[str, Node]:
        entries = expect_mapping(node, what)
        expect_keys(node, keys, what)
        for k in required:
            if k not in entries:
                raise EinsumxError(f"{what} needs '{k}:'", node.origin)
        return entries

    name = str(top["name"].value) if "name" in top else Path(file).stem
    clock = number(top["clock_hz"], "clock_hz", "clock_hz")
    word_bits = number(top["word_bits"], "word_bits", "word_bits", integer=True) if "word_bits" in top else sympy.Integer(16)

    d = block(top["dram"], DRAM_KEYS, "dram", DRAM_KEYS)
    dram = Dram(*(number(d[k], f"DRAM.{k}", k, integer=k.endswith("bits")) for k in DRAM_KEYS))
    b = block(top["global_buffer"], BUFFER_KEYS, "global_buffer", BUFFER_KEYS[:5])
    area = number(b["area_mm2_per_mib"], "GLB.area_mm2_per_mib", "area_mm2_per_mib", zero_ok=True) if "area_mm2_per_mib" in b else sympy.Integer(0)
    buffer = Buffer(*(number(b[k], f"GLB.{k}", k, integer=k in ("row_bits", "banks")) for k in BUFFER_KEYS[:5]), area)

    arrays: dict[str, Array] = {}
    for aname, node in expect_mapping(top["arrays"], "arrays").items():
        a_origin = top["arrays"].key_origins[aname]
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", aname) or aname in ("GLB", "DRAM"):
            raise EinsumxError(f"invalid array name '{aname}': use an identifier other than GLB and DRAM", a_origin)
        a = block(node, ARRAY_KEYS, f"array '{aname}'", ("axes", "operators"))
        axes = {}
        for axis, anode in expect_mapping(a["axes"], f"axes of '{aname}'").items():
            axes[axis] = number(anode, f"{aname}.{axis}", axis, integer=True)
        if not 1 <= len(axes) <= 2:
            raise EinsumxError(f"array '{aname}' must have one or two axes, got {len(axes)}", a["axes"].origin)
        rf = block(a["register_file"], RF_KEYS, f"register_file of '{aname}'", RF_KEYS[:3]) if "register_file" in a else {}
        rf_vals = [number(rf[k], f"{aname}.rf.{k}", k, integer=k == "words", zero_ok=True) if k in rf else sympy.Integer(0)
                   for k in RF_KEYS]
        ops: dict[str, Operator] = {}
        op_nodes = expect_mapping(a["operators"], f"operators of '{aname}'")
        for cls, onode in op_nodes.items():
            o_origin = a["operators"].key_origins[cls]
            if cls not in COST_CLASSES:
                raise EinsumxError(f"unknown operator '{cls}' in array '{aname}' (cost classes: {', '.join(COST_CLASSES)})", o_origin)
            o = block(onode, OP_KEYS, f"operator '{cls}' of '{aname}'")
            absorbs = bool(o["absorbs_add"].value) if "absorbs_add" in o else False
            if "via" in o:
                for k in ("cycles", "energy_pj", "area_um2"):
                    if k in o:
                        raise EinsumxError(f"operator '{cls}' of '{aname}' is emulated (via); its '{k}' comes from the operators it uses", o[k].origin)
                via = {}
                for part, n in expect_mapping(o["via"], f"via of '{cls}'").items():
                    if part not in op_nodes or "via" in op_nodes[part].value:
                        raise EinsumxError(f"'{cls}' of '{aname}' is emulated by '{part}', which the array has no unit for", o["via"].key_origins[part])
                    if isinstance(n.value, bool) or not isinstance(n.value, int) or n.value <= 0:
                        raise EinsumxError(f"'{cls}' via '{part}' needs a positive whole count, got '{n.value}'", n.origin)
                    via[part] = n.value
                ops[cls] = Operator(cls, sympy.Integer(0), sympy.Integer(0), sympy.Integer(0), via, absorbs)
                continue
            for k in ("cycles", "energy_pj"):
                if k not in o:
                    raise EinsumxError(f"operator '{cls}' of '{aname}' needs '{k}:' (or 'via:')", onode.origin)
            path = f"{aname}.{cls}"
            ops[cls] = Operator(
                cls,
                number(o["cycles"], f"{path}.cycles", "cycles"),
                number(o["energy_pj"], f"{path}.energy_pj", "energy_pj", zero_ok=True),
                number(o["area_um2"], f"{path}.area_um2", "area_um2", zero_ok=True) if "area_um2" in o else sympy.Integer(0),
                None,
                absorbs,
            )
        desc = str(a["description"].value) if "description" in a else ""
        idle = (number(a["idle_pj_per_pe_cycle"], f"{aname}.idle_pj_per_pe_cycle", "idle_pj_per_pe_cycle", zero_ok=True)
                if "idle_pj_per_pe_cycle" in a else sympy.Integer(0))
        arrays[aname] = Array(aname, axes, ops, *rf_vals, origin=a_origin, description=desc, idle_pj_per_pe_cycle=idle)
    if not arrays:
        raise EinsumxError("an architecture needs at least one array", top["arrays"].origin)
    description = " ".join(str(top["description"].value).split()) if "description" in top else ""
    return Architecture(name, description, file, clock, word_bits, dram, buffer, arrays, values, origins)


def _quantity(node: Node, key: str, path: str) -> float:
    """A number, or a number with a unit that fits the key (``16 MiB`` for
    ``capacity_bytes``, ``400 GiB/s`` for ``bandwidth_bytes_per_s``)."""
    value = node.value
    if isinstance(value, bool):
        raise EinsumxError(f"{path} must be a number, got '{value}'", node.origin)
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value))
    units = next((u for suffix, u in sorted(UNITS.items(), key=lambda kv: -len(kv[0])) if key.endswith(suffix)), None)
    if not m:
        raise EinsumxError(f"{path} must be a number{' with a unit' if units else ''}, got '{value}'", node.origin)
    number, unit = float(m.group(1)), m.group(2)
    if unit is None:
        return number
    if units is None or unit not in units:
        allowed = f" (one of: {', '.join(units)})" if units else " (this key takes a plain number)"
        raise EinsumxError(f"unit '{unit}' does not fit {path}{allowed}", node.origin)
    return number * units[unit]
