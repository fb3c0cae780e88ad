"""The ``sweep``, ``query`` and ``pareto`` commands (option handling and printing)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np

from ..errors import EinsumxError, Origin


def add_commands(sub) -> None:
    s = sub.add_parser("sweep", help="evaluate workloads x architectures x grids into a Parquet store")
    s.add_argument("workloads", nargs="*", help="workload files (or names of shipped ones)")
    s.add_argument("--arch", nargs="+", action="extend", default=[], metavar="ARCH",
                   help="architecture names or files (default: every shipped architecture that can run each workload)")
    s.add_argument("--mapping", nargs="+", action="extend", default=[], metavar="FILE",
                   help="mapping templates ('auto': one fused phase); default: the shipped templates written for each workload")
    s.add_argument("--spec", help="a sweep file (architectures/sweeps/*.yaml); the options above replace its lists")
    s.add_argument("--grid", action="append", default=[], metavar="NAME=VALUES",
                   help="one parameter's values: a list (1K,4K) or a range (1K..1M*4, 1..8+1); repeat per parameter")
    s.add_argument("--objective", help="what the mapper minimises per point: latency (default), energy or edp")
    s.add_argument("--out", help="the store's directory (default: sweeps/NAME)")
    s.add_argument("--workers", type=int, help="local processes (default: one per core)")
    s.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask distributed scheduler (tcp://host:8786)")
    s.add_argument("--chunk-points", type=int, help="design points per stored chunk (default 262144)")
    s.add_argument("--overwrite", action="store_true", help="replace a different sweep stored in --out")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress bar; print only the summary line")

    q = sub.add_parser("query", help="SQL over a sweep's store (tables: points, runs), through DuckDB")
    q.add_argument("store", help="a sweep's --out directory")
    q.add_argument("sql", help='for example: "SELECT workload, min(latency_s) FROM points GROUP BY ALL"')
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")

    p = sub.add_parser("pareto", help="the non-dominated designs of a sweep")
    p.add_argument("store", help="a sweep's --out directory")
    p.add_argument("--objectives", default="latency_s,energy_pj",
                   help="columns, each optionally :min (default) or :max (default: latency_s,energy_pj)")
    p.add_argument("--where", help="an SQL condition on the points (feasible designs only, always)")
    p.add_argument("--by", help="columns to take fronts within, comma-separated, or 'none' (default: workload and every "
                                "swept workload parameter, so that a front compares designs doing the same work)")
    p.add_argument("--out", help="write the front's rows, every column, to this file (CSV, or Parquet if it ends in .parquet)")
    p.add_argument("--limit", type=int, default=50, help="rows to print (default 50; 0: all)")


def sweep_command(args, argv: list[str]) -> int:
    from . import load_spec, read_meta, resolve, run_sweep

    if not args.workloads and not args.spec and args.arch:
        _workloads_after_arch(args.arch)
    spec = load_spec(args.spec, args.workloads, args.arch, args.mapping, args.grid, args.objective, args.chunk_points)
    quiet = args.quiet
    if args.workers is not None and args.workers < 1:
        raise EinsumxError(f"--workers must be at least 1, got {args.workers}", Origin("--workers"))
    import os

    workers = args.workers or len(os.sched_getaffinity(0))
    out = Path(args.out or Path("sweeps") / spec.name)
    try:
        sweep = resolve(spec, None if quiet else (lambda m: print(m, file=sys.stderr)), workers,
                        known=None if args.overwrite else (lambda digest: _complete(out, digest)))
    except KeyboardInterrupt:
        print("\ninterrupted while checking the sweep: nothing stored", file=sys.stderr)
        return 130
    if sweep is None:
        meta = read_meta(out)
        print(f"{spec.title} is already complete: {meta['points']:,} points in {out} (nothing recomputed)")
        return 0
    for r in sweep.runs:
        if len(r.bindings) > 1 and not quiet:
            keys = ", ".join(r.keys[i].name for i in r.binding_keys)
            print(f"note: {r.workload_name} on {r.architecture_name} ({r.mapping_name}): {len(r.bindings)} model structures "
                  f"over the grid (binding, schedule, registers; they depend on {keys}); each point's is in the 'binding' column",
                  file=sys.stderr)
    for note in sweep.notes if not quiet else []:
        print(f"note: {note}", file=sys.stderr)
    for s in sweep.skipped:
        print(f"skipped: {s['workload']} on {s['architecture']} ({s['mapping']}): {s['reason']}", file=sys.stderr)
    command = "einsumx " + shlex.join(argv)
    if not quiet:
        print(f"{spec.title}: {_n(sweep.points, 'design point')} in {_runs(sweep)} -> {out}", file=sys.stderr)
    try:
        res = run_sweep(sweep, out, command, workers, args.scheduler, quiet, args.overwrite)
    except KeyboardInterrupt:
        from .store import stored_chunks

        done = sum(r.chunk_range(k)[1] - r.chunk_range(k)[0] for r in sweep.runs for k in range(r.chunks)
                   if (r.id, k) in stored_chunks(out))
        print(f"\ninterrupted: {done:,} of {sweep.points:,} points stored in {out}; run the same command again to resume",
              file=sys.stderr)
        return 130
    if res.computed_points == 0:
        print(f"{spec.title} is already complete: {res.points:,} points in {out} (nothing recomputed)")
    else:
        rate = res.computed_points / res.seconds if res.seconds else float("inf")
        print(f"{spec.title}: {_n(res.points, 'point')} in {_runs(sweep)} stored in {out} "
              f"({res.computed_points:,} evaluated in {res.seconds:.1f} s, {rate:,.{0 if rate >= 10 else 1}f} points/s)")
    return 0


def _complete(out: Path, digest: str) -> bool:
    """Whether ``out`` holds this sweep, complete."""
    from .store import read_meta

    if not (out / "sweep.json").exists():
        return False
    meta = read_meta(out)
    return meta.get("status") == "complete" and meta.get("digest") == digest


def _workloads_after_arch(archs: list[str]) -> None:
    """``sweep --arch A W.yaml``: --arch took the workloads; say so."""
    import yaml

    from ..arch import find_architecture

    stray = []
    for a in archs:
        try:
            top = yaml.safe_load(find_architecture(a).read_text())
        except (EinsumxError, OSError, yaml.YAMLError):
            continue  # reported as it is when the sweep is read
        if isinstance(top, dict) and "einsums" in top:
            stray.append(a)
    if stray:
        raise EinsumxError(f"no workloads: --arch took {', '.join(repr(a) for a in stray)}; name the workloads before "
                           f"the options (einsumx sweep W.yaml ... --arch A ...)", Origin("--arch", None, None, stray[0]))


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _runs(sweep) -> str:
    return _n(len(sweep.runs), "run")


def query_command(args) -> int:
    from .store import query

    df = query(args.store, args.sql)
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(df.to_json(orient="records", indent=1))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200):
            print(df.to_string(index=False))
    return 0


def pareto_front(store, objectives: list[tuple[str, bool]], where: str | None = None, by: list[str] | None = None,
                 arrow: bool = False):
    """The front's rows (every column) of the feasible points matching ``where``,
    one front per value of the ``by`` columns (a DataFrame, or a pyarrow
    Table with ``arrow``). Only the objectives, the point's key and its
    group number leave DuckDB for the sort; then the front's rows, whole."""
    import duckdb
    import pandas as pd

    from ..pareto import nondominated
    from .store import connect

    con = connect(store)
    cols = {r[0] for r in con.execute("DESCRIBE points").fetchall()}
    for name, _ in objectives:
        if name not in cols:
            raise EinsumxError(f"no column '{name}' in the store (columns: {', '.join(sorted(cols))})",
                               Origin("--objectives"))
    by = [b for b in (by or []) if b]
    for b in by:
        if b not in cols:
            raise EinsumxError(f"--by: no column '{b}' in the store", Origin("--by"))
    cond = "feasible" + (f" AND ({where})" if where else "")
    quoted = [f'"{b}"' for b in by]
    objs = ", ".join(f'p."{n}"' for n, _ in objectives)
    try:
        if by:  # the groups are few: number them, and join each point to its number
            con.execute(f"CREATE TEMP TABLE fronts AS SELECT *, (row_number() OVER ()) - 1 AS front_group "
                        f"FROM (SELECT DISTINCT {', '.join(quoted)} FROM points WHERE {cond})")
            on = " AND ".join(f"p.{q} IS NOT DISTINCT FROM g.{q}" for q in quoted)
            data = con.execute(f"SELECT p.run, p.point, {objs}, g.front_group FROM (SELECT * FROM points WHERE {cond}) p "
                               f"JOIN fronts g ON {on}").fetchnumpy()
        else:
            data = con.execute(f"SELECT p.run, p.point, {objs} FROM points p WHERE {cond}").fetchnumpy()
    except duckdb.Error as exc:
        raise EinsumxError(f"--where: {str(exc).splitlines()[0]}", Origin("--where", 1, None, where or "")) from None
    n = len(data["run"])
    keep = np.zeros(n, bool)
    x = np.column_stack([np.asarray(data[name], dtype=float) for name, _ in objectives]) if n else np.empty((0, len(objectives)))
    maximize = [m for _, m in objectives]
    if by and n:
        groups = np.asarray(data["front_group"])
        order = np.argsort(groups, kind="stable")
        bounds = np.flatnonzero(np.diff(groups[order])) + 1
        for rows in np.split(order, bounds):
            keep[rows] = nondominated(x[rows], maximize)
    elif n:
        keep = nondominated(x, maximize)
    sel = pd.DataFrame({"run": np.asarray(data["run"])[keep], "point": np.asarray(data["point"])[keep]})
    con.register("front_keys", sel)
    order = ", ".join(quoted + [f'"{name}"' + (" DESC" if m else "") for name, m in objectives] + ["run", "point"])
    result = con.sql(f"SELECT p.* FROM points p SEMI JOIN front_keys k ON p.run = k.run AND p.point = k.point "
                     f"ORDER BY {order}")
    if not arrow:
        return result.df()
    return result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.fetch_arrow_table()  # DuckDB 2 / 1


