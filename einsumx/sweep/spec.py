"""What a sweep evaluates: workloads x architectures x mapping templates x a grid.

A sweep file (``architectures/sweeps/*.yaml``)::

    name: default
    workloads: [attention-1pass, mamba1-scan]      # names in workloads/ or paths
    architectures: [fusemax, edge]                 # names or paths
    mappings: [mappings/fusemax-attention.yaml]    # optional; 'auto' = one fused phase
    grid:
      seq: 1K..1M*4
      GLB.capacity_bytes: [4 MiB, 16 MiB]
      model: [bert, t5]
    objective: latency                             # what the mapper minimises per point

and ``einsumx sweep W.yaml ... --arch A ... --grid KEY=VALUES ...`` on the
command line (the command line replaces the file's lists and adds or
replaces grid keys).

``resolve`` turns that into runs, one per (workload, architecture, mapping
template), and checks everything before any work starts: every grid key
names a parameter or rank of some workload, a number of some architecture
or ``model``; every grid point gives whole positive rank sizes; hardware
numbers are positive; and every architecture can run every operator its
workloads need under its mapping. A mistake is one error naming the file,
line and key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import pickle
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import __version__
from ..arch import ROOT, Architecture, find_architecture, parse_architecture
from ..errors import EinsumxError, Origin
from ..ir.build import load_workload
from ..ir.cascade import Cascade
from ..lang.yamlsrc import expect_keys, expect_list, expect_mapping, load_yaml, read_source
from ..mapping.spec import MappingSpec, parse_mapping
from .grid import parse_values, values_of_node

SPEC_KEYS = {
    "name": "the sweep's name",
    "description": "one paragraph",
    "workloads": "workload names or files",
    "architectures": "architecture names or files",
    "mappings": "mapping template files, or 'auto'",
    "grid": "parameter -> values (a list or a range such as 1K..1M*4)",
    "objective": "what the mapper minimises per point: latency, energy or edp",
    "chunk_points": "design points per stored chunk (default 262144)",
}
CHUNK_POINTS = 1 << 18
AUTO = "auto"
AUTO_MAPPING = "name: auto\neinsums: all\n"


@dataclass(frozen=True)
class Input:
    """One input file: where it came from, its text and the text's hash."""

    path: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class GridKey:
    name: str
    values: list
    origin: Origin
    error: EinsumxError | None = None
    """A mistake in the values, reported once the key itself is known to exist."""

    @property
    def column(self) -> str:
        return column_name(self.name)


@dataclass
class SweepSpec:
    """The sweep as written (file and command line), before resolution."""

    name: str
    file: str | None
    workloads: list[tuple[str, Origin]]
    architectures: list[tuple[str, Origin]]
    mappings: list[tuple[str, Origin]]
    grid: list[GridKey]
    objective: str = "latency"
    chunk_points: int = CHUNK_POINTS
    explicit_architectures: bool = True
    description: str = ""

    @property
    def title(self) -> str:
        """'sweep NAME' in messages ('sweep' alone for an unnamed command-line sweep)."""
        return "sweep" if self.name == "sweep" and self.file is None else f"sweep {self.name}"


