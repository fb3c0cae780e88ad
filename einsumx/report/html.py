"""The HTML and Markdown report of several workloads (``einsumx report``).

Each workload's section is built once as a list of blocks (headings,
paragraphs, tables, lists, code, images) and rendered twice: to one
self-contained ``index.html`` (plots embedded) and to ``report.md`` (plots
linked as PNG files next to it).
"""

from __future__ import annotations

import base64
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..analysis import Analysis
from ..ir import operators
from .plots import SEQS, SeqSeries, footprint_series, plot_seq_sweep
from .text import fmt, formula, human_bytes


@dataclass(frozen=True)
class Code:
    """Inline code (an Einsum, a formula, a file name)."""

    text: str


@dataclass(frozen=True)
class Block:
    kind: str
    """heading | para | table | list | pre | image"""
    content: object
    level: int = 2
    anchor: str = ""


def write_report(workloads: list[str], out: str | Path, overrides=None, model=None) -> Path:
    """Analyse each workload file and write ``out/index.html``, ``out/report.md``
    and one PNG per workload with a ``seq`` parameter; return the HTML path.

    An ``EinsumxError`` from a workload propagates unchanged.

    >>> write_report(["workloads/attention-3pass.yaml"], "reports")  # doctest: +SKIP
    PosixPath('reports/index.html')
    """
    from .. import analyze, load_workload

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[tuple[str, str, list[Block]]] = []
    anchors: set[str] = set()
    for i, file in enumerate(workloads, 1):
        cascade = load_workload(file)
        print(f"[{i}/{len(workloads)}] {cascade.name}", file=sys.stderr, flush=True)
        an = analyze(cascade, overrides=overrides, model=model)
        anchor = _unique(_slug(cascade.name), anchors)
        series = footprint_series(an, SEQS)
        png = plot_seq_sweep(an, series, out / f"{anchor}.png") if series is not None and series.seqs else None
        sections.append((cascade.name, anchor, workload_blocks(an, anchor, png, series)))

    title = "einsumx report"
    setting = _setting(model, overrides)
    head = [Block("heading", title, level=1), Block("para", [setting])]
    toc = Block("list", [[_Link(name, anchor)] for name, anchor, _ in sections])
    blocks = head + [Block("heading", "Contents"), toc] + [b for _, _, bs in sections for b in bs]
    (out / "report.md").write_text(to_markdown(blocks))
    index = out / "index.html"
    index.write_text(to_html(blocks, title))
    return index


