"""The readable report of one evaluation: the result, then the terms
behind it (which Einsum on which array, which tensor moved how)."""

from __future__ import annotations

from .text import human_bytes


def _g(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 or x == int(x) else f"{x:.4g}"


def render_evaluation(ev) -> str:
    r = ev.results
    lines = [
        f"{r['workload']} on {r['architecture']} (mapping: {r['mapping']})",
        "",
        f"latency_s    {r['latency_s']:.6g}   ({_g(r['cycles'])} cycles; compute {_g(r['compute_cycles'])}, "
        f"memory {_g(r['memory_cycles'])})",
        f"energy_pj    {r['energy_pj']:.6g}",
        "utilization  " + ", ".join(f"{a} {u:.3f}" for a, u in r["utilization"].items()),
        f"dram_bytes   {_g(r['dram_bytes'])} ({human_bytes(int(r['dram_bytes']))})",
        "buffer_required_bytes  " + ", ".join(f"{k} {_g(v)}" for k, v in r["buffer_required_bytes"].items())
        + (f"   (spilled: {r['spill_fraction']:.1%} of the pass-crossing tiles)" if r["spill_fraction"] > 0 else ""),
        f"area_mm2     {r['area_mm2']:.4g} (" + ", ".join(f"{k} {v:.4g}" for k, v in r["area_mm2_by_component"].items()) + ")",
        "",
        "mapper's choices (" + f"{ev.feasible} of {ev.candidates} candidates fit): "
        + "; ".join(f"{k} = {v}" for k, v in r["choices"].items()) if r["choices"] else "mapper's choices: none to make",
    ]
    for p in r["phases"]:
        lines += ["", f"phase '{p['name']}': {_g(p['steps'])} steps, {p['steps_in_flight']} in flight; stages per step: {p['schedule']}",
                  f"  compute {_g(p['compute_cycles'])} cycles, memory {_g(p['memory_cycles'])} cycles"]
        if p["views"]:
            lines.append("  views (no work): " + ", ".join(f"{a} = {b}" for a, b in p["views"].items()))
        for t in p["dram"]:
            lines.append(f"  DRAM {t['kind']:<5} {t['tensor']:<6} {_g(t['bytes']):>22} B   {t['why']}")
        held = ", ".join(f"{k} {human_bytes(int(v))}" for k, v in p["buffer_bytes"].items() if v)
        lines.append(f"  GLB holds: {held}")
    lines += ["", f"{'Einsum':<8} {'array':<6} {'spatial':<18} {'points':>18} {'cyc/pt':>6} {'PEs':>7} {'busy cycles':>14} {'busy':>6} {'energy_pj':>11}"]
    for e in r["einsums"]:
        sp = ",".join(f"{a}={v}" for a, v in e["spatial"].items())
        lines.append(f"{e['einsum']:<8} {e['array']:<6} {sp:<18} {_g(e['points']):>18} {_g(e['cycles_per_point']):>6} "
                     f"{_g(e['engaged_pes']):>7} {_g(e['busy_cycles']):>14} {e['busy_fraction']:>6.1%} {e['energy_pj']:>11.4g}")
    lines += ["", "energy_pj by action: " + ", ".join(f"{k} {v:.3g}" for k, v in sorted(r["energy_pj_by_action"].items(), key=lambda kv: -kv[1]))]
    return "\n".join(lines)
