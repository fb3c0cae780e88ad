"""Writing Timeloop v4 / Accelergy YAML from einsumx's loop-nest objects,
and an einsumx workload from a Timeloop problem.

``write_timeloop`` writes ``arch.yaml``, ``prob.yaml``, ``map.yaml``,
``ERT.yaml`` and ``ART.yaml`` into a directory: what ``timeloop-model`` takes
(``timeloop-model arch.yaml prob.yaml map.yaml ERT.yaml ART.yaml``) and what
``read_timeloop`` reads back to the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ...errors import EinsumxError
from ...model.loopnest import Hierarchy, LoopNest, Problem

def _top(h: Hierarchy) -> str:
    """The top container's name: the hierarchy's, made a plain identifier."""
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in h.name) or "System"
    return name if name[0].isalpha() else f"System_{name}"


def _dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def problem_yaml(problem: Problem) -> str:
    """Timeloop v4 problem: dimensions, data spaces with projections
    (numeric coefficients become named coefficients), instance sizes."""
    coefficients: dict[str, int] = {}

    def term(d: str, c: int) -> list:
        if c == 1:
            return [d]
        name = f"c{c}"
        coefficients[name] = c
        return [d, name]

    spaces = []
    for ds in problem.data_spaces:
        entry = {"name": ds.name, "projection": [[term(d, c) for d, c in axis] for axis in ds.projection]}
        if ds.read_write:
            entry["read_write"] = True
        spaces.append(entry)
    shape = {"name": problem.name, "dimensions": list(problem.dims)}
    if coefficients:
        shape["coefficients"] = [{"name": k, "default": v} for k, v in coefficients.items()]
    shape["data_spaces"] = spaces
    return _dump({"problem": {"version": 0.4, "shape": shape, "instance": dict(problem.dims)}})


def architecture_yaml(h: Hierarchy) -> str:
    """Timeloop v4 ``nodes``: a container per fan-out, a component per level."""
    lines = ["architecture:", "  version: 0.4", "  nodes:"]

    def node(tag: str, body: dict) -> None:
        lines.append(f"  - {tag}")
        lines.append(_indent(_dump(body), 4).rstrip("\n"))

    node("!Container", {"name": _top(h), "attributes": {"technology": h.technology or "unknown",
                                                    "global_cycle_seconds": h.cycle_seconds}})
    instances, mesh_x = 1, 1
    for k, comp in enumerate((*h.levels, h.compute)):
        n = comp.instances
        mx = comp.mesh_x or n
        if n % instances or mx % mesh_x:
            raise EinsumxError(f"{comp.name} has {n} instances, not a multiple of the {instances} above it")
        ratio, ratio_x = n // instances, mx // mesh_x
        if ratio > 1:
            node("!Container", {"name": f"{comp.name}_array", "spatial": {"meshX": ratio_x, "meshY": ratio // ratio_x}})
        instances, mesh_x = n, mx
        if k < len(h.levels):
            lv = comp
            attrs = {"datawidth": lv.word_bits, "width": lv.word_bits * lv.block_words}
            if lv.depth is not None:
                attrs["depth"] = lv.depth
            for key in ("read_bandwidth", "write_bandwidth", "shared_bandwidth"):
                if getattr(lv, key) is not None:
                    attrs[key] = getattr(lv, key)
            node("!Component", {"name": lv.name, "class": lv.cls, "attributes": attrs})
        else:
            node("!Component", {"name": comp.name, "class": comp.cls, "attributes": {"width": comp.word_bits}})
    return "\n".join(lines) + "\n"


def _permutation(dims: list[str]) -> str:
    return "".join(dims) if all(len(d) == 1 for d in dims) else " ".join(dims)


def mapping_yaml(problem: Problem, nest: LoopNest) -> str:
    """Timeloop v4 mapping: per level a temporal directive (every dimension,
    factor 1 included, permutation innermost first), a spatial one when the
    level fans out, and a dataspace directive when it bypasses a tensor."""
    out = []
    all_spaces = [ds.name for ds in problem.data_spaces]
    for m in nest.levels:
        # loops of factor 1 change nothing: Timeloop's one factor per dimension is about the others
        temporal_loops = [(d, f) for d, f in m.temporal if f > 1]
        spatial_loops = [(d, f, a) for d, f, a in m.spatial if f > 1]
        for kind, loops in (("temporal", temporal_loops), ("spatial", spatial_loops)):
            dims = [loop[0] for loop in loops]
            twice = next((d for d in dims if dims.count(d) > 1), None)
            if twice is not None:
                raise EinsumxError(f"level {m.level} has two {kind} loops over {twice}: a Timeloop mapping gives "
                                   "one factor per dimension per level", m.origin or nest.origin)
        temporal = dict(temporal_loops)
        order = [d for d, _ in reversed(temporal_loops)] + [d for d in problem.dims if d not in temporal]
        out.append({"target": m.level, "type": "temporal",
                    "factors": " ".join(f"{d}={temporal.get(d, 1)}" for d in problem.dims),
                    "permutation": _permutation(order)})
        if spatial_loops:
            inner_first = list(reversed(spatial_loops))
            xs = [d for d, _, a in inner_first if a == "X"]
            ys = [d for d, _, a in inner_first if a != "X"]
            out.append({"target": m.level, "type": "spatial",
                        "factors": " ".join(f"{d}={f}" for d, f, _ in spatial_loops),
                        "permutation": _permutation(xs + ys), "split": len(xs)})
        if m.keep is not None:
            out.append({"target": m.level, "type": "dataspace",
                        "keep": [t for t in all_spaces if t in m.keep],
                        "bypass": [t for t in all_spaces if t not in m.keep]})
    return _dump({"mapping": out})


def energy_yaml(h: Hierarchy) -> str:
    """Accelergy ERT: per vector access (read/write/update), leak per cycle,
    compute per operation."""
    tables = []
    for lv in h.levels:
        tables.append({"name": f"{_top(h)}_top_level.{lv.name}[1..{lv.instances}]",
                       "actions": [{"name": a, "energy": float(lv.energy_pj.get(a, 0.0))}
                                   for a in ("update", "read", "write", "leak")]})
    tables.append({"name": f"{_top(h)}_top_level.{h.compute.name}[1..{h.compute.instances}]",
                   "actions": [{"name": "compute", "energy": float(h.compute.energy_pj)}]})
    return _dump({"ERT": {"version": "0.4", "tables": tables}})


def area_yaml(h: Hierarchy) -> str:
    tables = [{"name": f"{_top(h)}_top_level.{c.name}[1..{c.instances}]", "area": float(c.area_um2)}
              for c in (*h.levels, h.compute)]
    return _dump({"ART": {"version": "0.4", "tables": tables}})


FILES = ("arch.yaml", "prob.yaml", "map.yaml", "ERT.yaml", "ART.yaml")


def write_timeloop(problem: Problem, h: Hierarchy, nest: LoopNest, out: str | Path) -> list[Path]:
    """Write the five Timeloop input files into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    texts = (architecture_yaml(h), problem_yaml(problem), mapping_yaml(problem, nest), energy_yaml(h), area_yaml(h))
    paths = []
    for name, text in zip(FILES, texts):
        (out / name).write_text(text)
        paths.append(out / name)
    return paths


