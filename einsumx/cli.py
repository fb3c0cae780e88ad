"""The ``einsumx`` command line (thin: parsing options, printing results).

    einsumx analyze WORKLOAD [--set NAME=VALUE ...] [--model NAME] [--json]
    einsumx report WORKLOAD ... [--out DIR] [--model NAME] [--set ...]
    einsumx evaluate WORKLOAD ARCH [--mapping FILE] [--set ...] [--model NAME] [--objective latency|energy|edp] [--json]
    einsumx reproduce fusemax [--json] [--out DIR]
    einsumx import-timeloop FILE... [--json] [--out DIR]
    einsumx export-timeloop WORKLOAD ARCH [--mapping FILE] [--set ...] --out DIR
    einsumx sweep WORKLOAD... [--arch A...] [--mapping M...] [--spec FILE] [--grid NAME=VALUES ...] [--out DIR]
    einsumx query DIR "SQL"
    einsumx pareto DIR [--objectives latency_s,energy_pj] [--where SQL] [--by workload] [--out FILE.csv]
    einsumx report DIR --out REPORT_DIR        (DIR: a sweep's store)
    einsumx operators
    einsumx models

A mistake in the input prints ``file:line:col: message`` and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import EinsumxError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="einsumx", description="Analytical design-space explorer for cascades of Einsums.")
    sub = p.add_subparsers(dest="command", required=True)

    def point_options(sp):
        sp.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                        help="set a parameter or rank size (an integer or an expression of parameters)")
        sp.add_argument("--model", help="a model preset: bert, trxl, t5, xlm")

    a = sub.add_parser("analyze", help="static analysis of one workload")
    a.add_argument("workload")
    point_options(a)
    a.add_argument("--json", action="store_true", help="print one JSON object")

    r = sub.add_parser("report", help="HTML and Markdown report of workloads, or of a sweep's store")
    r.add_argument("workloads", nargs="+", help="workload files, or one sweep directory (einsumx sweep --out DIR)")
    point_options(r)
    r.add_argument("--out", default="reports", help="output directory (default: reports)")

    def evaluation_options(sp):
        sp.add_argument("workload")
        sp.add_argument("architecture", help="a template name (fusemax, flat, edge, tpu) or a YAML file")
        sp.add_argument("--mapping", help="a mapping file (default: one fused phase, automatic binding)")
        point_options(sp)
        sp.add_argument("--objective", default="latency", help="what the mapper minimises: latency, energy or edp")

    ev = sub.add_parser("evaluate", help="latency, energy, utilization, traffic and area on an architecture")
    evaluation_options(ev)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--backend", choices=("einsumx", "timeloop"), default="einsumx",
                    help="timeloop: also run timeloop-model (if installed) on each Einsum and show its numbers")

    rp = sub.add_parser("reproduce", help="re-run a published study from shipped YAML files")
    rp.add_argument("study", help="a study name (fusemax) or file")
    rp.add_argument("--json", action="store_true", help="print {rows, headline} as JSON")
    rp.add_argument("--out", help="also write the figures (PNG), rows.json and rows.csv here")

    it = sub.add_parser("import-timeloop", help="evaluate Timeloop/Accelergy YAML (arch, problem, mapping, ERT, ART)")
    it.add_argument("files", nargs="+", help="Timeloop YAML files, or the expanded parsed-processed-input.yaml")
    it.add_argument("--json", action="store_true", help="print one JSON object")
    it.add_argument("--out", help="also write the einsumx workload, normalized Timeloop files and stats here")

    et = sub.add_parser("export-timeloop", help="write each Einsum as Timeloop v4 problem, architecture and mapping")
    evaluation_options(et)
    et.add_argument("--out", required=True, help="output directory (one subdirectory per Einsum)")

    from .sweep.commands import add_commands

    add_commands(sub)

    sub.add_parser("operators", help="the operator catalogue and cost classes")
    sub.add_parser("models", help="the model presets")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    try:
        return _run(args)
    except EinsumxError as err:
        print(str(err), file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - `einsumx ... | head`
        return 0


def _run(args) -> int:
    from . import analyze, load_workload
    from .ir.values import parse_overrides

    if args.command == "operators":
        from .ir.operators import catalogue_rows

        rows = catalogue_rows()
        width = max(len(r["operator"]) for r in rows)
        for r in rows:
            print(f"{r['operator']:<{width}}  {r['kind']:<7}  {r['cost']:<40}  {r['formula']}")
        return 0
    if args.command == "models":
        from .presets import models

        for key, m in models().items():
            print(f"{key:<5} {m['label']:<20} " + " ".join(f"{k}={v}" for k, v in m["params"].items()))
        return 0
    if args.command == "evaluate":
        from .model import evaluate
        from .report.evaluation import render_evaluation

        ev = evaluate(args.workload, args.architecture, args.mapping, overrides=args.set, model_name=args.model,
                      objective=args.objective)
        for w in ev.model.cascade.warnings:
            print(str(w), file=sys.stderr)
        if args.backend == "timeloop":
            from .interop.timeloop.cli import compare_with_timeloop

            ev.results["timeloop"] = compare_with_timeloop(ev)
        if args.json:
            print(json.dumps(ev.results, indent=2))
        else:
            print(render_evaluation(ev))
            if args.backend == "timeloop":
                from .interop.timeloop.cli import render_comparison

                print(render_comparison(ev.results["timeloop"]))
        return 0
    if args.command == "import-timeloop":
        from .interop.timeloop.cli import import_command

        return import_command(args)
    if args.command == "export-timeloop":
        from .interop.timeloop.cli import export_command

        return export_command(args)
    if args.command == "reproduce":
        return _reproduce(args)
    if args.command in ("sweep", "query", "pareto"):
        from .sweep import commands

        if args.command == "sweep":
            return commands.sweep_command(args, args.argv)
        return commands.query_command(args) if args.command == "query" else commands.pareto_command(args)
    if args.command == "report" and len(args.workloads) == 1 and (Path(args.workloads[0]) / "sweep.json").exists():
        from .report.sweep import write_sweep_report

        paths = write_sweep_report(args.workloads[0], args.out, args.argv)
        for p in paths:
            print(f"report written: {p}")
        return 0
    overrides = parse_overrides(args.set)
    if args.command == "analyze":
        cascade = load_workload(args.workload)
        for w in cascade.warnings:
            print(str(w), file=sys.stderr)
        an = analyze(cascade, overrides=overrides, model=args.model)
        if args.json:
            print(json.dumps(an.to_dict(), indent=2))
        else:
            from .report.text import render

            print(render(an))
        return 0
    if args.command == "report":
        from .report.html import write_report

        path = write_report(args.workloads, args.out, overrides=overrides, model=args.model)
        print(f"report written: {path}")
        return 0
    raise AssertionError(args.command)  # pragma: no cover


def _reproduce(args) -> int:
    import time
    from pathlib import Path

    from .study import headline, load_study, print_table, run_study, write_figures

    study = load_study(args.study)
    start = time.perf_counter()
    rows = run_study(study, progress=lambda msg: print(msg, file=sys.stderr))
    head = headline(study, rows)
    if args.out:
        out = Path(args.out)
        for path in write_figures(study, rows, out):
            print(f"figure written: {path}", file=sys.stderr)
        (out / "rows.json").write_text(json.dumps({"rows": rows, "headline": head}, indent=1))
        import csv

        with open(out / "rows.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if args.json:
        print(json.dumps({"rows": rows, "headline": head}, indent=1))
    else:
        print(f"{study.name}: {study.description}")
        print_table(study, rows, head)
    print(f"{len(rows)} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
