"""Timeloop's statistics text: parse ``timeloop-model.stats.txt`` and print
einsumx's loop-nest results in the same layout.

``format_stats`` writes what ``parse_stats`` reads, so the two compare
directly: einsumx's numbers beside the stored reference, or beside a fresh
run of the real ``timeloop-model``.

>>> s = parse_stats(open("timeloop-model.stats.txt").read())  # doctest: +SKIP
>>> s["cycles"], s["levels"]["Buffer"]["tensors"]["Outputs"]["updates"]  # doctest: +SKIP
(48, 48)
"""

from __future__ import annotations

import re

from ...model.loopnest import NestStats

_TENSOR_KEYS = {
    "Partition size": "partition_size",
    "Utilized capacity": "utilized_capacity",
    "Utilized instances (max)": "utilized_instances",
    "Scalar reads (per-instance)": "reads",
    "Scalar fills (per-instance)": "fills",
    "Scalar updates (per-instance)": "updates",
    "Temporal reductions (per-instance)": "temporal_reductions",
    "Energy (per-instance)": "energy_per_instance_pj",
    "Energy (total)": "energy_pj",
}
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def _num(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse_stats(text: str) -> dict:
    """The numbers of a Timeloop stats file: ``cycles``, ``utilization``
    (a fraction), ``computes``, ``fj_per_compute`` ({level or 'Total': fJ}),
    ``compute`` ({name, computes, energy_pj}) and ``levels`` ({name:
    {leak_pj, tensors: {tensor: {reads, fills, updates, ...}}}})."""
    out: dict = {"levels": {}, "fj_per_compute": {}}
    level = tensor = None
    in_fj = False
    for raw in text.splitlines():
        line = raw.rstrip()
        m = re.match(r"^=== (.+) ===$", line.strip())
        if m and not line.startswith("    "):
            level, tensor = m[1], None
            continue
        if line.startswith("Networks") or line.startswith("Operational Intensity") or line.startswith("Summary Stats"):
            level = tensor = None
        if level is not None:
            m = re.match(r"^    (\w[\w ]*):$", line)
            if m and m[1] not in ("SPECS", "STATS", "MAPPING", "Loop nest"):
                tensor = m[1]
                out["levels"].setdefault(level, {"tensors": {}})["tensors"][tensor] = {}
                continue
            m = re.match(r"^\s+(.+?)\s+: " + _NUMBER, line)
            if not m:
                continue
            key, value = m[1], _num(m[2])
            if tensor is not None and key in _TENSOR_KEYS:
                out["levels"][level]["tensors"][tensor][_TENSOR_KEYS[key]] = value
            elif key == "Computes (total)":
                out.setdefault("compute", {"name": level})["computes"] = value
            elif key == "Energy (total)" and tensor is None and "compute" in out and out["compute"]["name"] == level:
                out["compute"]["energy_pj"] = value
            elif key == "Leakage energy (total)":
                out["levels"].setdefault(level, {"tensors": {}})["leak_pj"] = value
            elif key == "Utilized instances" and tensor is None:
                out.setdefault("compute", {"name": level})["utilized_instances"] = value
            continue
        m = re.match(r"^Utilization: " + _NUMBER + "%", line)
        if m:
            out["utilization"] = float(m[1]) / 100
        m = re.match(r"^Cycles: (\d+)", line)
        if m:
            out["cycles"] = int(m[1])
        m = re.match(r"^Computes = (\d+)", line)
        if m:
            out["computes"] = int(m[1])
        if line.startswith("fJ/Compute"):
            in_fj = True
            continue
        if in_fj:
            m = re.match(r"^\s+(\S.*?)\s+= " + _NUMBER, line)
            if m:
                out["fj_per_compute"][m[1]] = float(m[2])
            elif line.strip() == "":
                in_fj = False
    return out


def format_stats(s: NestStats) -> str:
    """einsumx's loop-nest results in Timeloop's stats layout (the numbers
    ``parse_stats`` reads, the loop nest, and the totals)."""
    h = s.hierarchy
    lines = ["Buffer and Arithmetic Levels", "----------------------------", "Level 0", "-------",
             f"=== {h.compute.name} ===", "", "    SPECS", "    -----",
             f"    Instances             : {h.compute.instances}",
             f"    Compute energy        : {h.compute.energy_pj:.2f} pJ", "", "    STATS", "    -----",
             f"    Utilized instances      : {s.utilized_computes}",
             f"    Computes (total)        : {s.computes}",
             f"    Cycles                  : {s.compute_cycles}",
             f"    Energy (total)          : {s.compute_energy_pj:.2f} pJ", ""]
    for k, name in enumerate(reversed(list(s.levels)), start=1):
        lv, spec = s.levels[name], h.level(name)
        lines += [f"Level {k}", "-" * len(f"Level {k}"), f"=== {name} ===", "", "    SPECS", "    -----",
                  f"        Technology                      : {'DRAM' if spec.cls.upper() == 'DRAM' else 'SRAM'}",
                  f"        Size                            : {spec.capacity_words if spec.capacity_words else '-'}",
                  f"        Word bits                       : {spec.word_bits}",
                  f"        Block size                      : {spec.block_words}",
                  f"        Instances                       : {spec.instances}",
                  f"        Leakage energy (total)          : {lv.leak_pj:.2f} pJ",
                  f"        Area                            : {spec.area_um2:.2f} um^2", "",
                  "    MAPPING", "    -------", "    Loop nest:"]
        depth = 0
        for d, f in lv.temporal:
            if f > 1:
                lines.append("      " + "  " * depth + f"for {d} in [0:{f})")
                depth += 1
        for d, f, axis in lv.spatial:
            if f > 1:
                lines.append("      " + "  " * depth + f"for {d} in [0:{f}) (Spatial-{axis})")
                depth += 1
        lines += ["", "    STATS", "    -----", f"    Cycles               : {lv.cycles}"]
        for t, ts in lv.tensors.items():
            lines += [f"    {t}:",
                      f"        Partition size                           : {ts.partition_size}",
                      f"        Utilized capacity                        : {ts.utilized_capacity}",
                      f"        Utilized instances (max)                 : {ts.utilized_instances}",
                      f"        Scalar reads (per-instance)              : {ts.reads}",
                      f"        Scalar fills (per-instance)              : {ts.fills}",
                      f"        Scalar updates (per-instance)            : {ts.updates}",
                      f"        Temporal reductions (per-instance)       : {ts.temporal_reductions}",
                      f"        Energy (per-instance)                    : {ts.energy_pj:.2f} pJ",
                      f"        Energy (total)                           : {ts.energy_total_pj:.2f} pJ"]
        lines.append("")
    lines += ["Summary Stats", "-------------",
              f"Utilization: {100 * s.utilization:.2f}%",
              f"Cycles: {s.cycles}",
              f"Energy: {s.energy_pj / 1e6:.2f} uJ",
              f"Area: {s.area_um2 / 1e6:.2f} mm^2", "",
              f"Computes = {s.computes}", "fJ/Compute"]
    fj = s.fj_per_compute()
    width = max(len(k) for k in fj)
    for k, v in fj.items():
        lines.append(f"    {k:<{width}} = {v:.2f}")
    for note in s.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def format_loop_nest(s: NestStats) -> str:
    """The mapping as Timeloop's ``map.txt`` draws it: per level its tiles,
    then its loops."""
    lines = []
    depth = 0
    for name, lv in s.levels.items():
        tiles = " ".join(f"{t}:{ts.utilized_capacity}" for t, ts in lv.tensors.items())
        header = f"{name} [ {tiles} ] "
        loops = [(d, f, "") for d, f in lv.temporal if f > 1] + [(d, f, f" (Spatial-{a})") for d, f, a in lv.spatial if f > 1]
        lines.append(header)
        if loops:
            lines.append("-" * len(header))
            for d, f, kind in loops:
                lines.append("| " + "  " * depth + f"for {d} in [0:{f}){kind}")
                depth += 1
            lines.append("")
    lines.append("| " + "  " * depth + "<< Compute >>")
    return "\n".join(lines) + "\n"
