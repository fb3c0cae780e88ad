"""The loop-nest model: one Einsum, an explicit loop nest, per-level counts.

This is einsumx's model at its finest grain, and the one that speaks
Timeloop's language. A ``Problem`` is one Einsum's iteration space and its
tensors (each tensor dimension an affine sum of problem dimensions, as in
Timeloop's projections); a ``Hierarchy`` is a chain of storage levels above
a compute unit, each with its instances, vector width and energy per
action; a ``LoopNest`` gives, per level, its temporal loops, its spatial
fan-out to the level below and the tensors it keeps.

``evaluate`` counts, per level and tensor, what Timeloop counts and in the
same units (scalars, per instance):

- **tile** (utilized capacity): the projection of the iteration-space box
  spanned by the level's own loops and every loop below it;
- **fills**: the tile's first load plus, for every iteration of the
  temporal loops above the level, the elements of the new tile that were
  not in the previous one (a sliding window refills only its new edge);
- **reads / updates**: what the next keeper below (or the compute units)
  asks of the level, counted once per group of children that share it
  (multicast of inputs, spatial reduction of outputs);
- for a read-write tensor the first write of each element is not a read
  (``reads = updates - partition``), and partial sums that come back
  are fills (``fills = loads - partition``);
- **energy**: whole vectors of the level's block size per action
  (``ceil(scalars / block) x energy``), per instance, plus leakage.

Counts are closed forms over the loop factors (no simulation): every
iteration of one loop moves the tile by the same displacement, so each
loop contributes (its advances) x (the box difference of one move).
``docs/timeloop.md`` states the correspondence with Timeloop and the
cases where the two differ.

>>> p = Problem("MatVec", {"K": 4, "N": 8}, (
...     DataSpace("A", ((("K", 1),), (("N", 1),))),
...     DataSpace("X", ((("K", 1),),)),
...     DataSpace("Y", ((("N", 1),),), read_write=True)))
>>> h = Hierarchy("toy", (StorageLevel("Mem", block_words=1),), ComputeUnit("MAC"))
>>> s = evaluate(p, h, LoopNest((LevelMapping("Mem", temporal=(("N", 8), ("K", 4))),)))
>>> s.cycles, s.levels["Mem"].tensors["Y"].reads, s.levels["Mem"].tensors["Y"].updates
(32, 24, 32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import EinsumxError, Origin

ACTIONS = ("read", "write", "update", "leak")
"""Energy-table actions of a storage level: per vector access, leak per cycle."""


# -- the problem --------------------------------------------------------------

@dataclass(frozen=True)
class DataSpace:
    """One tensor of the Einsum: each of its dimensions is an affine sum of
    problem dimensions, ``((dim, coefficient), ...)``."""

    name: str
    projection: tuple[tuple[tuple[str, int], ...], ...]
    read_write: bool = False
    """The output: updated (read-modify-write), not only read."""
    dim_names: tuple[str, ...] = ()
    """Names of the tensor's own dimensions (for export), if known."""

    def dims(self) -> frozenset[str]:
        """The problem dimensions this tensor depends on."""
        return frozenset(d for term in self.projection for d, c in term if c)


@dataclass(frozen=True)
class Problem:
    """One Einsum: its dimensions (name -> size, in order) and its tensors."""

    name: str
    dims: Mapping[str, int]
    data_spaces: tuple[DataSpace, ...]
    coefficients: Mapping[str, int] = field(default_factory=dict)
    """Named coefficients (Timeloop's strides and dilations), for export."""

    @property
    def computes(self) -> int:
        return math.prod(self.dims.values())

    def space(self, name: str) -> DataSpace:
        return next(ds for ds in self.data_spaces if ds.name == name)


# -- the hardware -------------------------------------------------------------

@dataclass(frozen=True)
class StorageLevel:
    """A buffer level (or main memory): ``instances`` copies in all, each
    moving vectors of ``block_words`` words."""

    name: str
    cls: str = "SRAM"
    instances: int = 1
    mesh_x: int | None = None
    """Instances along X (the rest along Y); None: all along X."""
    depth: int | None = None
    """Vectors per instance (None: unbounded, like DRAM)."""
    block_words: int = 1
    word_bits: int = 8
    energy_pj: Mapping[str, float] = field(default_factory=dict)
    """read / write / update per vector access, leak per cycle (per instance)."""
    area_um2: float = 0.0
    """Per instance."""
    read_bandwidth: float | None = None
    write_bandwidth: float | None = None
    shared_bandwidth: float | None = None
    """Words per cycle per instance (None: unlimited)."""
    attributes: Mapping[str, object] = field(default_factory=dict)
    """Other attributes of the source description, kept for export."""

    @property
    def capacity_words(self) -> int | None:
        return None if self.depth is None else self.depth * self.block_words