def _plain_schema(schema):
    """``schema`` with dictionary columns as plain strings (for CSV)."""
    import pyarrow as pa

    return pa.schema([pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema])


def pareto_command(args) -> int:
    from ..pareto import parse_objectives
    from .store import read_meta

    objectives = parse_objectives(args.objectives)
    meta = read_meta(args.store)
    if args.by is None:
        by = ["workload"] + [k.replace(".", "_") for k in meta.get("workload_keys", [])]
    else:
        by = [] if args.by.strip().lower() == "none" else [b.strip() for b in args.by.split(",")]
    table = pareto_front(args.store, objectives, args.where, by, arrow=True)
    swept = [k.replace(".", "_") for k in meta.get("grid", {})]
    shown = [c for c in ["workload", "architecture", "mapping"] + swept + [n for n, _ in objectives] if c in table.column_names]
    shown = list(dict.fromkeys(shown))
    import pandas as pd

    limit = len(table) if args.limit is None or args.limit <= 0 else args.limit
    with pd.option_context("display.max_rows", None, "display.max_columns", 30, "display.width", 220):
        print(table.slice(0, limit).select(shown).to_pandas().to_string(index=False))
    senses = ", ".join(f"{n} {'max' if m else 'min'}" for n, m in objectives)
    per = "; per " + ", ".join(by) if by else ""
    if limit < len(table):
        print(f"... {len(table) - limit:,} more rows (--limit 0 prints all; --out FILE.csv writes every column)")
    print(f"{len(table):,} Pareto designs ({senses}{per})", file=sys.stderr)
    if args.out:
        import pyarrow.csv

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        if args.out.endswith(".parquet"):
            import pyarrow.parquet

            pyarrow.parquet.write_table(table, args.out)
        else:
            pyarrow.csv.write_csv(table.cast(_plain_schema(table.schema)), args.out)
        print(f"written: {args.out}", file=sys.stderr)
    return 0
