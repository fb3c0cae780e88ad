"""The report of a sweep's store (``einsumx report DIR --out REPORT_DIR``).

One self-contained ``index.html`` (plots embedded), the same as
``report.md`` (plots linked), and CSV files: ``pareto.csv`` (every Pareto
design, every column, and the ``einsumx evaluate`` command that
re-derives it), ``runs.csv`` (what was swept) and ``best.csv`` (the
fastest feasible design of every run at every swept sequence length).

Per workload: the latency/energy front across architectures and mappings
(scatter, front highlighted), latency, energy, array utilization and
global-buffer size against sequence length (the buffer beside the static
analysis's pass bound: the live footprint that keeping the minimum number
of passes needs per fiber), the energy breakdown of the Pareto designs,
their table, and a check: a few of them re-evaluated from scratch with
``einsumx evaluate``, numbers side by side.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np

from .html import Block, Code, _Link, _slug, _unique, to_html, to_markdown

OBJECTIVES = [("latency_s", False), ("energy_pj", False)]
SCATTER_POINTS = 40_000
TABLE_ROWS = 25
CHECKS = 2


def _missing(v) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def _fmt(v) -> str:
    if _missing(v):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.4g}"
        return f"{v:,.4g}"
    return str(v)


def evaluate_command(row, run, swept: list[str]) -> str:
    """The ``einsumx evaluate`` command of one stored design."""
    parts = ["einsumx", "evaluate", run["workload_file"], run["architecture_file"]]
    if run["mapping_file"] != "auto":
        parts += ["--mapping", run["mapping_file"]]
    sets = []
    for key in swept:
        col = key.replace(".", "_")
        if key == "model":
            parts += ["--model", str(row["model"])]
        elif col in row and not _missing(row[col]):
            v = float(row[col])
            sets.append(f"{key}={int(v) if v == int(v) else v}")
    if sets:
        parts += ["--set", *sets]
    if run["objective"] != "latency":
        parts += ["--objective", run["objective"]]
    return shlex.join(parts)


def write_sweep_report(store: str | Path, out: str | Path, argv: list[str] | None = None) -> list[Path]:
    from ..sweep.commands import pareto_front
    from ..sweep.store import connect, read_meta

    store, out = Path(store), Path(out)
    meta = read_meta(store)
    out.mkdir(parents=True, exist_ok=True)
    con = connect(store)
    runs = con.execute("SELECT * FROM runs ORDER BY run").df()
    runs_by_id = {int(r["run"]): r for _, r in runs.iterrows()}
    stats = con.execute("SELECT run, count(*) AS points, sum(feasible::INT) AS feasible, min(latency_s) FILTER (feasible) AS "
                        "min_latency_s, min(energy_pj) FILTER (feasible) AS min_energy_pj FROM points GROUP BY run ORDER BY run").df()
    cols = {r[0] for r in con.execute("DESCRIBE points").fetchall()}
    swept = list(meta.get("grid", {}))
    wkeys = [k for k in meta.get("workload_keys", []) if k.replace(".", "_") in cols]
    front = pareto_front(store, OBJECTIVES, None, ["workload"] + [k.replace(".", "_") for k in wkeys])
    front["evaluate_command"] = [evaluate_command(r, runs_by_id[int(r["run"])], swept) for _, r in front.iterrows()]
    front.to_csv(out / "pareto.csv", index=False)
    runs.to_csv(out / "runs.csv", index=False)

    report_cmd = "einsumx " + shlex.join(argv) if argv else f"einsumx report {shlex.quote(str(store))} --out {shlex.quote(str(out))}"
    blocks = [
        Block("heading", f"einsumx sweep report: {meta['name']}", level=1),
        Block("para", [*_spans(meta.get("description") or ""),
                       f" {meta['points']:,} design points in {meta['runs']} runs (workload x architecture x mapping template), "
                       f"mapper objective: {meta['objective']}; einsumx {meta['einsumx_version']}; store ", Code(str(store)),
                       f"; sweep status: {meta['status']}."]),
        Block("heading", "Reproduce"),
        Block("pre", f"{meta.get('command') or '(sweep run from Python)'}\n{report_cmd}"),
        Block("para", ["Columns carry their unit (", Code("latency_s"), ", ", Code("energy_pj"), ", ", Code("area_mm2"), ", ",
                       Code("dram_bytes"), "); ", Code("utilization_<array>"), " is a fraction of the array's PE-cycles; ",
                       Code("map_*"), " are the mapper's choices. docs/sweeps.md says what each column counts, "
                       "docs/model.md how."]),
        Block("heading", "What was swept"),
        Block("table", (["grid key", "values"], [[Code(k), ", ".join(_fmt(v) for v in vs)] for k, vs in meta.get("grid", {}).items()])),
    ]
    rows = []
    for _, r in runs.iterrows():
        st = stats[stats["run"] == r["run"]]
        feas = int(st["feasible"].iloc[0]) if len(st) else 0
        rows.append([_fmt(int(r["run"])), r["workload"], r["architecture"], r["mapping"], Code(Path(r["mapping_file"]).name),
                     _fmt(int(r["points"])), _fmt(feas),
                     _fmt(st["min_latency_s"].iloc[0]) if len(st) else "", _fmt(st["min_energy_pj"].iloc[0]) if len(st) else "",
                     Code(r["workload_sha256"][:12])])
    blocks.append(Block("table", (["run", "workload", "architecture", "mapping", "file", "points", "feasible",
                                   "min latency_s", "min energy_pj", "workload sha256"], rows)))
    if meta.get("skipped"):
        blocks.append(Block("para", ["Left out (the architecture cannot run the workload):"]))
        blocks.append(Block("list", [[f"{s['workload']} on {s['architecture']} ({s['mapping']}): {s['reason']}"] for s in meta["skipped"]]))

    workloads = list(dict.fromkeys(runs["workload"]))
    anchors: set[str] = set()
    toc = []
    sections = []
    best_all = []
    for i, w in enumerate(workloads, 1):
        print(f"[{i}/{len(workloads)}] {w}", file=sys.stderr, flush=True)
        anchor = _unique(_slug(w), anchors)
        toc.append([_Link(w, anchor)])
        wfront = front[front["workload"] == w]
        sections += _workload_section(con, w, anchor, wfront, runs_by_id, swept, wkeys, meta["grid"], cols, out, best_all)
    blocks += [Block("heading", "Contents"), Block("list", toc)] + sections
    if best_all:
        import pandas as pd

        pd.concat(best_all).to_csv(out / "best.csv", index=False)
    (out / "report.md").write_text(to_markdown(blocks))
    index = out / "index.html"
    index.write_text(to_html(blocks, f"einsumx sweep {meta['name']}"))
    return [index, out / "report.md", out / "pareto.csv"]


def _label(run) -> str:
    return f"{run['architecture']} / {run['mapping']}"


def _major_labels_only(ax) -> None:
    """Log axes spanning less than a decade label their minor ticks, which then collide."""
    from matplotlib.ticker import LogLocator, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=6))


def _sql_value(v) -> str:
    return f"'{str(v).replace(chr(39), chr(39) * 2)}'" if isinstance(v, str) else repr(v)


def _workload_section(con, w: str, anchor: str, front, runs_by_id, swept, wkeys, grid, cols, out: Path, best_all) -> list[Block]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    q = w.replace("'", "''")
    blocks = [Block("heading", f"{w}", anchor=anchor)]
    wruns = [r for r in runs_by_id.values() if r["workload"] == w]
    colors = {int(r["run"]): f"C{k % 10}" for k, r in enumerate(wruns)}
    # the reference instance: every swept workload key but seq at its last (largest) value, where it applies
    applies = {k for k in wkeys if con.execute(f'SELECT count("{k.replace(".", "_")}") FROM points WHERE workload = {_sql_value(w)}').fetchone()[0]}
    ref = {k: grid[k][-1] for k in wkeys if k != "seq" and k in applies}
    cond = " AND ".join([f"workload = {_sql_value(w)}"] + [f'"{k.replace(".", "_")}" = {_sql_value(v)}' for k, v in ref.items()])
    seqs = [int(v) for v in grid.get("seq", [])] if "seq" in applies else []
    at = ", ".join(f"{k} = {_fmt(v)}" for k, v in ref.items())
    n = con.execute(f"SELECT count(*), sum(feasible::INT) FROM points WHERE workload = '{q}'").fetchone()
    fr = front
    for k, v in ref.items():
        fr = fr[fr[k.replace(".", "_")] == v]
    blocks.append(Block("para", [
        f"{n[0]:,} design points ({int(n[1] or 0):,} fit the buffer) on {len(wruns)} architecture/mapping pairs. "
        "A front compares designs doing the same work: it is taken at each value of the swept workload parameters "
        f"({', '.join(wkeys) or 'none'}); {len(front):,} designs are Pareto-optimal in (latency_s, energy_pj) over all of them "
        f"(pareto.csv). The plots and tables below show the instance {at or 'swept'}" + (", at every sequence length." if seqs else ".")]))

    # 1. the fronts, one panel per sequence length
    panels = seqs or [None]
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig = Figure(figsize=(4.6 * ncol, 3.9 * nrow), dpi=100)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).reshape(-1)
    for ax, sq in zip(axes, panels):
        c2 = cond + (f" AND seq = {sq}" if sq is not None else "")
        sample = con.execute(f"SELECT * FROM (SELECT run, latency_s, energy_pj FROM points WHERE {c2} AND feasible) "
                             f"USING SAMPLE reservoir({SCATTER_POINTS // len(panels)} ROWS) REPEATABLE (1)").df()
        for r in wruns:
            s_ = sample[sample["run"] == r["run"]]
            if len(s_):
                ax.scatter(s_["latency_s"], s_["energy_pj"], s=7, alpha=0.4, color=colors[int(r["run"])], label=_label(r), rasterized=True)
        f = fr[fr["seq"] == sq] if sq is not None else fr
        if len(f):
            f = f.sort_values("latency_s")
            ax.step(f["latency_s"], f["energy_pj"], where="post", color="black", lw=1.0)
            ax.scatter(f["latency_s"], f["energy_pj"], s=30, facecolors="none", edgecolors="black", label="Pareto front", zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _major_labels_only(ax)
        ax.set_xlabel("latency (s)")
        ax.set_ylabel("energy (pJ)")
        ax.set_title(f"seq = {_fmt(sq)}" if sq is not None else w, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(f"{w}: feasible designs and the latency/energy front" + (f" ({at})" if at else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0.04 + 0.02 * ((len(labels) - 1) // 4), 1, 0.97))
    png = out / f"{anchor}-front.png"
    fig.savefig(png)
    blocks.append(Block("image", png))

    # 2. against sequence length: the fastest feasible design of each run per seq
    if seqs:
        best = con.execute(
            f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY run, seq ORDER BY latency_s, energy_pj, point) AS rn "
            f"FROM points WHERE {cond} AND feasible) WHERE rn = 1 ORDER BY run, seq").df().drop(columns=["rn"])
        best_all.append(best)
        png = out / f"{anchor}-seq.png"
        _seq_figure(Figure, best, wruns, colors, w, png, ref)
        blocks.append(Block("para", ["Against sequence length, each architecture/mapping's fastest feasible design at each ",
                                     Code("seq"), " (best over the hardware keys). The buffer panel sets the required "
                                     "global buffer beside the pass bound: the bytes that must stay on chip per fiber to keep "
                                     "the static analysis's minimum number of passes (spilling them costs DRAM traffic instead)."]))
        blocks.append(Block("image", png))

    # the front of the hardest instance: the largest sequence length
    f = fr[fr["seq"] == seqs[-1]] if seqs else fr
    f = f.sort_values("latency_s")
    where = f"{at}, seq = {_fmt(seqs[-1])}" if seqs and at else (f"seq = {_fmt(seqs[-1])}" if seqs else at)

    # 3. energy breakdown of the Pareto designs
    comps = sorted(c for c in cols if c.startswith("energy_") and c.endswith("_pj") and c != "energy_pj")
    shown = f.head(TABLE_ROWS)
    if len(shown) and comps:
        fig = Figure(figsize=(max(6.0, 0.45 * len(shown) + 2.5), 4.2), dpi=100)
        ax = fig.add_subplot()
        bottom = np.zeros(len(shown))
        for k, c in enumerate(comps):
            v = shown[c].fillna(0).to_numpy() if c in shown else np.zeros(len(shown))
            if not v.any():
                continue
            ax.bar(np.arange(len(shown)), v, bottom=bottom, label=c[len("energy_"):-len("_pj")], color=f"C{k % 10}")
            bottom += v
        ax.set_xticks(np.arange(len(shown)), [f"#{k + 1}" for k in range(len(shown))], fontsize=8)
        ax.set_ylabel("energy (pJ)")
        ax.set_xlabel("Pareto design (fastest first; numbers as in the table below)")
        ax.set_title(f"{w}: energy by component of the Pareto designs ({where})", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        png = out / f"{anchor}-energy.png"
        fig.savefig(png)
        blocks.append(Block("image", png))

    # 4. the table of Pareto designs
    if len(shown):
        keys = [k for k in swept if k.replace(".", "_") in shown.columns and k in grid and (k not in wkeys or k in applies)]
        choices = [c for c in shown.columns if c.startswith("map_") and shown[c].notna().any()]
        util = [c for c in shown.columns if c.startswith("utilization_") and shown[c].notna().any()]
        header = ["#", "architecture", "mapping"] + keys + choices + ["latency_s", "energy_pj", "area_mm2", "dram_bytes"] + util
        rows = []
        for k, (_, r) in enumerate(shown.iterrows(), 1):
            rows.append([str(k), r["architecture"], r["mapping"]]
                        + [_fmt(r[c.replace(".", "_")]) for c in keys] + [_fmt(r[c]) for c in choices]
                        + [_fmt(r[c]) for c in ("latency_s", "energy_pj", "area_mm2", "dram_bytes")] + [_fmt(r[c]) for c in util])
        more = f" (the first {TABLE_ROWS} of {len(f)})" if len(f) > TABLE_ROWS else ""
        blocks.append(Block("para", [f"Pareto designs at {where}, fastest first{more}. pareto.csv has every front, every "
                                     "column of each design and the command that re-derives it; a design's parameters are "
                                     "its row's values plus its run's templates (runs.csv)."]))
        blocks.append(Block("table", (header, rows)))
        blocks += _checks(f, runs_by_id, swept)
    return blocks


def _spans(text: str) -> list:
    """Text with `code` spans (as a sweep file's description writes them) as text and Code pieces."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: plain text
        return [text]
    return [Code(p) if k % 2 else p for k, p in enumerate(parts) if p]


def _seq_figure(Figure, best, wruns, colors, w: str, png: Path, ref: dict) -> None:
    from .. import analyze, load_workload

    fig = Figure(figsize=(11, 7.5), dpi=110)
    axes = fig.subplots(2, 2)
    util_cols = [c for c in best.columns if c.startswith("utilization_")]
    for r in wruns:
        b = best[best["run"] == r["run"]]
        if not len(b):
            continue
        c = colors[int(r["run"])]
        axes[0, 0].plot(b["seq"], b["latency_s"], "o-", color=c, label=_label(r))
        axes[0, 1].plot(b["seq"], b["energy_pj"], "o-", color=c, label=_label(r))
        for k, u in enumerate(util_cols):
            if b[u].notna().any():
                axes[1, 0].plot(b["seq"], b[u], ["o-", "s--", "^:"][k % 3], color=c, label=f"{_label(r)}: {u[len('utilization_'):]}")
        axes[1, 1].plot(b["seq"], b["buffer_GLB_required_bytes"], "o-", color=c, label=_label(r))
    # the pass bound from the static analysis, at each seq and the other workload keys' reference values
    r0 = wruns[0]
    seqs = sorted(set(int(s) for s in best["seq"]))
    if seqs:
        an = analyze(load_workload(r0["workload_file"]))
        multi = [k for k, info in an.pass_info.items() if info.passes > 1]
        other = {k: v for k, v in ref.items() if k in an.cascade.params or k in an.cascade.ranks}
        for rank in multi:
            ys = []
            for s in seqs:
                try:
                    ys.append(an.point_at(seq=s, **other).value(an.footprints[rank].bytes))
                except Exception:  # noqa: BLE001 - a seq the workload rejects: no bound there
                    ys.append(np.nan)
            axes[1, 1].plot(seqs, ys, "k--", lw=1.5, label=f"pass bound: live fiber over {rank} ({an.pass_info[rank].passes} passes)")
    titles = [("latency (s)", "fastest design"), ("energy (pJ)", "of the fastest design"),
              ("utilization", "per array, fastest design"), ("global buffer (bytes)", "required vs the pass bound")]
    for ax, (ylabel, t) in zip(axes.flat, titles):
        ax.set_xscale("log", base=2)
        if ylabel != "utilization":
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1.05)
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel(ylabel)
        ax.set_title(t, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    at = ", ".join(f"{k} = {_fmt(v)}" for k, v in ref.items())
    fig.suptitle(f"{w} against sequence length" + (f" ({at})" if at else ""))
    fig.tight_layout()
    fig.savefig(png)


def _checks(front, runs_by_id, swept) -> list[Block]:
    """A few Pareto designs re-evaluated from scratch with ``einsumx evaluate``."""
    from ..model import evaluate

    f = front.sort_values("latency_s")
    picks = sorted({0, len(f) // 2, len(f) - 1})[:CHECKS]
    rows = []
    for k in picks:
        r = f.iloc[k]
        run = runs_by_id[int(r["run"])]
        sets = []
        model = None
        for key in swept:
            col = key.replace(".", "_")
            if key == "model" and "model" in r:
                model = str(r["model"])
            elif col in r and not _missing(r[col]):
                v = float(r[col])
                sets.append(f"{key}={int(v) if v == int(v) else v}")
        ev = evaluate(run["workload_file"], run["architecture_file"], None if run["mapping_file"] == "auto" else run["mapping_file"],
                      overrides=sets, model_name=model, objective=run["objective"])
        for name in ("latency_s", "energy_pj", "area_mm2", "dram_bytes"):
            a, b = float(r[name]), float(ev.raw[name])
            rows.append([f"#{k + 1}", Code(name), _fmt(a), _fmt(b), f"{abs(a - b) / max(abs(b), 1e-300):.1e}"])
    return [Block("para", ["Check: these Pareto designs re-evaluated from scratch by ", Code("einsumx evaluate"),
                           " (model built and mapper run for that one point):"]),
            Block("table", (["design", "output", "sweep", "evaluate", "relative difference"], rows))]