@dataclass(frozen=True)
class ComputeUnit:
    name: str
    cls: str = "intmac"
    instances: int = 1
    mesh_x: int | None = None
    energy_pj: float = 0.0
    """Per compute."""
    area_um2: float = 0.0
    word_bits: int = 8
    attributes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Hierarchy:
    """Storage levels, outermost (main memory) first, above the compute units."""

    name: str
    levels: tuple[StorageLevel, ...]
    compute: ComputeUnit
    cycle_seconds: float = 1e-9
    technology: str = ""

    def level(self, name: str) -> StorageLevel:
        return next(lv for lv in self.levels if lv.name == name)


# -- the mapping --------------------------------------------------------------

@dataclass(frozen=True)
class LevelMapping:
    """The loops of one storage level: temporal loops (outermost first), the
    spatial fan-out to the level below (``(dim, factor, 'X'|'Y')``) and the
    tensors it keeps (None: all)."""

    level: str
    temporal: tuple[tuple[str, int], ...] = ()
    spatial: tuple[tuple[str, int, str], ...] = ()
    keep: frozenset[str] | None = None
    origin: Origin | None = None


@dataclass(frozen=True)
class LoopNest:
    """One ``LevelMapping`` per storage level, outermost first."""

    levels: tuple[LevelMapping, ...]
    origin: Origin | None = None


@dataclass(frozen=True)
class Loop:
    level: int
    dim: str
    factor: int
    spatial: bool
    axis: str = ""
    stride: int = 1
    """Step of this loop in its dimension (product of the inner factors)."""


# -- results ------------------------------------------------------------------

@dataclass
class TensorStats:
    """Timeloop's per-tensor stats at one level (counts per instance)."""

    partition_size: int
    utilized_capacity: int
    utilized_instances: int
    reads: int
    fills: int
    updates: int
    temporal_reductions: int
    energy_pj: float
    """Per instance, from whole-vector accesses."""
    multicast: int = 1
    """Children served by one access (input multicast / output reduction)."""

    @property
    def energy_total_pj(self) -> float:
        return self.energy_pj * self.utilized_instances


@dataclass
class LevelStats:
    name: str
    instances: int
    tensors: dict[str, TensorStats]
    leak_pj: float
    cycles: int
    temporal: tuple[tuple[str, int], ...]
    spatial: tuple[tuple[str, int, str], ...]

    @property
    def energy_pj(self) -> float:
        """All instances, every tensor and leakage."""
        return sum(t.energy_total_pj for t in self.tensors.values()) + self.leak_pj


@dataclass
class NestStats:
    """The result of ``evaluate``: Timeloop's stats for one mapping."""

    problem: Problem
    hierarchy: Hierarchy
    computes: int
    compute_cycles: int
    cycles: int
    utilized_computes: int
    compute_energy_pj: float
    levels: dict[str, LevelStats]
    """Outermost first."""
    area_um2: float
    notes: list[str] = field(default_factory=list)

    @property
    def utilization(self) -> float:
        """Computes per cycle over compute units."""
        return self.computes / (self.cycles * self.hierarchy.compute.instances)

    @property
    def energy_pj(self) -> float:
        return self.compute_energy_pj + sum(lv.energy_pj for lv in self.levels.values())

    @property
    def latency_s(self) -> float:
        return self.cycles * self.hierarchy.cycle_seconds

    def fj_per_compute(self) -> dict[str, float]:
        """Energy per compute by level (compute unit first, then innermost
        level outwards, as Timeloop prints it) and the total."""
        out = {self.hierarchy.compute.name: self.compute_energy_pj * 1e3 / self.computes}
        for name in reversed(list(self.levels)):
            out[name] = self.levels[name].energy_pj * 1e3 / self.computes
        out["Total"] = self.energy_pj * 1e3 / self.computes
        return out

    def as_dict(self) -> dict:
        """The JSON shape of ``einsumx import-timeloop --json``."""
        return {
            "problem": self.problem.name,
            "architecture": self.hierarchy.name,
            "computes": self.computes,
            "cycles": self.cycles,
            "latency_s": self.latency_s,
            "utilization": self.utilization,
            "energy_pj": self.energy_pj,
            "area_um2": self.area_um2,
            "fj_per_compute": self.fj_per_compute(),
            "compute": {"name": self.hierarchy.compute.name, "utilized_instances": self.utilized_computes,
                        "energy_pj": self.compute_energy_pj},
            "levels": {
                name: {
                    t: {"reads": s.reads, "fills": s.fills, "updates": s.updates,
                        "temporal_reductions": s.temporal_reductions,
                        "utilized_capacity": s.utilized_capacity, "partition_size": s.partition_size,
                        "utilized_instances": s.utilized_instances, "energy_pj": s.energy_total_pj}
                    for t, s in lv.tensors.items()
                } for name, lv in self.levels.items()
            },
            "level_energy_pj": {name: lv.energy_pj for name, lv in self.levels.items()},
            "leak_energy_pj": {name: lv.leak_pj for name, lv in self.levels.items()},
            "notes": list(self.notes),
        }


