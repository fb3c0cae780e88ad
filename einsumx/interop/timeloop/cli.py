"""The ``import-timeloop`` / ``export-timeloop`` commands and ``evaluate
--backend timeloop`` (thin: the work is in ``read``, ``write``, ``cascade``)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ...errors import EinsumxError
from ...model.loopnest import evaluate as evaluate_nest
from . import import_timeloop
from .cascade import export_cascade
from .run import find_timeloop, run_timeloop
from .stats import format_loop_nest, format_stats
from .write import write_timeloop


def import_command(args) -> int:
    imp = import_timeloop(args.files)
    s = imp.stats
    out = s.as_dict()
    if not imp.spec.has_energy:
        for key in ("energy_pj", "fj_per_compute", "level_energy_pj", "leak_energy_pj"):
            out[key] = None
        out["compute"]["energy_pj"] = None
        for tensors in out["levels"].values():
            for counts in tensors.values():
                counts["energy_pj"] = None
        out["notes"].append("no energy table (ERT) given: energy is not computed")
    if args.out:
        d = Path(args.out)
        written = write_timeloop(imp.problem, imp.spec.hierarchy, imp.spec.nest, d)
        # tables that were not given are not invented: a re-import says 'not computed' again
        for path, given in zip(written[3:], (imp.spec.has_energy, imp.spec.has_area)):
            if not given:
                path.unlink()
                written.remove(path)
        (d / "workload.yaml").write_text(imp.workload_text)
        (d / "stats.txt").write_text(format_stats(s))
        (d / "map.txt").write_text(format_loop_nest(s))
        names = ", ".join(p.name for p in written)
        print(f"written in {d}: workload.yaml (einsumx), {names} (Timeloop v4), stats.txt, map.txt", file=sys.stderr)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(format_loop_nest(s))
    print(format_stats(s), end="")
    if not imp.spec.has_energy:
        print("note: no energy table (ERT) given: energies above are 0, not estimates")
    return 0


def _exported(ev, out: Path) -> list[dict]:
    rows = []
    for k, x in enumerate(export_cascade(ev), start=1):
        d = out / f"{k:02d}-{x.label}"
        write_timeloop(x.problem, x.hierarchy, x.nest, d)
        row = {"einsum": x.label, "dir": str(d), "notes": x.notes}
        try:
            s = evaluate_nest(x.problem, x.hierarchy, x.nest)
        except EinsumxError as err:  # a nest the loop-nest model rejects (a tile too large): say why
            row["error"] = err.message
        else:
            (d / "einsumx-stats.txt").write_text(format_stats(s))
            (d / "einsumx-map.txt").write_text(format_loop_nest(s))
            row.update(cycles=s.cycles, energy_pj=s.energy_pj, utilization=s.utilization)
        if x.notes:
            (d / "NOTES.txt").write_text("\n".join(x.notes) + "\n")
        rows.append(row)
    return rows


def export_command(args) -> int:
    from ...model import evaluate

    ev = evaluate(args.workload, args.architecture, args.mapping, overrides=args.set, model_name=args.model,
                  objective=args.objective)
    out = Path(args.out)
    rows = _exported(ev, out)
    width = max(len(r["einsum"]) for r in rows)
    print(f"{'einsum':<{width}}  {'cycles':>14}  {'energy_pj':>14}  directory")
    for r in rows:
        if "error" in r:
            print(f"{r['einsum']:<{width}}  {'-':>14}  {'-':>14}  {r['dir']}  ({r['error']})")
        else:
            print(f"{r['einsum']:<{width}}  {r['cycles']:>14,}  {r['energy_pj']:>14.4g}  {r['dir']}")
        for note in r["notes"]:
            print(f"{'':<{width}}  note: {note}")
    print(f"Timeloop inputs written under {out}/ (run: timeloop-model arch.yaml prob.yaml map.yaml ERT.yaml ART.yaml)")
    return 0


def compare_with_timeloop(ev) -> list[dict]:
    """Per Einsum, einsumx's loop-nest numbers and timeloop-model's."""
    if find_timeloop() is None:
        run_timeloop(".")  # raises the clear 'not on PATH' error
    with tempfile.TemporaryDirectory(prefix="einsumx-timeloop-") as tmp:
        rows = _exported(ev, Path(tmp))
        for r in rows:
            ref = run_timeloop(r["dir"])
            r["timeloop_cycles"] = ref.get("cycles")
            fj = ref.get("fj_per_compute", {}).get("Total")
            r["timeloop_energy_pj"] = fj * ref["computes"] / 1e3 if fj is not None and "computes" in ref else None
            del r["dir"]
    return rows


def render_comparison(rows: list[dict]) -> str:
    width = max(len(r["einsum"]) for r in rows)
    lines = ["", "Beside timeloop-model (one Einsum at a time, loop nests as exported):",
             f"  {'einsum':<{width}}  {'einsumx cycles':>14}  {'timeloop cycles':>15}  {'einsumx pJ':>12}  {'timeloop pJ':>12}"]
    for r in rows:
        lines.append(f"  {r['einsum']:<{width}}  {r.get('cycles', '-'):>14}  {r.get('timeloop_cycles', '-'):>15}  "
                     f"{r.get('energy_pj', float('nan')):>12.4g}  {r.get('timeloop_energy_pj') or float('nan'):>12.4g}")
    return "\n".join(lines)