def workload_blocks(an: Analysis, anchor: str, png: Path | None = None, series: SeqSeries | None = None) -> list[Block]:
    """The report section of one analysed workload, as blocks (``png`` and
    ``series``: its sequence-length plot and the numbers behind it, if any).

    >>> blocks = workload_blocks(analyze(c), "attention-3pass")  # doctest: +SKIP
    """
    c = an.cascade
    b = [Block("heading", c.name, anchor=anchor)]
    if c.description:
        b.append(Block("para", [c.description.strip()]))
    b.append(Block("para", ["File: ", Code(c.file)] + ([f"; model: {an.model}"] if an.model else [])))

    b.append(Block("heading", "Parameters and rank sizes", level=3))
    rows = [[Code(k), Code(p.text), fmt_num(an.point.params[k])] for k, p in c.params.items()]
    rows += [[Code(k), Code(r.size_text), fmt(an.point.ranks[k])] for k, r in c.ranks.items()]
    b.append(Block("table", (["name", "definition", "value"], rows)))

    b.append(Block("heading", "Cascade", level=3))
    width = len(str(len(c.einsums)))
    b.append(Block("pre", "\n".join(f"{e.number:>{width}}  {e.text}" for e in c.einsums)))

    b.append(Block("heading", "Operations", level=3))
    classes = [k for k in operators.COST_CLASSES if k in an.ops]
    header = ["#", "Einsum", "points (count)"] + [f"{k} (ops)" for k in classes] + ["all (ops)"]
    rows = [[str(r.einsum.number), Code(r.einsum.text), fmt(r.points_value)]
            + [fmt(r.ops_value[k]) if k in r.ops_value else "" for k in classes]
            + [fmt(sum(r.ops_value.values()))] for r in an.einsums]
    rows.append(["", "total", ""] + [fmt(an.ops[k]) for k in classes] + [fmt(sum(an.ops.values()))])
    if an.ops_effective != an.ops:
        eff = an.ops_effective
        rows.append(["", "effective total (zero operands skipped at the declared densities)", ""]
                    + [fmt(eff[k]) if k in eff else "" for k in classes] + [fmt(sum(eff.values()))])
    b.append(Block("table", (header, rows)))

    b.append(Block("heading", "Passes (lower bound over every mapping)", level=3))
    rows = [[Code(rank), str(info.passes)] for rank, info in an.pass_info.items()]
    b.append(Block("table", (["rank", "passes (count)"], rows)))
    for rank, info in an.pass_info.items():
        if info.reasons:
            b.append(Block("para", [Code(rank), f": {info.passes} passes, because"]))
            b.append(Block("list", [[reason] for reason in info.reasons]))

    if any(fp.live for fp in an.footprints.values()):
        b.append(Block("heading", "Live footprint and spill traffic", level=3))
        for rank, fp in an.footprints.items():
            if not fp.live:
                continue
            total, spill = an.value(fp.bytes), an.value(fp.spill_bytes)
            b.append(Block("para", [
                Code(rank), f": live footprint >= {_bytes(total)} per fiber, ",
                Code(f"{formula(fp.bytes)} bytes"), f"; or spill instead: {_bytes(spill)} "
                "of extra traffic, ", Code(f"{formula(fp.spill_bytes)} bytes"),
            ]))
            header = ["tensor", "fiber ranks", "per fiber (bytes)", "live after pass", "spill (bytes)", "spill terms", "spill formula (bytes)"]
            rows = [[Code(lt.tensor), " x ".join(lt.fiber_ranks), fmt(an.value(lt.fiber_bytes)),
                     ", ".join(str(k) for k in lt.boundaries), fmt(an.value(lt.spill_bytes)), lt.spill_terms,
                     Code(formula(lt.spill_bytes))] for lt in fp.live]
            b.append(Block("table", (header, rows)))

    b.append(Block("heading", "Compulsory traffic", level=3))
    rows = [[Code(t), kind, fmt(an.value(v)), Code(formula(v))] for t, kind, v in an.compulsory_terms]
    rows.append(["total", "", fmt(an.compulsory_traffic_bytes), Code(formula(an.compulsory))])
    b.append(Block("table", (["tensor", "access", "traffic (bytes)", "formula (bytes)"], rows)))

    if c.warnings:
        b.append(Block("heading", "Warnings", level=3))
        b.append(Block("pre", "\n".join(str(w) for w in c.warnings)))

    b.append(Block("heading", "Cost vs sequence length", level=3))
    if series is None:
        b.append(Block("para", ["No plot: the workload has no ", Code("seq"), " parameter."]))
    else:
        if png is not None:
            b.append(Block("image", png))
        else:
            b.append(Block("para", ["No plot: no swept ", Code("seq"), " value is valid for this workload."]))
        if series.skipped:
            b.append(Block("list", [[Code(f"seq={n}"), f" skipped: {message}"] for n, message in series.skipped]))
    return b


@dataclass(frozen=True)
class _Link:
    text: str
    anchor: str


def _bytes(n: int) -> str:
    """2048 -> '2 KiB (2,048 bytes)', 512 -> '512 bytes'."""
    return f"{human_bytes(n)} ({fmt(n)} bytes)" if abs(n) >= 1024 else f"{fmt(n)} bytes"


def fmt_num(v) -> str:
    """A parameter value (a Fraction) for a table.

    >>> from fractions import Fraction
    >>> fmt_num(Fraction(4096)), fmt_num(Fraction(1, 2))
    ('4,096', '0.5')
    """
    return fmt(int(v)) if v.denominator == 1 else str(float(v))


def _setting(model, overrides) -> str:
    parts = [f"model: {model}"] if model else []
    parts += [f"{name}={text}" for name, (_, text, _) in (overrides or {}).items()]
    return "Analysed at " + (", ".join(parts) if parts else "each workload's defaults") + "."


def _numeric_columns(rows: list[list]) -> set[int]:
    """Columns whose filled cells are all numbers (aligned right)."""
    width = max((len(r) for r in rows), default=0)
    return {k for k in range(width)
            if all(isinstance(r[k], str) and _NUMBER.fullmatch(r[k]) for r in rows if r[k] != "")
            and any(r[k] != "" for r in rows)}