# -- the model ----------------------------------------------------------------

def flatten(problem: Problem, hierarchy: Hierarchy, nest: LoopNest) -> list[Loop]:
    """Every loop of the nest, outermost first: per level its temporal
    loops, then its spatial fan-out; with each loop's stride.

    Checks that the nest names the hierarchy's levels in order and that
    each dimension's factors multiply to its size.
    """
    names = [lv.name for lv in hierarchy.levels]
    given = [m.level for m in nest.levels]
    if given != names:
        raise EinsumxError(f"the loop nest's levels {given} are not the architecture's storage levels {names} "
                           "(outermost first)", nest.origin)
    loops: list[Loop] = []
    for i, m in enumerate(nest.levels):
        for d, f in m.temporal:
            loops.append(Loop(i, d, f, False))
        for d, f, axis in m.spatial:
            loops.append(Loop(i, d, f, True, axis))
    for loop in loops:
        if loop.dim not in problem.dims:
            m = nest.levels[loop.level]
            raise EinsumxError(f"level {m.level} has a loop over '{loop.dim}', which is not a dimension of "
                               f"{problem.name} ({', '.join(problem.dims)})", m.origin or nest.origin)
        if loop.factor < 1:
            m = nest.levels[loop.level]
            raise EinsumxError(f"level {m.level}: factor {loop.dim}={loop.factor} must be a positive integer",
                               m.origin or nest.origin)
    for d, size in problem.dims.items():
        got = math.prod(l.factor for l in loops if l.dim == d)
        if got != size:
            factors = " x ".join(f"{l.factor} ({nest.levels[l.level].level})" for l in loops if l.dim == d and l.factor > 1)
            raise EinsumxError(f"the factors of {d} multiply to {got} ({factors or '1'}), not to its size {size}",
                               nest.origin)
    out = []
    for k, loop in enumerate(loops):
        stride = math.prod(l.factor for l in loops[k + 1:] if l.dim == loop.dim)
        out.append(Loop(loop.level, loop.dim, loop.factor, loop.spatial, loop.axis, stride))
    return out


def _extent(ds: DataSpace, box: Mapping[str, int]) -> list[int]:
    """Per tensor dimension, the length of the projection of a box with
    ``box[d]`` points along each problem dimension."""
    return [sum(abs(c) * (box.get(d, 1) - 1) for d, c in term) + 1 for term in ds.projection]


def _moved(ds: DataSpace, extent: list[int], shift: Mapping[str, int]) -> int:
    """Elements of the tile moved by ``shift`` (in problem dimensions) that
    were not in it before: |B + s \\ B| for a box B."""
    overlap = 1
    for term, length in zip(ds.projection, extent):
        delta = abs(sum(c * shift.get(d, 0) for d, c in term))
        overlap *= max(0, length - delta)
    return math.prod(extent) - overlap


def _box(loops: list[Loop], keep) -> dict[str, int]:
    box: dict[str, int] = {}
    for l in loops:
        if keep(l):
            box[l.dim] = box.get(l.dim, 1) * l.factor
    return box