# -- an einsumx workload from a Timeloop problem ---------------------------------

def workload_yaml(problem: Problem, source: str = "") -> str:
    """The einsumx workload of a Timeloop problem: one rank per dimension,
    one per tensor dimension that sums several (``Inputs[r+p]``), one Einsum.

    >>> from einsumx.model.loopnest import DataSpace, Problem
    >>> p = Problem("Conv1D", {"R": 3, "P": 16}, (DataSpace("Weights", ((("R", 1),),)),
    ...     DataSpace("Inputs", ((("R", 1), ("P", 1)),)), DataSpace("Outputs", ((("P", 1),),), True)))
    >>> print(workload_yaml(p).split("einsums: |")[1].strip().splitlines()[0])
    Outputs[p] = Weights[r] * Inputs[r + p]
    """
    ranks = {d: n for d, n in problem.dims.items()}
    for d in problem.dims:
        if not d[:1].isalpha() or d.lower() == d or d.lower() in {ds.name for ds in problem.data_spaces}:
            raise EinsumxError(f"dimension '{d}' cannot be an einsumx rank (ranks start with an uppercase letter; "
                               "its lowercase is its index)")
    tensors: dict[str, list[str]] = {}
    accesses: dict[str, str] = {}
    output = None
    for ds in problem.data_spaces:
        positions = []
        dims = []
        for k, axis in enumerate(ds.projection):
            text = " + ".join(d.lower() if c == 1 else f"{c}*{d.lower()}" for d, c in axis)
            positions.append(text)
            if len(axis) == 1 and axis[0][1] == 1:
                dims.append(axis[0][0])
            else:
                if ds.read_write:
                    raise EinsumxError(f"the output {ds.name} of {problem.name} is indexed by '{text}': an einsumx "
                                       "output position holds one index")
                name = f"{ds.name[:1].upper()}{ds.name[1:]}_{k}"
                ranks[name] = sum(abs(c) * (problem.dims[d] - 1) for d, c in axis) + 1
                dims.append(name)
        accesses[ds.name] = f"{ds.name}[{', '.join(positions)}]" if positions else ds.name
        if ds.read_write:
            output = ds.name
        else:
            tensors[ds.name] = dims
    inputs = [accesses[ds.name] for ds in problem.data_spaces if not ds.read_write]
    body = " * ".join(inputs) if inputs else "1"
    lines = [f"name: {problem.name}",
             f"description: {_quote(f'Imported from Timeloop ({source}).' if source else 'Imported from Timeloop.')}",
             "ranks:"]
    lines += [f"  {r}: {n}" for r, n in ranks.items()]
    if tensors:
        lines.append("tensors:")
        lines += [f"  {t}: [{', '.join(ds)}]" for t, ds in tensors.items()]
    lines += ["einsums: |", f"  {accesses[output]} = {body}", f"outputs: [{output}]"]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return yaml.safe_dump(text, default_style='"').strip()