_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "workload"


def _unique(slug: str, used: set[str]) -> str:
    candidate, k = slug, 1
    while candidate in used:
        candidate, k = f"{slug}-{k}", k + 1
    used.add(candidate)
    return candidate


# -- HTML ---------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; display: block; max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }
th { background: #f3f3f3; }
td code { white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.5rem; overflow-x: auto; }
h2 { border-top: 2px solid #888; padding-top: 1rem; margin-top: 2.5rem; }
img { max-width: 100%; }
"""


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained page (images embedded as base64 PNG)."""
    body = "\n".join(_html_block(b) for b in blocks)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _html_inline(parts) -> str:
    out = []
    for p in parts if isinstance(parts, list) else [parts]:
        if isinstance(p, Code):
            out.append(f"<code>{html.escape(p.text)}</code>")
        elif isinstance(p, _Link):
            out.append(f"<a href=\"#{html.escape(p.anchor)}\">{html.escape(p.text)}</a>")
        else:
            out.append(html.escape(str(p)))
    return "".join(out)


def _html_block(b: Block) -> str:
    if b.kind == "heading":
        anchor = f" id=\"{html.escape(b.anchor)}\"" if b.anchor else ""
        return f"<h{b.level}{anchor}>{html.escape(b.content)}</h{b.level}>"
    if b.kind == "para":
        return f"<p>{_html_inline(b.content)}</p>"
    if b.kind == "list":
        return "<ul>\n" + "\n".join(f"<li>{_html_inline(item)}</li>" for item in b.content) + "\n</ul>"
    if b.kind == "pre":
        return f"<pre>{html.escape(b.content)}</pre>"
    if b.kind == "table":
        header, rows = b.content
        num = _numeric_columns(rows)

        def cell(tag, k, content):
            return f"<{tag} class=\"num\">{content}</{tag}>" if k in num else f"<{tag}>{content}</{tag}>"

        head = "".join(cell("th", k, html.escape(h)) for k, h in enumerate(header))
        body = "\n".join("<tr>" + "".join(cell("td", k, _html_inline(c)) for k, c in enumerate(row)) + "</tr>" for row in rows)
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    if b.kind == "image":
        data = base64.b64encode(Path(b.content).read_bytes()).decode("ascii")
        return f"<img alt=\"{html.escape(Path(b.content).stem)}\" src=\"data:image/png;base64,{data}\">"
    raise ValueError(b.kind)  # pragma: no cover


# -- Markdown -------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_<|])")


def to_markdown(blocks: list[Block]) -> str:
    """GitHub-flavoured Markdown; images are linked by file name.

    >>> print(to_markdown([Block("table", (["tensor", "size (bytes)"], [[Code("QK"), "2,048"]]))]))
    | tensor | size (bytes) |
    |:---|---:|
    | `QK` | 2,048 |
    <BLANKLINE>
    """
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_inline(parts, in_table: bool = False) -> str:
    out = []
    for p in parts if isinstance(parts, list) else [parts]:
        if isinstance(p, Code):
            fence = "``" if "`" in p.text else "`"
            text = p.text.replace("|", "\\|") if in_table else p.text
            out.append(f"{fence}{text}{fence}")
        elif isinstance(p, _Link):
            out.append(f"[{_md_escape(p.text)}](#{p.anchor})")
        else:
            out.append(_md_escape(str(p)))
    return "".join(out)


def _md_block(b: Block) -> str:
    if b.kind == "heading":
        return "#" * b.level + " " + _md_inline(b.content)
    if b.kind == "para":
        return _md_inline(b.content)
    if b.kind == "list":
        return "\n".join(f"- {_md_inline(item)}" for item in b.content)
    if b.kind == "pre":
        return f"```\n{b.content}\n```"
    if b.kind == "table":
        header, rows = b.content
        num = _numeric_columns(rows)
        lines = ["| " + " | ".join(_md_inline(h) for h in header) + " |",
                 "|" + "|".join("---:" if k in num else ":---" for k in range(len(header))) + "|"]
        lines += ["| " + " | ".join(_md_inline(cell, in_table=True) for cell in row) + " |" for row in rows]
        return "\n".join(lines)
    if b.kind == "image":
        name = Path(b.content).name
        return f"![{_md_inline(Path(b.content).stem)}]({name})"
    raise ValueError(b.kind)  # pragma: no cover
