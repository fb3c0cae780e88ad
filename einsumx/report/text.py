"""The readable analysis table printed by ``einsumx analyze``."""

from __future__ import annotations

import sympy

from ..analysis import Analysis
from ..ir import operators


def fmt(n: int) -> str:
    return f"{n:,}"


def human_bytes(n: int) -> str:
    """Bytes for people: exact below 10 KiB, else three significant digits.

    >>> human_bytes(2064), human_bytes(1536 * 1024), human_bytes(3 * 2**40)
    ('2,064 B', '1.50 MiB', '3.00 TiB')
    """
    if abs(n) < 10 * 1024:
        return f"{n:,} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if abs(value) < 999.5 or unit == "EiB":  # 1023.9 KiB reads better as 1.00 MiB
            digits = 2 if abs(value) < 9.995 else 1 if abs(value) < 99.95 else 0
            return f"{value:.{digits}f} {unit}"
    return f"{n:,} B"  # pragma: no cover


def formula(expr: sympy.Expr) -> str:
    return str(sympy.factor(expr)) if expr.is_polynomial() else str(expr)


def render(an: Analysis) -> str:
    c = an.cascade
    out: list[str] = []
    head = f"{c.name}  ({c.file})"
    if an.model:
        head += f"  model: {an.model}"
    out.append(head)
    if c.params:
        out.append("parameters: " + " ".join(f"{k}={_num(v)}" for k, v in an.point.params.items()))
    out.append("ranks:      " + " ".join(f"{k}={v}" for k, v in an.point.ranks.items()))
    out.append("")

    classes = [k for k in operators.COST_CLASSES if k in an.ops]
    rows = [["#", "Einsum", "points"] + classes + ["pass"]]
    for r in an.einsums:
        e = r.einsum
        passes = " ".join(f"{k}:{v}" for k, v in r.passes.items() if an.passes.get(k, 0) > 1)
        rows.append([str(e.number), e.text] + [fmt(r.points_value)] + [fmt(r.ops_value[k]) if k in r.ops_value else "" for k in classes] + [passes])
    rows.append(["", "total", ""] + [fmt(an.ops[k]) for k in classes] + [""])
    out.extend(_table(rows, left={1}))
    if an.ops_effective != an.ops:
        out.append("effective (zero operands skipped at the declared densities): "
                   + ", ".join(f"{k} {fmt(v)}" for k, v in an.ops_effective.items()))
    out.append("")

    out.append("Passes (lower bound over every mapping)")
    multi = {r: p for r, p in an.pass_info.items() if p.passes > 1}
    single = [r for r, p in an.pass_info.items() if p.passes == 1]
    for rank, info in multi.items():
        out.append(f"  {rank}: {info.passes}")
        for reason in info.reasons:
            out.append(f"      {reason}")
    if single:
        out.append(f"  {', '.join(single)}: 1")
    out.append("")

    if any(f.live for f in an.footprints.values()):
        out.append("What the extra passes cost: keep the live fibers on chip, or spill them")
        for rank, fp in an.footprints.items():
            if not fp.live:
                continue
            out.append(
                f"  {rank}: live footprint >= {human_bytes(an.value(fp.bytes))} per fiber ({formula(fp.bytes)} B)"
                f", or {human_bytes(an.value(fp.spill_bytes))} extra traffic"
            )
            for lt in fp.live:
                across = ", ".join(str(k) for k in lt.boundaries)
                out.append(
                    f"      {lt.tensor}: {human_bytes(an.value(lt.fiber_bytes))} per {'x'.join(lt.fiber_ranks)} fiber, "
                    f"live after pass {across}; spilled: {human_bytes(an.value(lt.spill_bytes))} ({lt.spill_terms})"
                )
        out.append("")
    terms = ", ".join(f"{t} {k} {human_bytes(an.value(b))}" for t, k, b in an.compulsory_terms)
    out.append(f"Compulsory traffic: {human_bytes(an.compulsory_traffic_bytes)} ({fmt(an.compulsory_traffic_bytes)} B): {terms}")
    return "\n".join(out)


def _num(v):
    return str(int(v)) if v.denominator == 1 else str(float(v))


def _table(rows: list[list[str]], left: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i in left else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if k == 0 or k == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return lines