@dataclass
class Run:
    """One (workload, architecture, mapping template) and its grid."""

    id: int
    workload: Input
    architecture: Input
    mapping: Input | None
    workload_name: str
    architecture_name: str
    mapping_name: str
    keys: list[GridKey]
    objective: str
    chunk_points: int
    combos: np.ndarray = field(repr=False, default=None)
    """Workload values per combination of the workload keys: (n, len(symbols))."""
    combo_symbols: list[str] = field(default_factory=list)
    keep_ranks: tuple[str, ...] = ()
    bindings: list[str] = field(default_factory=list)
    """Each model's label (``binding_label``): binding, schedule, intermediates in registers."""
    binding_keys: tuple[int, ...] = ()
    """Positions of the keys the models depend on (a searched binding, the placement of intermediates)."""
    binding_table: np.ndarray = field(repr=False, default=None)
    """Model index per combination of those keys (shape: their sizes)."""
    reuse_labels: dict = field(default_factory=dict)
    model_blob: bytes = field(repr=False, default=b"")
    """The pickled models (engine.Prepared, one per binding), built once by
    ``resolve``; unpickled only where a process first evaluates the run."""

    def models(self) -> list:
        return pickle.loads(self.model_blob)

    @property
    def key(self) -> str:
        """Identifies the run's inputs and grid (the compiled-model cache key)."""
        m = self.manifest()
        return hashlib.sha256(json.dumps({**m, "id": self.id}, sort_keys=True).encode()).hexdigest()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(k.values) for k in self.keys)

    @property
    def points(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.keys else 1

    @property
    def chunks(self) -> int:
        return -(-self.points // self.chunk_points)

    def chunk_range(self, k: int) -> tuple[int, int]:
        return k * self.chunk_points, min(self.points, (k + 1) * self.chunk_points)

    def manifest(self) -> dict:
        """The row of the ``runs`` table: inputs, hashes, grid."""
        return {
            "run": self.id,
            "workload": self.workload_name,
            "architecture": self.architecture_name,
            "mapping": self.mapping_name,
            "workload_file": self.workload.path,
            "workload_sha256": self.workload.sha256,
            "architecture_file": self.architecture.path,
            "architecture_sha256": self.architecture.sha256,
            "mapping_file": self.mapping.path if self.mapping else AUTO,
            "mapping_sha256": self.mapping.sha256 if self.mapping else hashlib.sha256(AUTO_MAPPING.encode()).hexdigest(),
            "grid": json.dumps({k.name: k.values for k in self.keys}),
            "bindings": json.dumps(self.bindings),
            "binding_keys": json.dumps([self.keys[i].name for i in self.binding_keys]),
            "reuse_labels": json.dumps(self.reuse_labels),
            "objective": self.objective,
            "points": self.points,
            "chunks": self.chunks,
            "chunk_points": self.chunk_points,
            "einsumx_version": __version__,
        }


@dataclass
class Sweep:
    spec: SweepSpec
    runs: list[Run]
    skipped: list[dict]
    """(workload, architecture, mapping, reason) left out: the architecture cannot run the workload."""
    notes: list[str] = field(default_factory=list)
    """What the sweep decided for the user (a listed mapping that fits no pair: the automatic one)."""
    digest: str = ""
    """``digest`` of every (workload, architecture, mapping) the sweep names, skipped ones included."""

    @property
    def points(self) -> int:
        return sum(r.points for r in self.runs)

    @property
    def workload_keys(self) -> list[str]:
        """Grid keys that change the work (workload parameters, ranks, presets), not the hardware."""
        return [k.name for k in self.spec.grid
                if any(k.name == "model" and k in r.keys or k.name in r.combo_symbols for r in self.runs)]



def digest(runs: list[Run]) -> str:
    """The runs' inputs (by content, not by path), grids, objective, chunking
    and einsumx version: what decides the stored rows, known before any model is built."""
    h = hashlib.sha256()
    for r in runs:
        m = r.manifest()
        h.update(json.dumps({k: m[k] for k in IDENTITY}, sort_keys=True).encode())
    return h.hexdigest()[:16]


IDENTITY = ("workload", "architecture", "mapping", "workload_sha256", "architecture_sha256", "mapping_sha256", "grid",
            "objective", "chunk_points", "einsumx_version")


def column_name(name: str) -> str:
    """The store's column for a parameter: dots become underscores
    (``GLB.capacity_bytes`` -> ``GLB_capacity_bytes``)."""
    return name.replace(".", "_").replace(" ", "_")


# -- reading a sweep file and the command line


def load_spec(path: str | None, workloads=(), architectures=(), mappings=(), grid=(), objective=None,
              chunk_points=None) -> SweepSpec:
    """The sweep file (if any) with the command line's lists and grid keys applied."""
    spec = SweepSpec("sweep", None, [], [], [], [], explicit_architectures=False)
    if path:
        spec = _read_spec_file(path)
    if workloads:
        spec.workloads = [(w, Origin(w)) for w in workloads]
    if architectures:
        spec.architectures = [(a, Origin("--arch", None, None, a)) for a in architectures]
        spec.explicit_architectures = True
    if mappings:
        spec.mappings = [(m, Origin("--mapping", None, None, m)) for m in mappings]
    for item in grid:
        key, sep, text = item.partition("=")
        origin = Origin("--grid", 1, 1, item)
        if not sep or not key.strip():
            raise EinsumxError(f"--grid expects NAME=VALUES, got '{item}'", origin)
        key = key.strip()
        vorigin = Origin("--grid", 1, len(key) + 2, item)
        error = None
        try:
            values = [s.strip() for s in text.split(",") if s.strip()] if key == "model" else parse_values(key, text, vorigin)
            if not values:
                raise EinsumxError(f"{key}: empty grid (no values)", vorigin)
        except EinsumxError as err:
            values, error = [], err
        spec.grid = [g for g in spec.grid if g.name != key] + [GridKey(key, values, origin, error)]
    if objective:
        spec.objective = objective
    if chunk_points:
        spec.chunk_points = int(chunk_points)
    if not spec.workloads:
        raise EinsumxError("no workloads: name them (einsumx sweep workloads/*.yaml) or give --spec FILE", Origin("sweep"))
    if not spec.architectures:
        spec.architectures = [(p.stem, Origin(str(p))) for p in sorted((ROOT / "architectures").glob("*.yaml"))]
    from ..model import OBJECTIVES

    if spec.objective not in OBJECTIVES:
        raise EinsumxError(f"unknown objective '{spec.objective}' (one of: {', '.join(OBJECTIVES)})", Origin(spec.file or "--objective"))
    if spec.chunk_points < 1:
        raise EinsumxError(f"chunk_points must be at least 1, got {spec.chunk_points}", Origin(spec.file or "--chunk-points"))
    return spec


def _read_spec_file(path: str) -> SweepSpec:
    root, _ = load_yaml(read_source(path, "sweep file"), str(path), what="sweep file")
    top = expect_mapping(root, "the sweep")
    expect_keys(root, SPEC_KEYS, "sweep")
    base = Path(path).parent

    def files(key: str) -> list[tuple[str, Origin]]:
        if key not in top:
            return []
        out = []
        for n in expect_list(top[key], key):
            v = str(n.value)
            local = base / v
            out.append((str(local) if local.exists() else v, n.origin))
        return out

    grid = []
    if "grid" in top:
        for key, node in expect_mapping(top["grid"], "grid").items():
            try:
                grid.append(GridKey(key, values_of_node(key, node), root.value["grid"].key_origins[key]))
            except EinsumxError as err:  # reported after the key is checked: a misspelt key is the first news
                grid.append(GridKey(key, [], root.value["grid"].key_origins[key], err))
    spec = SweepSpec(
        name=str(top["name"].value) if "name" in top else Path(path).stem,
        file=str(path),
        workloads=files("workloads"),
        architectures=files("architectures"),
        mappings=files("mappings"),
        grid=grid,
        explicit_architectures="architectures" in top,
        description=" ".join(str(top["description"].value).split()) if "description" in top else "",
    )
    if "objective" in top:
        spec.objective = str(top["objective"].value)
    if "chunk_points" in top:
        v = top["chunk_points"].value
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise EinsumxError(f"chunk_points must be a positive integer, got '{v}'", top["chunk_points"].origin)
        spec.chunk_points = v
    return spec


# -- resolution and checks


def _read(path: str, origin: Origin, what: str, shipped: Path | None = None) -> Input:
    p = Path(path)
    if not p.exists() and shipped is not None and (shipped / f"{path}.yaml").exists():
        p = shipped / f"{path}.yaml"
    try:
        return Input(str(p), p.read_text())
    except OSError as exc:
        raise EinsumxError(f"cannot read {what} '{path}': {exc.strerror}", origin) from None


def resolve(spec: SweepSpec, progress=None, workers: int = 1, known=None) -> Sweep | None:
    """Runs of the sweep, every input read and every grid point checked
    (models built on ``workers`` local processes). ``known(digest)``: None
    when it says True (a store already holds this sweep, complete), before
    any model is built."""
    say = progress or (lambda msg: None)
    workloads = []
    for w, origin in spec.workloads:
        inp = _read(w, origin, "workload", ROOT / "workloads")
        workloads.append((inp, load_workload(inp.path, inp.text)))
    archs = []
    for a, origin in spec.architectures:
        try:
            path = find_architecture(a)
        except EinsumxError as err:
            raise EinsumxError(err.message, origin) from None
        inp = _read(str(path), origin, "architecture")
        archs.append((inp, parse_architecture(inp.text, inp.path)))
    explicit_mappings = bool(spec.mappings)
    mapping_files = spec.mappings or [(str(p), Origin(str(p))) for p in sorted((ROOT / "architectures" / "mappings").glob("*.yaml"))]
    mappings: list[tuple[Input | None, MappingSpec]] = []
    for m, origin in mapping_files:
        if m == AUTO:
            mappings.append((None, parse_mapping(AUTO_MAPPING, "<automatic mapping>")))
            continue
        inp = _read(m, origin, "mapping")
        mappings.append((inp, parse_mapping(inp.text, inp.path)))

    _check_keys(spec, [c for _, c in workloads], [a for _, a in archs])
    runs, skipped, candidates, notes = [], [], [], []
    for w_inp, cascade in workloads:
        for a_inp, arch in archs:
            chosen = [(mi, ms) for mi, ms in mappings
                      if ms.workload in (None, cascade.name) and ms.architecture in (None, arch.name)
                      and (explicit_mappings or ms.workload == cascade.name)]
            if not chosen:
                chosen = [(None, parse_mapping(AUTO_MAPPING, "<automatic mapping>"))]
                if explicit_mappings:
                    notes.append(f"{cascade.name} on {arch.name}: none of the listed mappings is written for it; "
                                 f"using the automatic mapping")
            for m_inp, mspec in chosen:
                keys = [k for k in spec.grid if _applies(k, cascade, arch)]
                candidates.append(Run(len(candidates), w_inp, a_inp, m_inp, cascade.name, arch.name, mspec.name, keys,
                                      spec.objective, spec.chunk_points))
    ident = digest(candidates)
    if known is not None and known(ident):
        return None
    for run, outcome in zip(candidates, _prepare_all(candidates, workers, say)):
        if outcome[0] == "error":
            raise EinsumxError(outcome[1], outcome[2])
        if outcome[0] == "ok":
            (run.combos, run.combo_symbols, run.keep_ranks, run.bindings, run.binding_keys, run.binding_table,
             run.reuse_labels, run.model_blob) = outcome[1]
            run.id = len(runs)
            runs.append(run)
            continue
        where, message = outcome[1]
        if spec.explicit_architectures:
            raise EinsumxError(f"architecture '{run.architecture_name}' ({run.architecture.path}) cannot run workload "
                               f"'{run.workload_name}' with mapping '{run.mapping_name}': {message}", where)
        skipped.append({"workload": run.workload_name, "architecture": run.architecture_name, "mapping": run.mapping_name,
                        "reason": message})
    if not runs:
        reasons = "; ".join(f"{s['workload']} on {s['architecture']}: {s['reason']}" for s in skipped)
        raise EinsumxError(f"nothing to sweep: no architecture can run the workloads ({reasons})", Origin(spec.file or "sweep"))
    return Sweep(spec, runs, skipped, notes, ident)


def _prepare_all(runs: list[Run], workers: int, say) -> list[tuple]:
    """``_prepare_one`` of every run, on ``workers`` local processes (building
    a model is the costly part of checking a sweep)."""
    if workers <= 1 or len(runs) <= 1:
        out = []
        for r in runs:
            say(f"checking {r.workload_name} on {r.architecture_name} with mapping {r.mapping_name}")
            out.append(_prepare_one(r))
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    say(f"checking {len(runs)} runs on {workers} processes")
    from . import _ignore_sigint

    with ProcessPoolExecutor(min(workers, len(runs)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_ignore_sigint) as pool:
        return list(pool.map(_prepare_one, runs))


def _prepare_one(run: Run) -> tuple:
    """('ok', (what ``_prepare`` set)), ('unsupported', (origin, message))
    or ('error', message, origin): plain values, so they cross process boundaries."""
    try:
        cascade = load_workload(run.workload.path, run.workload.text)
        arch = parse_architecture(run.architecture.text, run.architecture.path)
        mspec = parse_mapping(run.mapping.text, run.mapping.path) if run.mapping else parse_mapping(AUTO_MAPPING, "<automatic mapping>")
        reason = _prepare(run, cascade, arch, mspec)
    except EinsumxError as err:
        return ("error", err.message, err.origin)
    if reason is not None:
        return ("unsupported", reason)
    return ("ok", (run.combos, run.combo_symbols, run.keep_ranks, run.bindings, run.binding_keys, run.binding_table,
                   run.reuse_labels, run.model_blob))


def _applies(key: GridKey, cascade: Cascade, arch: Architecture) -> bool:
    """Whether a grid key varies anything of this workload or architecture."""
    if key.name == "model":
        from ..presets import find_model

        return any(set(find_model(str(v))[1]["params"]) & set(cascade.params) for v in key.values)
    if key.name in cascade.params or key.name in cascade.ranks:
        return True
    return any(s.name == key.name for s in arch.values)


def _check_keys(spec: SweepSpec, cascades: list[Cascade], archs: list[Architecture]) -> None:
    """Every grid key names something; hardware numbers are positive; presets exist."""
    from ..presets import find_model

    for k in spec.grid:
        if k.name == "model":
            if k.error is not None:
                raise k.error
            for v in k.values:
                try:
                    find_model(str(v))
                except EinsumxError as err:
                    raise EinsumxError(f"grid: model: {err.message}", k.origin) from None
            continue
        workload_key = any(k.name in c.params or k.name in c.ranks for c in cascades)
        hardware = [a for a in archs if any(s.name == k.name for s in a.values)]
        if not workload_key and not hardware:
            params = sorted({p for c in cascades for p in list(c.params) + list(c.ranks)})
            hw = sorted({s.name for a in archs for s in a.values})
            raise EinsumxError(
                f"grid: unknown parameter '{k.name}': not a parameter or rank of any workload "
                f"({', '.join(params)}) nor a number of any architecture (e.g. {', '.join(hw[:8])}, ...)", k.origin)
        if k.error is not None:
            raise k.error
        for v in k.values:
            if isinstance(v, str):
                raise EinsumxError(f"grid: {k.name}: '{v}' is not a number", k.origin)
            if v <= 0 and not k.name.endswith("_pj"):
                raise EinsumxError(f"grid: {k.name}: {v} must be positive", k.origin)
            if hardware and _integral(k.name) and v != int(v):
                raise EinsumxError(f"grid: {k.name}: {v} must be a whole number", k.origin)


def _integral(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last in ("rows", "cols", "lanes", "words", "word_bits", "access_bits", "row_bits", "banks", "cycles")


def _prepare(run: Run, cascade: Cascade, arch: Architecture, mspec: MappingSpec):
    """Evaluate every combination of the run's workload keys (exact rank
    sizes, derived parameters, presets) and build the run's models: one
    per distinct structure over the grid, as ``einsumx evaluate`` decides
    it at each point: the binding and schedule a template with 'bind: auto'
    or 'schedule: auto' searches (``_searched``) and where each intermediate
    lives (``_models``). Returns a reason (origin, message) when the
    architecture cannot run the workload."""
    from ..lang.parser import parse_expression
    from ..model import default_values
    from ..model.build import build_model, searched_mapping
    from ..presets import model_overrides

    wkeys = [k for k in run.keys if k.name == "model" or k.name in cascade.params or k.name in cascade.ranks]
    if mspec.workload and mspec.workload != cascade.name:
        return mspec.origin, f"mapping '{mspec.name}' is written for workload '{mspec.workload}'"
    symbols: list[str] | None = None
    rows, wvalues = [], []
    for combo in itertools.product(*[k.values for k in wkeys]):
        overrides, preset = {}, None
        for k, v in zip(wkeys, combo):
            if k.name == "model":
                preset = str(v)
                continue
            text = _text(v)
            overrides[k.name] = (parse_expression(text, k.origin), text, k.origin)
        try:
            if preset:
                overrides = {**model_overrides(preset, cascade.params), **overrides}
            values, _ = default_values(cascade, arch, mspec, overrides, {}, None)
        except EinsumxError as err:
            at = ", ".join(f"{k.name}={v}" for k, v in zip(wkeys, combo))
            origin = wkeys[0].origin if wkeys else err.origin
            raise EinsumxError(f"grid point {at} of workload {cascade.name} ({run.workload.path}): {err}", origin) from None
        wsyms = {s: v for s, v in values.items() if s not in arch.values}
        if symbols is None:
            symbols = sorted(s.name for s in wsyms)
        rows.append([wsyms[next(s for s in wsyms if s.name == n)] for n in symbols])
        wvalues.append(values)
    run.combo_symbols = symbols or []
    run.combos = np.asarray(rows, dtype=float)
    run.keep_ranks = tuple(k.name for k in wkeys if k.name in cascade.ranks)
    keep = frozenset(run.keep_ranks)
    wpos = [i for i, k in enumerate(run.keys) if k in wkeys]

    def point(sub: tuple[int, ...]) -> dict:
        """Every parameter's value at grid indices ``sub`` (one per key)."""
        w = 0
        for i in wpos:
            w = w * len(run.keys[i].values) + sub[i]
        values = dict(wvalues[w])
        for i, k in enumerate(run.keys):  # hardware keys override the template's numbers
            if i not in wpos:
                values[arch.symbol(k.name)] = float(k.values[sub[i]])
        return values

    first = point((0,) * len(run.keys))
    searches = any(ph.bind is None or ph.schedule == "auto" for ph in mspec.phases)
    try:
        if not searches:
            mappings, btable, run.binding_keys = [mspec], np.zeros((), dtype=np.int32), ()
        else:
            mappings, btable = _searched(run, cascade, arch, mspec, keep, wpos, point, searched_mapping)
        models, table = _models(run, mappings, btable, wpos, point,
                                lambda m, values: build_model(cascade, arch, m, values, keep))
    except EinsumxError as err:
        return err.origin, err.message
    from ..ir.values import param_symbol
    from .engine import prepare

    by_name = {s.name: s for s in arch.values}
    by_name.update({r.symbol.name: r.symbol for r in cascade.ranks.values()})
    by_name.update({n: param_symbol(n) for n in cascade.params})
    prepared = [prepare(m, first, by_name) for m in models]
    run.bindings = [binding_label(m.mapping, m) for m in models]
    run.binding_table = table
    run.reuse_labels = prepared[0].reuse_labels
    run.model_blob = pickle.dumps(prepared)
    return None


def _key_positions(run: Run, wpos: list[int], names: set[str]) -> set[int]:
    """The grid keys that change any of the parameters ``names`` (every
    workload key when a workload value among them varies over the grid)."""
    varying = {n for j, n in enumerate(run.combo_symbols) if np.ptp(run.combos[:, j]) > 0}
    out = {i for i, k in enumerate(run.keys) if i not in wpos and k.name in names}
    return out | set(wpos) if names & varying else out


def _models(run: Run, mappings: list, btable: np.ndarray, wpos: list[int], point, build):
    """One model per distinct structure over the grid, and which holds where.

    A model rests on its binding (``btable``: the searched binding per
    combination of ``run.binding_keys``) and on the comparisons that placed
    each intermediate (``Model.decisions``). Starting from the first point,
    build a model at the first combination of the keys these depend on that
    no model yet covers, until every combination is covered; a model covers
    the combinations with its binding where its comparisons come out as at
    its own point. Sets ``run.binding_keys`` to those keys and returns the
    models and the model index per combination of them."""
    import sympy

    from ..model import _MODULES

    keys = sorted(run.binding_keys)
    built: list[tuple[object, int]] = []  # (model, binding index)
    funcs: dict[int, list] = {}

    def decision_keys(model) -> set[int]:
        names = {s.name for d in model.decisions for s in d.lhs.free_symbols | d.rhs.free_symbols}
        return _key_positions(run, wpos, names)

    while True:
        sizes = [len(run.keys[i].values) for i in keys]
        table = np.full(sizes, -1, dtype=np.int32)
        bshape = [len(run.keys[i].values) if i in run.binding_keys else 1 for i in keys]
        binding = np.broadcast_to(btable.reshape(bshape), sizes)
        values = _subgrid_values(run, keys, wpos, point)

        def at(idx, keys=keys) -> dict:
            sub = [0] * len(run.keys)
            for i, v in zip(keys, idx):
                sub[i] = v
            return point(tuple(sub))

        def cover(mi: int) -> None:
            model, b = built[mi]
            ok = (binding == b) & (table == -1)
            if mi not in funcs:
                funcs[mi] = [(d, *(sympy.lambdify(sorted(x.free_symbols, key=str), x, modules=_MODULES) for x in (d.lhs, d.rhs)))
                             for d in model.decisions]
            for d, fl, fr in funcs[mi]:
                ok &= _outcome(d, fl, fr, values, sizes, at) == d.outcome
            table[ok] = mi

        for mi in range(len(built)):
            cover(mi)
        grew = False
        while (table == -1).any():
            idx = tuple(int(v) for v in np.argwhere(table == -1)[0])
            b = int(binding[idx])
            built.append((build(mappings[b], at(idx)), b))
            need = decision_keys(built[-1][0])
            if not need <= set(keys):
                keys, grew = sorted(set(keys) | need), True
                break
            cover(len(built) - 1)
            table[idx] = len(built) - 1  # its own point, whatever float rounding says
        if not grew:
            break
    run.binding_keys = tuple(keys)
    return [m for m, _ in built], table


def _subgrid_values(run: Run, keys: list[int], wpos: list[int], point) -> dict[str, np.ndarray]:
    """Each parameter's value over the combinations of ``keys`` (one array
    axis per key), by name; the other keys at their first value."""
    sizes = [len(run.keys[i].values) for i in keys]
    out: dict[str, np.ndarray] = {}

    def axis(i: int) -> np.ndarray:
        shape = [1] * len(keys)
        shape[keys.index(i)] = sizes[keys.index(i)]
        return np.arange(sizes[keys.index(i)]).reshape(shape)

    if wpos and set(wpos) <= set(keys):
        combo = 0
        for i in wpos:
            combo = combo * len(run.keys[i].values) + axis(i)
        for j, n in enumerate(run.combo_symbols):
            out[n] = run.combos[:, j][combo]
    for i in keys:
        if i not in wpos:
            out[run.keys[i].name] = np.asarray(run.keys[i].values, dtype=float)[axis(i)]
    return out


def _outcome(d, fl, fr, values: dict, sizes: list[int], at) -> np.ndarray:
    """Decision ``d`` over the combinations (``sizes``) of some keys: in
    numpy, and exactly, as ``build_model`` decides, where the two sides are
    within 1e-9 of each other. ``values``: parameters by name over the
    combinations; ``at(idx)``: every parameter's value at one combination."""
    base = at((0,) * len(sizes))

    def side(f, expr):
        args = [values[s.name] if s.name in values else float(base[s]) for s in sorted(expr.free_symbols, key=str)]
        return np.broadcast_to(np.asarray(f(*args), dtype=float), sizes)

    a, b = side(fl, d.lhs), side(fr, d.rhs)
    out = np.array(a <= b if d.op == "<=" else a > b)
    for idx in map(tuple, np.argwhere(np.isclose(a, b, rtol=1e-9, atol=0))):
        x, y = (float(e.xreplace(at(idx))) for e in (d.lhs, d.rhs))
        out[idx] = x <= y if d.op == "<=" else x > y
    return out


def _searched(run: Run, cascade, arch, mspec, keep, wpos, point, searched_mapping):
    """The template's binding and schedule searched at every combination of
    the grid keys the search depends on: the distinct outcomes (mappings)
    and the outcome per combination."""
    at_first, judged = searched_mapping(cascade, arch, mspec, point((0,) * len(run.keys)), keep)
    run.binding_keys = tuple(sorted(_key_positions(run, wpos, {s.name for s in judged})))
    sizes = [len(run.keys[i].values) for i in run.binding_keys]
    outcomes: dict[str, int] = {binding_label(at_first): 0}
    mappings = [at_first]
    table = np.zeros(sizes, dtype=np.int32)
    for idx in itertools.product(*[range(n) for n in sizes]):
        if not any(idx):
            continue
        sub = [0] * len(run.keys)
        for i, v in zip(run.binding_keys, idx):
            sub[i] = v
        m, _ = searched_mapping(cascade, arch, mspec, point(tuple(sub)), keep)
        label = binding_label(m)
        if label not in outcomes:
            outcomes[label] = len(mappings)
            mappings.append(m)
        table[idx] = outcomes[label]
    return mappings, table


def binding_label(mapping: MappingSpec, model=None) -> str:
    """'phase: array: Einsum Einsum, array: ... (schedule)[, registers: tensors]; phase: ...':
    each phase's binding and schedule and, given the model, the
    intermediates it holds in the PEs' registers."""
    out = []
    for k, ph in enumerate(mapping.phases):
        bind = ph.bind or {}
        if model is not None:  # where the model runs each Einsum (also the arrays a template leaves implicit)
            bind = {}
            for x in model.phases[k].costs:
                bind.setdefault(x.array, []).append(x.label)
        text = f"{ph.name}: " + ", ".join(f"{a}: {' '.join(map(str, es))}" for a, es in bind.items()) + f" ({ph.schedule})"
        rf = [t for t, level in model.phases[k].levels.items() if level == "RF"] if model is not None else []
        out.append(text + (f", registers: {' '.join(rf)}" if rf else ""))
    return "; ".join(out)


def _text(v) -> str:
    if isinstance(v, float):
        f = Fraction(v).limit_denominator(10**9)
        return f"{f.numerator}/{f.denominator}" if f.denominator != 1 else str(f.numerator)
    return str(v)

