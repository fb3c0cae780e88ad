"""Reading Timeloop v4 / Accelergy YAML into einsumx's loop-nest objects.

Accepted, in any number of files (each file's top-level keys say what it
holds, so a split ``arch/prob/map`` set and Timeloop's expanded
``parsed-processed-input.yaml`` read the same way):

- ``architecture``: the v0.4 ``nodes`` list (``!Container``, ``!Component``,
  ``!Hierarchical``) or the ``subtree``/``local`` tree Timeloop dumps;
  component names may carry instance ranges (``PE[0..15]``), containers and
  components ``spatial: {meshX, meshY}`` or ``meshX``/``meshY`` attributes;
- ``problem``: ``shape`` (dimensions, data spaces with projections,
  coefficients) and ``instance``;
- ``mapping``: a list of ``temporal`` / ``spatial`` / ``dataspace`` (or
  ``bypass``) directives per target;
- ``ERT`` / ``ERT_summary`` and ``ART`` / ``ART_summary``: Accelergy's energy
  and area tables.

Every mistake is one ``EinsumxError`` at the file, line and offending text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from ...errors import EinsumxError, Origin
from ...lang.yamlsrc import Node, expect_list, expect_mapping, load_yaml, read_source
from ...model.loopnest import (ComputeUnit, DataSpace, Hierarchy, LevelMapping, LoopNest, Problem,
                               StorageLevel)

KNOWN_KEYS = ("architecture", "problem", "mapping", "ERT", "ERT_summary", "ART", "ART_summary")
IGNORED_KEYS = ("dumped_by_timeloop_front_end", "architecture_constraints", "compound_components", "mapper",
                "mapspace", "globals", "variables", "components", "mapspace_constraints", "sparse_optimizations")
STORAGE_DEFAULT_ACTIONS = ("read", "write", "update", "leak")
_RANGE = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<lo>\d+)\.\.(?P<hi>\d+)\])?$")


@dataclass
class TimeloopSpec:
    """What a set of Timeloop files describes, as einsumx objects."""

    problem: Problem
    hierarchy: Hierarchy
    nest: LoopNest
    has_energy: bool
    has_area: bool
    files: list[str] = field(default_factory=list)


def read_timeloop(paths) -> TimeloopSpec:
    """Read Timeloop/Accelergy YAML files (architecture, problem, mapping,
    and optionally ERT/ART) into a problem, a hierarchy and a loop nest.

    >>> spec = read_timeloop(["arch.yaml", "prob.yaml", "map.yaml", "ERT.yaml"])  # doctest: +SKIP
    >>> spec.problem.computes                                                    # doctest: +SKIP
    48
    """
    sections: dict[str, Node] = {}
    files = [str(p) for p in paths]
    for path in files:
        text = read_source(path, "Timeloop file")
        root, _ = load_yaml(text, path, what="Timeloop file")
        top = expect_mapping(root, f"{path}: a Timeloop file")
        for key, node in top.items():
            if key in IGNORED_KEYS:
                continue
            if key not in KNOWN_KEYS:
                raise EinsumxError(f"unknown top-level key '{key}' in a Timeloop file (expected one of: "
                                   f"{', '.join(KNOWN_KEYS)})", root.key_origins[key])
            if key in sections:
                raise EinsumxError(f"'{key}' is given twice (also in {sections[key].origin.file})", root.key_origins[key])
            sections[key] = node
    for key in ("architecture", "problem", "mapping"):
        if key not in sections:
            raise EinsumxError(f"no '{key}' in the Timeloop files given ({', '.join(files)})",
                               Origin(files[0], 1, 1) if files else Origin())
    energy = _tables(sections.get("ERT") or sections.get("ERT_summary"), "energy")
    area = _tables(sections.get("ART") or sections.get("ART_summary"), "area")
    problem = read_problem(sections["problem"])
    hierarchy = read_architecture(sections["architecture"], energy, area)
    nest = read_mapping(sections["mapping"], hierarchy, problem)
    return TimeloopSpec(problem, hierarchy, nest, energy is not None, area is not None, files)


# -- problem ------------------------------------------------------------------

def read_problem(node: Node) -> Problem:
    top = expect_mapping(node, "problem")
    shape_node = top.get("shape")
    if shape_node is None:
        raise EinsumxError("problem has no 'shape'", node.origin)
    shape = expect_mapping(shape_node, "problem.shape")
    name = str(shape["name"].value) if "name" in shape else "problem"
    if "dimensions" not in shape:
        raise EinsumxError("problem.shape has no 'dimensions'", shape_node.origin)
    dims = [_name(d, "a dimension") for d in expect_list(shape["dimensions"], "dimensions")]
    instance = expect_mapping(top["instance"], "problem.instance") if "instance" in top else {}
    coefficients: dict[str, int] = {}
    for c in expect_list(shape["coefficients"], "coefficients") if "coefficients" in shape else []:
        entry = expect_mapping(c, "a coefficient")
        cname = _name(_need(entry, "name", c, "a coefficient"), "a coefficient name")
        coefficients[cname] = _int(entry["default"], f"coefficient {cname}") if "default" in entry else 1
    for key, value in instance.items():
        if key in coefficients:
            coefficients[key] = _int(value, f"coefficient {key}")
    sizes: dict[str, int] = {}
    for d in dims:
        if d not in instance:
            raise EinsumxError(f"problem.instance has no size for dimension {d}", top.get("instance", node).origin)
        sizes[d] = _int(instance[d], f"dimension {d}")
        if sizes[d] < 1:
            raise EinsumxError(f"dimension {d} must be at least 1, not {sizes[d]}", instance[d].origin)
    for key in instance:
        if key not in sizes and key not in coefficients and key != "densities":
            raise EinsumxError(f"problem.instance sets '{key}', which is neither a dimension "
                               f"({', '.join(dims)}) nor a coefficient", top["instance"].key_origins[key])
    spaces = []
    for ds_node in expect_list(shape["data_spaces"], "data_spaces") if "data_spaces" in shape else []:
        ds = expect_mapping(ds_node, "a data space")
        ds_name = _name(_need(ds, "name", ds_node, "a data space"), "a data space name")
        projection = []
        for axis in expect_list(_need(ds, "projection", ds_node, f"data space {ds_name}"), f"{ds_name}.projection"):
            terms = []
            for term in expect_list(axis, f"{ds_name}.projection"):
                parts = term.value if isinstance(term.value, list) else [term]
                if not parts or len(parts) > 2:
                    raise EinsumxError(f"a projection term of {ds_name} is [dimension] or [dimension, coefficient]",
                                       term.origin)
                dim = _name(parts[0], "a dimension")
                if dim not in sizes:
                    raise EinsumxError(f"{ds_name} projects on '{dim}', which is not a dimension ({', '.join(dims)})",
                                       parts[0].origin)
                coef = 1
                if len(parts) == 2:
                    raw = parts[1].value
                    if isinstance(raw, int) and not isinstance(raw, bool):
                        coef = raw
                    elif str(raw) in coefficients:
                        coef = coefficients[str(raw)]
                    else:
                        raise EinsumxError(f"unknown coefficient '{raw}' in the projection of {ds_name}",
                                           parts[1].origin)
                terms.append((dim, coef))
            projection.append(tuple(terms))
        rw = ds.get("read_write")
        spaces.append(DataSpace(ds_name, tuple(projection), bool(rw.value) if rw is not None else False))
    if not spaces:
        raise EinsumxError("problem.shape has no data spaces", shape_node.origin)
    if sum(ds.read_write for ds in spaces) != 1:
        raise EinsumxError(f"problem {name} must have exactly one read_write data space (its output), "
                           f"not {sum(ds.read_write for ds in spaces)}", shape_node.origin)
    return Problem(name, sizes, tuple(spaces), coefficients)


# -- architecture ---------------------------------------------------------------

@dataclass
class _Component:
    name: str
    cls: str
    attributes: dict
    instances: int
    mesh_x: int
    origin: Origin
    attribute_origins: dict = field(default_factory=dict)

    def at(self, key: str) -> Origin:
        """Where attribute ``key`` is written (the component if inherited)."""
        return self.attribute_origins.get(key, self.origin)


def read_architecture(node: Node, energy: dict | None, area: dict | None) -> Hierarchy:
    top = expect_mapping(node, "architecture")
    components: list[_Component] = []
    attrs: dict = {}
    if "nodes" in top:
        _walk_nodes(top["nodes"], 1, 1, {}, components, attrs)
    elif "subtree" in top:
        _walk_subtree(top["subtree"], 1, 1, {}, components, attrs)
    else:
        raise EinsumxError("architecture has neither 'nodes' (v0.4) nor 'subtree'", node.origin)
    if len(components) < 2:
        raise EinsumxError("the architecture needs at least one storage level above a compute unit", node.origin)
    *storage, leaf = components
    cycle = _number(attrs.get("global_cycle_seconds", 1e-9), "global_cycle_seconds", node.origin, float)
    levels = tuple(_storage(c, energy, area) for c in storage)
    seen = set()
    for c in components:
        if c.name in seen:
            raise EinsumxError(f"two components are named {c.name}", c.origin)
        seen.add(c.name)
    compute_energy = _lookup(energy, leaf, "compute") if energy is not None else 0.0
    compute = ComputeUnit(leaf.name, leaf.cls, leaf.instances, leaf.mesh_x, compute_energy,
                          _area(area, leaf), _word_bits(leaf, 8), _plain(leaf.attributes))
    return Hierarchy(str(attrs.get("name", "timeloop")), levels, compute, cycle, str(attrs.get("technology", "")))


def _walk_nodes(node: Node, instances: int, mesh_x: int, inherited: dict, out: list, top_attrs: dict) -> None:
    for item in expect_list(node, "architecture.nodes"):
        entry = expect_mapping(item, "an architecture node")
        tag = item.tag or ("!Component" if "class" in entry else "!Container")
        attributes = dict(inherited)
        attributes.update(_attributes(entry))
        mx, my = _mesh(entry, attributes, item.origin)
        if tag == "!Container":
            instances *= mx * my
            mesh_x *= mx
            inherited = {k: v for k, v in attributes.items() if k in ("technology", "global_cycle_seconds")}
            top_attrs.update({k: v for k, v in attributes.items() if k in ("technology", "global_cycle_seconds")})
            top_attrs.setdefault("name", str(entry["name"].value) if "name" in entry else "timeloop")
        elif tag == "!Component":
            name, count = _instance_name(entry["name"]) if "name" in entry else (None, 1)
            if name is None:
                raise EinsumxError("a component needs a name", item.origin)
            cls = str(entry["class"].value) if "class" in entry else "storage"
            # a component's mesh replicates it and everything below it
            instances *= mx * my * count
            mesh_x *= mx if count == 1 else count
            out.append(_Component(name, cls, attributes, instances, mesh_x, item.origin, _attribute_origins(entry)))
        elif tag == "!Hierarchical":
            _walk_nodes(_need(entry, "nodes", item, "a !Hierarchical node"), instances, mesh_x, inherited, out, top_attrs)
        else:
            raise EinsumxError(f"architecture node {tag} is not supported (einsumx reads one chain of "
                               "!Container, !Component and !Hierarchical nodes)", item.origin)


def _walk_subtree(node: Node, instances: int, mesh_x: int, inherited: dict, out: list, top_attrs: dict) -> None:
    for item in expect_list(node, "architecture.subtree"):
        entry = expect_mapping(item, "an architecture subtree")
        name, count = _instance_name(_need(entry, "name", item, "a subtree"))
        attributes = dict(inherited)
        attributes.update(_attributes(entry))
        top_attrs.setdefault("name", name.removesuffix("_top_level"))
        top_attrs.update({k: v for k, v in attributes.items() if k in ("technology", "global_cycle_seconds")})
        inner = instances * count
        keep = {k: v for k, v in attributes.items() if k in ("technology", "global_cycle_seconds")}
        for local in expect_list(entry["local"], "local") if "local" in entry else []:
            comp = expect_mapping(local, "a local component")
            cname, ccount = _instance_name(_need(comp, "name", local, "a local component"))
            cattrs = dict(keep)
            cattrs.update(_attributes(comp))
            mx, my = _mesh(comp, cattrs, local.origin)
            per = ccount if ccount > 1 else mx * my  # copies within this subtree
            along_x = mx if mx > 1 else per           # without meshX, a range lies along X
            cls = str(comp["class"].value) if "class" in comp else "storage"
            out.append(_Component(cname, cls, cattrs, inner * per, mesh_x * along_x, local.origin,
                                  _attribute_origins(comp)))
        if "subtree" in entry:
            _walk_subtree(entry["subtree"], inner, mesh_x * count, keep, out, top_attrs)


def _attributes(entry: dict) -> dict:
    if "attributes" not in entry:
        return {}
    return {k: v.value for k, v in expect_mapping(entry["attributes"], "attributes").items()}


def _attribute_origins(entry: dict) -> dict:
    return dict(entry["attributes"].key_origins) if "attributes" in entry else {}


def _mesh(entry: dict, attributes: dict, origin: Origin) -> tuple[int, int]:
    spatial = {k: v.value for k, v in expect_mapping(entry["spatial"], "spatial").items()} if "spatial" in entry else {}
    mx = spatial.get("meshX", attributes.get("meshX", 1))
    my = spatial.get("meshY", attributes.get("meshY", 1))
    return _number(mx, "meshX", origin), _number(my, "meshY", origin)


def _instance_name(node: Node) -> tuple[str, int]:
    m = _RANGE.match(str(node.value).strip())
    if not m:
        raise EinsumxError(f"cannot read the name '{node.value}' (a name, or a name with a range like PE[0..15])",
                           node.origin)
    if m["lo"] is None:
        return m["name"], 1
    return m["name"], int(m["hi"]) - int(m["lo"]) + 1


def _word_bits(c: _Component, default: int) -> int:
    for key in ("datawidth", "word_bits", "word-bits"):
        if c.attributes.get(key) is not None:
            return _number(c.attributes[key], key, c.at(key))
    return default


def _plain(attributes: dict) -> dict:
    return {k: v for k, v in attributes.items() if isinstance(v, (int, float, str, bool)) or v is None}


def _storage(c: _Component, energy: dict | None, area: dict | None) -> StorageLevel:
    a = c.attributes
    word_bits = _word_bits(c, 8)
    if "block_size" in a or "block-size" in a:
        block = _number(a.get("block_size", a.get("block-size")), "block_size", c.at("block_size"))
    elif "width" in a:
        block = max(1, _number(a["width"], "width", c.at("width")) // word_bits)
    else:
        block = 1
    depth = a.get("depth", a.get("memory_depth"))
    if c.cls.upper() == "DRAM" or depth in (None, "inf", float("inf")):
        depth = None
    else:
        depth = _number(depth, "depth", c.at("depth"))

    def bw(key):
        v = a.get(key, a.get(key.replace("_", "-")))
        return None if v in (None, "inf") else _number(v, key, c.at(key), float)

    energies = {act: _lookup(energy, c, act) for act in STORAGE_DEFAULT_ACTIONS} if energy is not None else {}
    return StorageLevel(c.name, c.cls, c.instances, c.mesh_x, depth, block, word_bits, energies, _area(area, c),
                        bw("read_bandwidth"), bw("write_bandwidth"), bw("shared_bandwidth"), _plain(a))


# -- energy and area tables -----------------------------------------------------

def _tables(node: Node | None, kind: str) -> dict | None:
    """``{component name: {action: energy}}`` (kind 'energy') or
    ``{component name: area}`` from an ERT/ART (or their summaries)."""
    if node is None:
        return None
    top = expect_mapping(node, "an Accelergy table")
    key = "tables" if "tables" in top else "table_summary" if "table_summary" in top else None
    if key is None:
        raise EinsumxError("an Accelergy table has neither 'tables' nor 'table_summary'", node.origin)
    out: dict = {}
    for t in expect_list(top[key], key):
        entry = expect_mapping(t, "a table entry")
        raw = _need(entry, "name", t, "a table entry")
        name, _ = _instance_name(Node(re.split(r"\.(?![^\[]*\])", str(raw.value))[-1], raw.origin))
        if kind == "area":
            value = entry.get("area") or entry.get("max_area") or entry.get("average_area")
            if value is None:
                raise EinsumxError(f"the area table entry of {name} has no 'area'", t.origin)
            out[name] = (_float(value, f"area of {name}"), t.origin)
        else:
            actions: dict[str, float] = {}
            for act in expect_list(entry["actions"], "actions") if "actions" in entry else []:
                a = expect_mapping(act, "an action")
                value = a.get("energy") or a.get("max_energy") or a.get("average_energy")
                if value is None:
                    raise EinsumxError(f"action {a['name'].value} of {name} has no energy", act.origin)
                e = _float(value, f"energy of {name}.{a['name'].value}")
                aname = str(_need(a, "name", act, "an action").value)
                # several argument sets for one action: take the costliest, as a bound
                actions[aname] = max(actions.get(aname, e), e)
            out[name] = (actions, t.origin)
    return out


def _lookup(energy: dict, c: _Component, action: str) -> float:
    if c.name not in energy:
        raise EinsumxError(f"the energy table has no entry for {c.name}", c.origin)
    actions, origin = energy[c.name]
    if action not in actions:
        if action == "leak":
            return 0.0
        if action == "update" and "write" in actions:
            return actions["write"]
        raise EinsumxError(f"the energy table entry of {c.name} has no '{action}' action "
                           f"(it has: {', '.join(actions) or 'none'})", origin)
    return actions[action]


def _area(area: dict | None, c: _Component) -> float:
    if area is None:
        return 0.0
    if c.name not in area:
        raise EinsumxError(f"the area table has no entry for {c.name}", c.origin)
    return area[c.name][0]


# -- mapping --------------------------------------------------------------------

def read_mapping(node: Node, hierarchy: Hierarchy, problem: Problem) -> LoopNest:
    items = expect_list(node, "mapping")
    if isinstance(node.value, dict) and "mapping" in node.value:  # a nested 'mapping: {mapping: [...]}'
        items = expect_list(node.value["mapping"], "mapping")
    names = [lv.name for lv in hierarchy.levels]
    per: dict[str, dict] = {n: {"temporal": None, "spatial": None, "keep": None, "bypass": set(), "origin": None}
                            for n in names}
    for item in items:
        entry = expect_mapping(item, "a mapping directive")
        if "target" not in entry:
            raise EinsumxError("a mapping directive needs a 'target'", item.origin)
        target = str(entry["target"].value)
        kind = str(entry["type"].value) if "type" in entry else "temporal"
        if target == hierarchy.compute.name:
            raise EinsumxError(f"{target} is the compute unit: loops belong to storage levels", entry["target"].origin)
        if target not in per:
            raise EinsumxError(f"mapping target '{target}' is not a storage level ({', '.join(names)})",
                               entry["target"].origin)
        slot = per[target]
        slot["origin"] = slot["origin"] or item.origin
        if kind in ("temporal", "spatial"):
            if slot[kind] is not None:
                raise EinsumxError(f"a second {kind} directive for {target}", item.origin)
            factors = _factors(entry.get("factors"), problem, item.origin)
            order = _permutation(entry.get("permutation"), problem, item.origin)
            for d in factors:
                if d not in order:
                    order.append(d)  # unlisted dimensions go outermost (their factor is usually 1)
            ordered = [(d, factors.get(d, 1)) for d in reversed(order)]  # outermost first
            if kind == "temporal":
                slot["temporal"] = tuple(ordered)
            else:
                split = _int(entry["split"], "split") if "split" in entry else len(order)
                inner_first = order
                axes = {d: ("X" if k < split else "Y") for k, d in enumerate(inner_first)}
                slot["spatial"] = tuple((d, f, axes[d]) for d, f in ordered)
        elif kind in ("dataspace", "bypass"):
            keep = {str(k.value) for k in expect_list(entry["keep"], "keep")} if "keep" in entry else set()
            bypass = {str(k.value) for k in expect_list(entry["bypass"], "bypass")} if "bypass" in entry else set()
            for t in keep | bypass:
                if t not in {ds.name for ds in problem.data_spaces}:
                    raise EinsumxError(f"unknown data space '{t}' in the dataspace directive of {target}", item.origin)
            both = keep & bypass
            if both:
                raise EinsumxError(f"{target} both keeps and bypasses {sorted(both)[0]}", item.origin)
            slot["keep"] = (slot["keep"] or set()) | keep
            slot["bypass"] |= bypass
        else:
            raise EinsumxError(f"unknown mapping directive type '{kind}' (temporal, spatial, dataspace)",
                               entry["type"].origin)
    levels = []
    all_spaces = {ds.name for ds in problem.data_spaces}
    for n in names:
        slot = per[n]
        # a data space no directive names is kept, as in Timeloop
        keep = frozenset(all_spaces - slot["bypass"]) if slot["bypass"] else None
        levels.append(LevelMapping(n, tuple(slot["temporal"] or ()), tuple(slot["spatial"] or ()), keep, slot["origin"]))
    return LoopNest(tuple(_fill_missing(levels, problem)), node.origin)


def _fill_missing(levels: list[LevelMapping], problem: Problem) -> list[LevelMapping]:
    """Timeloop leaves out factors of 1; a dimension no level gives gets its
    whole size at the outermost level."""
    out = []
    for k, m in enumerate(levels):
        temporal = list(m.temporal)
        if k == 0:
            given = {d for lv in levels for d, _ in (*lv.temporal, *((s[0], s[1]) for s in lv.spatial))}
            for d in problem.dims:
                if d not in given:
                    temporal.insert(0, (d, problem.dims[d]))
        out.append(replace(m, temporal=tuple(temporal)))
    return out


def _factors(node: Node | None, problem: Problem, origin: Origin) -> dict[str, int]:
    if node is None:
        return {}
    parts = expect_list(node, "factors") if isinstance(node.value, list) else [node]
    out: dict[str, int] = {}
    for part in parts:
        for tok in re.split(r"[\s,]+", str(part.value).strip()):
            if not tok:
                continue
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(\d+)", tok)
            if not m:
                raise EinsumxError(f"cannot read the factor '{tok}' (expected DIM=N, e.g. R=3)", part.origin)
            if m[1] not in problem.dims:
                raise EinsumxError(f"factor '{tok}' names no dimension of {problem.name} ({', '.join(problem.dims)})",
                                   part.origin)
            if m[1] in out:
                raise EinsumxError(f"dimension {m[1]} is given two factors", part.origin)
            out[m[1]] = int(m[2])
    return out


def _permutation(node: Node | None, problem: Problem, origin: Origin) -> list[str]:
    """Dimensions innermost first, as Timeloop writes them."""
    if node is None:
        return []
    if isinstance(node.value, list):
        dims = [str(n.value) for n in node.value]
    else:
        text = str(node.value).strip()
        dims = re.split(r"[\s,]+", text) if re.search(r"[\s,]", text) else _split_dims(text, problem, node)
    for d in dims:
        if d not in problem.dims:
            raise EinsumxError(f"permutation names '{d}', not a dimension of {problem.name} ({', '.join(problem.dims)})",
                               node.origin)
    if len(set(dims)) != len(dims):
        raise EinsumxError(f"permutation '{node.value}' repeats a dimension", node.origin)
    return dims


def _split_dims(text: str, problem: Problem, node: Node) -> list[str]:
    """``RPK`` -> [R, P, K] (single-letter dimensions); longest match first otherwise."""
    out, k = [], 0
    names = sorted(problem.dims, key=len, reverse=True)
    while k < len(text):
        match = next((n for n in names if text.startswith(n, k)), None)
        if match is None:
            raise EinsumxError(f"permutation '{text}' names '{text[k]}', not a dimension of {problem.name}", node.origin)
        out.append(match)
        k += len(match)
    return out


# -- scalars --------------------------------------------------------------------

def _need(entry: dict, key: str, node: Node, what: str) -> Node:
    """``entry[key]``, or an error at ``node`` saying ``what`` needs it."""
    if key not in entry:
        raise EinsumxError(f"{what} needs '{key}'", node.origin)
    return entry[key]


def _number(value, key: str, origin: Origin, kind=int):
    """An attribute's number (``datawidth: 8``), or an error naming it."""
    try:
        if isinstance(value, bool):
            raise ValueError
        out = kind(value)
        if kind is int and out != float(value):
            raise ValueError
        return out
    except (TypeError, ValueError, OverflowError):
        raise EinsumxError(f"'{key}: {value}' must be {'an integer' if kind is int else 'a number'}", origin) from None


def _name(node: Node, what: str) -> str:
    value = node.value
    if not isinstance(value, str) or not value.strip():
        raise EinsumxError(f"{what} must be a name, not '{value}'", node.origin)
    return value.strip()


def _int(node: Node, what: str) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise EinsumxError(f"{what} must be an integer, not '{value}'", node.origin)
    return value


def _float(node: Node, what: str) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EinsumxError(f"{what} must be a number, not '{value}'", node.origin)
    return float(value)