def tile_loads(ds: DataSpace, loops: list[Loop], level: int) -> tuple[int, int]:
    """(tile size, loads) of ``ds`` at storage level ``level`` per instance:
    the first tile plus, for every advance of a temporal loop above the
    level, the new elements of the moved tile."""
    inside = [l for l in loops if l.level >= level]
    extent = _extent(ds, _box(inside, lambda l: True))
    tile = math.prod(extent)
    above = [l for l in loops if l.level < level and not l.spatial]
    loads = tile
    for j, loop in enumerate(above):
        if loop.factor == 1:
            continue
        advances = math.prod(l.factor for l in above[:j]) * (loop.factor - 1)
        shift = {loop.dim: loop.stride}
        for inner in above[j + 1:]:
            shift[inner.dim] = shift.get(inner.dim, 0) - (inner.factor - 1) * inner.stride
        loads += advances * _moved(ds, extent, shift)
    return tile, loads


def evaluate(problem: Problem, hierarchy: Hierarchy, nest: LoopNest) -> NestStats:
    """Timeloop's counts, cycles and energy for ``problem`` mapped by ``nest``.

    Raises ``EinsumxError`` for a nest that does not fit: factors that do not
    multiply out, a fan-out larger than the hardware's, a tile larger than
    its level, or a tensor the outermost level does not keep.
    """
    loops = flatten(problem, hierarchy, nest)
    levels = hierarchy.levels
    n = len(levels)
    notes: list[str] = []

    # instances: each level's spatial loops fan out to the level below
    fanout = [math.prod(l.factor for l in loops if l.spatial and l.level == i) for i in range(n)]
    used = [math.prod(fanout[:i]) for i in range(n + 1)]  # utilized instances of level i (n: compute)
    children = [lv.instances for lv in levels[1:]] + [hierarchy.compute.instances]
    for i, lv in enumerate(levels):
        if lv.instances and children[i] % lv.instances == 0:
            available = children[i] // lv.instances
        else:
            available = children[i]
        if fanout[i] > available:
            m = nest.levels[i]
            raise EinsumxError(f"level {lv.name} fans out to {fanout[i]} children but has {available} below it",
                               m.origin or nest.origin)

    keeps = []
    for i, m in enumerate(nest.levels):
        keep = frozenset(ds.name for ds in problem.data_spaces) if m.keep is None else m.keep
        unknown = keep - {ds.name for ds in problem.data_spaces}
        if unknown:
            raise EinsumxError(f"level {m.level} keeps unknown tensor '{sorted(unknown)[0]}'", m.origin or nest.origin)
        keeps.append(keep)
    for ds in problem.data_spaces:
        if ds.name not in keeps[0]:
            raise EinsumxError(f"the outermost level {levels[0].name} must keep {ds.name} (it holds every tensor)",
                               nest.levels[0].origin or nest.origin)

    compute_cycles = math.prod(l.factor for l in loops if not l.spatial)
    total = {d: s for d, s in problem.dims.items()}

    stats: dict[str, LevelStats] = {}
    for i, lv in enumerate(levels):
        tensors: dict[str, TensorStats] = {}
        for ds in problem.data_spaces:
            if ds.name not in keeps[i]:
                continue
            tile, loads = tile_loads(ds, loops, i)
            split = _box([l for l in loops if l.spatial and l.level < i], lambda l: True)
            partition = math.prod(_extent(ds, {d: total[d] // split.get(d, 1) for d in total}))
            child = next((j for j in range(i + 1, n) if ds.name in keeps[j]), n)
            between = [l for l in loops if l.spatial and i <= l.level < child]
            fan = math.prod(l.factor for l in between)
            shared = math.prod(l.factor for l in between if l.dim not in ds.dims())
            if child < n:
                _, child_loads = tile_loads(ds, loops, child)
            else:
                child_loads = compute_cycles
            content = child_loads * fan // shared
            if any(len(term) > 1 for term in ds.projection) and any(l.dim in ds.dims() for l in between):
                notes.append(f"{lv.name}/{ds.name}: a sliding window split across instances is counted per "
                             "instance (the overlap between neighbours is not shared)")
            outermost = i == 0
            if ds.read_write:
                updates = content
                reads = max(content - partition, 0)
                fills = 0 if outermost else max(loads - partition, 0)
                reductions = reads
            else:
                reads, updates, reductions = content, 0, 0
                fills = 0 if outermost else loads
            tensors[ds.name] = TensorStats(partition, tile, used[i], reads, fills, updates, reductions,
                                           _access_energy(lv, reads, fills, updates), shared)
        capacity = lv.capacity_words
        held = sum(t.utilized_capacity for t in tensors.values())
        if capacity is not None and held > capacity:
            parts = ", ".join(f"{k} {t.utilized_capacity}" for k, t in tensors.items())
            raise EinsumxError(f"the tiles at {lv.name} need {held} words ({parts}) but it holds {capacity}",
                               nest.levels[i].origin or nest.origin)
        stats[lv.name] = LevelStats(lv.name, lv.instances, tensors, 0.0, 0,
                                    nest.levels[i].temporal, nest.levels[i].spatial)

    # bandwidth: a level that cannot keep up stretches the whole run
    cycles = max([compute_cycles] + [_bandwidth_cycles(lv, stats[lv.name]) for lv in levels])
    for lv in levels:
        stats[lv.name].leak_pj = lv.energy_pj.get("leak", 0.0) * cycles * lv.instances
        stats[lv.name].cycles = cycles

    compute = hierarchy.compute
    area = sum(lv.area_um2 * lv.instances for lv in levels) + compute.area_um2 * compute.instances
    return NestStats(problem, hierarchy, problem.computes, compute_cycles, cycles, used[n],
                     problem.computes * compute.energy_pj, stats, area, sorted(set(notes)))


def _bandwidth_cycles(level: StorageLevel, s: LevelStats) -> int:
    """Cycles one instance needs to move its words at the level's bandwidth
    (0 where no bandwidth is set)."""
    reads = sum(t.reads for t in s.tensors.values())
    writes = sum(t.fills + t.updates for t in s.tensors.values())
    need = [0]
    for words, bw in ((reads, level.read_bandwidth), (writes, level.write_bandwidth),
                      (reads + writes, level.shared_bandwidth)):
        if bw:
            need.append(math.ceil(words / bw))
    return max(need)


def _access_energy(level: StorageLevel, reads: int, fills: int, updates: int) -> float:
    """Whole vectors per action: ``ceil(scalars / block) x energy``."""
    b = level.block_words
    e = level.energy_pj
    return (math.ceil(reads / b) * e.get("read", 0.0) + math.ceil(fills / b) * e.get("write", 0.0)
            + math.ceil(updates / b) * e.get("update", 0.0))


# -- from an einsumx Einsum ---------------------------------------------------

def problem_from_einsum(cascade, einsum, point) -> Problem:
    """The loop-nest ``Problem`` of one Einsum of a cascade at a point
    (``ir.values.Point``): its iteration ranks with their sizes (in the
    workload's rank order), one data space per tensor access, the output
    read-write. Constant index positions (``RNV[f,M1,p]``) are a single
    element and project on nothing; filters (``where``) are dropped, so the
    problem is the dense box around them (``notes`` of the caller say so).

    >>> from einsumx.ir.build import parse_workload                                # doctest: +SKIP
    >>> c = parse_workload("ranks: {M: 4, K: 2}\\ntensors: {A: [K, M]}\\neinsums: Y[m] = A[k,m]\\n")  # doctest: +SKIP
    >>> problem_from_einsum(c, c.einsums[0], evaluate_point(c)).dims                 # doctest: +SKIP
    {'M': 4, 'K': 2}
    """
    var_rank = {r.var: name for name, r in cascade.ranks.items()}
    order = list(cascade.ranks)
    dims = sorted((var_rank[v] for v in einsum.iter_vars), key=order.index)
    sizes = {d: point.ranks[d] for d in dims}
    spaces = []
    seen: dict[str, int] = {}
    for k, access in enumerate((*einsum.inputs, einsum.output)):
        is_output = k == len(einsum.inputs)
        projection = []
        names = []
        ranks = cascade.tensors[access.tensor].ranks if access.tensor in cascade.tensors else ()
        for pos, index in enumerate(access.indices):
            terms = tuple((var_rank[v], point.int(c)) for v, c in index.terms if point.int(c) != 0)
            if not terms:
                continue
            projection.append(terms)
            names.append(ranks[pos] if pos < len(ranks) else terms[0][0])
        seen[access.tensor] = seen.get(access.tensor, 0) + 1
        name = access.tensor if seen[access.tensor] == 1 else f"{access.tensor}_{seen[access.tensor]}"
        spaces.append(DataSpace(name, tuple(projection), is_output, tuple(names)))
    return Problem(einsum.label, sizes, tuple(spaces))
