"""Grid values: ``seq=1K..1M*4``, ``batch=1,8,64``, ``GLB.capacity_bytes=4MiB,16MiB``.

A value list is one of

- a list: ``1K,4K,16K`` (or a YAML list);
- a geometric range ``A..B*F``: A, A*F, A*F^2, ... up to B;
- an arithmetic range ``A..B+S`` (``A..B`` steps by 1): A, A+S, ... up to B.

Numbers may carry the binary size suffixes K, M, G, T (1K = 1024, 1M =
1048576: sequence lengths and buffer sizes are powers of two), or, for a
hardware key, a unit that fits its name (``16 MiB`` for ``*_bytes``,
``25.6 GB/s`` for ``*_bytes_per_s``, ``800 MHz`` for ``*_hz``: decimal
prefixes only where the unit says so). A rate (``*_hz``, ``*_per_s``)
refuses the bare suffixes: ``800M`` there is an error, not 838,860,800 Hz.
Preset keys (``model``) take names.

>>> parse_values("seq", "1K..1M*4")
[1024, 4096, 16384, 65536, 262144, 1048576]
>>> parse_values("batch", "1..4")
[1, 2, 3, 4]
>>> parse_values("GLB.capacity_bytes", "4MiB,16MiB")
[4194304, 16777216]
>>> parse_values("DRAM.bandwidth_bytes_per_s", "400 GB/s")
[400000000000]
"""

from __future__ import annotations

import re
from fractions import Fraction

from ..arch import UNITS
from ..errors import EinsumxError, Origin

SUFFIX = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
RATES = ("_hz", "_per_s")
"""Keys whose bare K/M/G/T are refused: a rate is written in decimal units (800 MHz, 400 GB/s)."""
MAX_VALUES = 100_000
"""A range longer than this is a typo (``1..1G``), not a design space."""

_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+)\s*([A-Za-z/]+)?\s*$")


def parse_number(key: str, text: str, origin: Origin) -> int | float:
    """One number of key ``key``: an int when it is whole, else a float."""
    m = _NUMBER.match(text)
    if not m:
        raise EinsumxError(f"{key}: '{text.strip()}' is not a number", origin)
    value = Fraction(m.group(1))
    unit = m.group(2)
    if unit is not None:
        units = next((u for suffix, u in sorted(UNITS.items(), key=lambda kv: -len(kv[0])) if key.endswith(suffix)), {})
        if unit in SUFFIX and key.endswith(RATES):
            name = ("k" if unit == "K" else unit) + ("Hz" if key.endswith("_hz") else "B/s")
            hint = f"write {m.group(1)} {name} or the number itself" if name in units else "write the number itself"
            raise EinsumxError(f"{key}: '{text.strip()}' is ambiguous for a rate: a bare {unit} is binary "
                               f"({m.group(1)}{unit} = {int(value * SUFFIX[unit]):,}); {hint}", origin)
        if unit in SUFFIX:
            value *= SUFFIX[unit]
        elif unit in units:
            value *= Fraction(units[unit])
        else:
            allowed = ", ".join(list(SUFFIX) + list(units))
            raise EinsumxError(f"{key}: unit '{unit}' does not fit this key (one of: {allowed})", origin)
    return int(value) if value.denominator == 1 else float(value)


def parse_values(key: str, text: str, origin: Origin | None = None) -> list:
    """The values of one grid key written as text (a list or a range)."""
    origin = origin or Origin("--grid")
    text = text.strip()
    if not text:
        raise EinsumxError(f"{key}: empty grid (no values)", origin)
    if ".." in text:
        return _range(key, text, origin)
    return [parse_number(key, item, origin) for item in text.split(",")]


def _range(key: str, text: str, origin: Origin) -> list:
    lo_text, _, rest = text.partition("..")
    # the step operator: the last '*' or '+' that is not an exponent's sign (1e+3)
    ops = [i for i, ch in enumerate(rest) if ch in "*+" and not (ch == "+" and i > 0 and rest[i - 1] in "eE"
                                                                and i > 1 and rest[i - 2].isdigit())]
    if ops:
        hi_text, op, step_text = rest[:ops[-1]], rest[ops[-1]], rest[ops[-1] + 1:]
    else:
        hi_text, op, step_text = rest, "+", "1"
    lo, hi = parse_number(key, lo_text, origin), parse_number(key, hi_text, origin)
    step = Fraction(str(parse_number("step", step_text, origin)))
    if hi < lo:
        raise EinsumxError(f"{key}: empty range '{text}' (the end {hi} is below the start {lo})", origin)
    if (op == "*" and step <= 1) or (op == "+" and step <= 0):
        raise EinsumxError(f"{key}: range '{text}' never advances (step {op}{step_text.strip()})", origin)
    out, v, end = [], Fraction(str(lo)), Fraction(str(hi))
    while v <= end:
        out.append(int(v) if v.denominator == 1 else float(v))
        if len(out) > MAX_VALUES:
            raise EinsumxError(f"{key}: range '{text}' has more than {MAX_VALUES:,} values", origin)
        v = v * step if op == "*" else v + step
    return out


def values_of_node(key: str, node) -> list:
    """The values of a grid key in a YAML file: a scalar (a list or range
    in text) or a YAML list of numbers, texts with units, or names."""
    items = node.value if isinstance(node.value, list) else [node]
    out: list = []
    for item in items:
        v = item.value
        if isinstance(v, bool) or isinstance(v, (dict, list)) or v is None:
            raise EinsumxError(f"grid: {key}: '{v}' is not a value", item.origin)
        if key == "model":
            out += [s.strip() for s in str(v).split(",")]
        elif isinstance(v, (int, float)):
            out.append(v)
        else:
            out += parse_values(key, str(v), item.origin)
    if not out:
        raise EinsumxError(f"grid: {key}: empty grid (no values)", node.origin)
    return out
