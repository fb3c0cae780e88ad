"""The symbolic cost model of (cascade, architecture, mapping).

Everything here is a sympy expression in the workload's parameters, the
architecture's numbers, the mapping's tile sizes and the per-tensor reuse
choices; ``einsumx.model.compile`` turns the whole set into one numpy
function. docs/model.md ("Evaluation model") says what is counted and why;
in short, per phase:

- compute: an Einsum's cycles are its iteration points x the cycles of its
  operators on its array / the PEs it engages, where a rank spread over an
  axis of size A engages ``t / ceil(t/A)`` PEs on average for a step extent
  ``t``; steps combine by the stage schedule (``mapping.schedule``);
- DRAM: inputs of the phase read once per iteration of the loops their
  reuse is not kept across, outputs written once, pass-crossing
  intermediates that overflow the buffer spilled (written and re-read as
  the pass analysis says);
- buffer: the tiles held in the global buffer (in-place updates share
  space), and per-PE register words;
- energy: operator actions, register-file words, buffer rows and DRAM
  accesses, each times its energy in the architecture's table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy

from ..analysis.counts import bytes_per_element, iteration_points, ops_per_point, output_points, tensor_bytes
from ..analysis.footprint import live_footprint
from ..analysis.passes import pass_analysis
from ..arch import Architecture
from ..errors import EinsumxError
from ..ir.cascade import Cascade, Einsum
from ..ir.operators import FUNCTIONS
from ..ir.symbolic import to_sympy
from ..ir.values import param_symbol
from ..mapping.schedule import Schedule, build_schedule
from ..lang.yamlsrc import Text
from ..mapping.spec import MappingSpec, PhaseSpec

ZERO = sympy.Integer(0)
ONE = sympy.Integer(1)


def _prod(xs) -> sympy.Expr:
    out = ONE
    for x in xs:
        out *= x
    return out


@dataclass
class EinsumCost:
    index: int
    label: str
    array: str
    points: sympy.Expr
    cycles_per_point: sympy.Expr
    engaged_pes: sympy.Expr
    spatial: dict[str, str]
    """axis -> index variable spread over it."""
    cycles: sympy.Expr
    """Busy cycles of its array (all steps)."""
    actions: dict[str, sympy.Expr]
    """``PE2D.mac`` -> count (native actions, emulated operators expanded)."""
    accesses: list[tuple[str, str, str, sympy.Expr]]
    """(tensor, level 'RF'|'GLB', 'read'|'write', words)."""
    energy_pj: sympy.Expr = ZERO


@dataclass
class TensorTraffic:
    tensor: str
    kind: str
    """'read' (phase input), 'write' (phase output), 'spill'."""
    bytes: sympy.Expr
    why: str


@dataclass
class PhaseModel:
    spec: PhaseSpec
    einsums: list[int]
    views: dict[str, str]
    """Re-layouts that cost nothing but an alias (``BK`` -> ``K``)."""
    costs: list[EinsumCost]
    steps: sympy.Expr
    schedule: Schedule
    compute_cycles: sympy.Expr
    traffic: list[TensorTraffic]
    dram_bytes: sympy.Expr
    memory_cycles: sympy.Expr
    latency_cycles: sympy.Expr
    occupancy: dict[str, sympy.Expr]
    """Global-buffer bytes held per tensor (or in-place group)."""
    occupancy_bytes: sympy.Expr
    fixed_bytes: sympy.Expr
    """The part of the occupancy that cannot spill."""
    spill_fraction: sympy.Expr
    rf_words: dict[str, sympy.Expr]
    levels: dict[str, str]
    tiles: dict[str, sympy.Symbol]
    reuse: dict[str, tuple[sympy.Symbol, list[str]]]
    """tensor -> (choice symbol, what each choice means)."""
    energy: dict[str, sympy.Expr] = field(default_factory=dict)
    """'PE2D.mac', 'GLB.read', 'DRAM.write', ... -> pJ."""


@dataclass(frozen=True)
class Decision:
    """``lhs op rhs`` (op: '<=' or '>'), in the parameters; ``outcome`` at the build point."""

    lhs: sympy.Expr
    op: str
    rhs: sympy.Expr
    outcome: bool


@dataclass
class Model:
    cascade: Cascade
    arch: Architecture
    mapping: MappingSpec
    phases: list[PhaseModel]
    outputs: dict[str, sympy.Expr]
    defaults: dict[sympy.Symbol, float]
    """Workload parameters (with the mapping's ``set``) and hardware numbers."""
    choices: dict[sympy.Symbol, list[int] | None]
    """Tile sizes and reuse choices the mapper picks among (None: automatic tile)."""
    tile_info: dict[sympy.Symbol, tuple[sympy.Expr, int]] = field(default_factory=dict)
    decisions: tuple[Decision, ...] = ()
    """The comparisons the model's structure rests on (where each
    intermediate lives), with their outcome at ``defaults``: the model is
    exact wherever they all come out the same."""
    search_symbols: frozenset[sympy.Symbol] = frozenset()
    """The parameters a searched binding or schedule was judged on (empty when
    the mapping gives them): at points that agree on these, the search
    makes the same choice."""


def rank_sizes(cascade: Cascade, keep: frozenset[str] = frozenset()) -> dict[sympy.Symbol, sympy.Expr]:
    """Each rank's symbol -> its size in the workload's parameters; the
    ranks in ``keep`` (set directly, ``--set M=2048``) stay symbols."""
    out: dict[sympy.Symbol, sympy.Expr] = {}

    def size(name: str) -> sympy.Expr:
        r = cascade.ranks[name]
        if name in keep:
            out[r.symbol] = r.symbol
        if r.symbol not in out:
            out[r.symbol] = to_sympy(r.size, lambda n: size(n.id) if n.id in cascade.ranks else param_symbol(n.id))
        return out[r.symbol]

    for name in cascade.ranks:
        size(name)
    return out


def overridden_ranks(cascade: Cascade, values: dict) -> frozenset[str]:
    """Ranks whose value in ``values`` is not what their size expression
    gives from the parameters: they were set directly."""
    sizes = rank_sizes(cascade)
    out = set()
    for name, r in cascade.ranks.items():
        if r.symbol in values:
            expected = sympy.sympify(sympy.sympify(sizes[r.symbol]).xreplace(values))
            try:
                if expected.is_number and abs(float(expected) - float(values[r.symbol])) > 1e-9:
                    out.add(name)
            except TypeError:  # an array of values: not a one-point override
                pass
    return frozenset(out)


def is_view(cascade: Cascade, e: Einsum) -> bool:
    """A re-layout of inputs (``BK[e,m1,m0] = K[e, m1*M0+m0]``) or an
    initialisation by a constant: no operations, nothing to compute."""
    return not ops_per_point(e) and all(not cascade.writers(a.tensor) for a in e.inputs)


class _PhaseBuilder:
    def __init__(self, model_ctx: "_Context", k: int, spec: PhaseSpec, members: list[int]):
        self.ctx = model_ctx
        self.c = model_ctx.cascade
        self.arch = model_ctx.arch
        self.k = k
        self.spec = spec
        self.members = members

    # -- loops -------------------------------------------------------------
    def loops(self):
        c, spec = self.c, self.spec
        self.tile_syms: dict[str, sympy.Symbol] = {}
        for name in spec.tiles:
            self.tile_syms[name] = sympy.Symbol(f"{spec.name}.{name}", positive=True, integer=True)
            self.ctx.choices[self.tile_syms[name]] = spec.tiles[name]
        self.loop_ranks: list[str] = []
        self.trips: list[sympy.Expr] = []
        last_tile: dict[str, sympy.Expr] = {}
        for loop in spec.loops:
            if loop.var not in c.var_ranks:
                raise EinsumxError(f"loop over unknown index '{loop.var}' (indices: {', '.join(c.var_ranks)})", loop.var.origin)
            rank = c.var_ranks[loop.var]
            tile = sympy.Integer(loop.tile) if isinstance(loop.tile, int) else self.tile_syms[loop.tile]
            outer = last_tile.get(rank, self.ctx.size(rank))
            if isinstance(loop.tile, str):
                inner = [l.tile for l in spec.loops[spec.loops.index(loop) + 1:] if c.var_ranks.get(l.var) == rank]
                self.ctx.tile_info[tile] = (outer, inner[0] if inner and isinstance(inner[0], int) else 1)
            self.loop_ranks.append(rank)
            self.trips.append(sympy.ceiling(outer / tile))
            last_tile[rank] = tile
        self.step_extent = {r: last_tile.get(r, self.ctx.size(r)) for r in c.ranks}
        self.steps = _prod(self.trips)

    def rank_extent(self, rank: str) -> sympy.Expr:
        """Extent of a rank in one step (a split rank: the product of its parts')."""
        leaves = self.c.leaves(rank)
        if len(leaves) == 1:
            return self.step_extent[rank]
        return _prod(self.step_extent[l] for l in leaves)

    def indexes(self, loop_rank: str, tensor: str) -> bool:
        c = self.c
        if tensor in self.running and loop_rank in self.running[tensor]:
            return False
        for r in c.tensors[tensor].ranks:
            if loop_rank in c.family(r) or r in c.family(loop_rank):
                return True
        return False

    def slice_elems(self, tensor: str) -> sympy.Expr:
        t = self.c.tensors[tensor]
        return _prod(ONE if r in self.running.get(tensor, ()) else self.rank_extent(r) for r in t.ranks)

    def footprint(self, tensor: str, j: int) -> sympy.Expr:
        """Elements of ``tensor`` touched in one iteration of loop ``j``."""
        return self.slice_elems(tensor) * _prod(self.trips[i] for i in range(j + 1, len(self.trips))
                                                if self.indexes(self.loop_ranks[i], tensor))

    def reuse_loops(self, tensor: str) -> list[int]:
        """Loops that do not index ``tensor``: each is a chance of reuse,
        and keeping it across loop j means holding the tensor's footprint
        of one iteration of j (a step iterates too, over what the loops
        leave, so even the innermost loop counts)."""
        return [j for j in range(len(self.loop_ranks)) if not self.indexes(self.loop_ranks[j], tensor)]

    # -- build -------------------------------------------------------------
    def prepare(self) -> list[int]:
        """Views, running tensors and loops; the Einsums that compute."""
        c, spec = self.c, self.spec
        self.views = {}
        compute = []
        for i in self.members:
            e = c.einsums[i]
            if is_view(c, e):
                if e.inputs:
                    self.views[e.output.tensor] = e.inputs[0].tensor
                continue
            compute.append(i)
        if not compute:
            raise EinsumxError(f"phase '{spec.name}' has nothing to compute", spec.origin)
        self.running = {}
        for i in self.members:
            e = c.einsums[i]
            for ix in e.output.indices:
                if ix.kind == "step":
                    rank = c.var_ranks[ix.vars[0]]
                    self.running.setdefault(e.output.tensor, set()).add(rank)
        self.loops()
        return compute

    def build(self) -> PhaseModel:
        c, arch, spec = self.c, self.arch, self.spec
        compute = self.prepare()
        array_of = self.bind(compute)
        self.array_of = array_of
        produced = {c.einsums[i].output.tensor for i in compute}
        later = set(self.ctx.read_after(self.k)) | set(c.outputs)
        # where each tensor lives: a PE's registers if one array makes and uses it
        users: dict[str, set[str]] = {}
        for i in compute:
            e = c.einsums[i]
            users.setdefault(e.output.tensor, set()).add(array_of[i])
            for a in e.inputs:
                users.setdefault(self.alias(a.tensor), set()).add(array_of[i])
        levels = {}
        rf_words: dict[str, sympy.Expr] = {}
        groups = self.inplace_groups(compute)
        for t in sorted(users):
            arrays = users[t]
            level = "GLB"
            if t in produced and t not in later and len(arrays) == 1 and not self.reuse_loops(t):
                a = arch.arrays[next(iter(arrays))]
                per_pe = self.slice_elems(t) / a.pes
                if set(self.tile_syms.values()) & per_pe.free_symbols:
                    pass  # grows with a tile size: the buffer's job
                else:
                    fits = self.ctx.holds(per_pe, "<=", a.rf_words)
                    if self.ctx.holds(a.rf_words, ">", 0) and fits:
                        level = "RF"
            levels[t] = level
        for t, level in levels.items():
            if level == "RF":
                a = next(iter(users[t]))
                head = groups.get(t, t)
                if head == t:
                    rf_words[a] = rf_words.get(a, ZERO) + sympy.ceiling(self.slice_elems(t) / arch.arrays[a].pes)
        self.levels = levels

        costs = [self.einsum_cost(i, array_of[i]) for i in compute]
        cyc = {x.index: x.cycles / self.steps for x in costs}
        intra, carried, tails = self.step_graph(compute)
        schedule = build_schedule(spec.schedule, compute, array_of, cyc, intra, carried, tails)
        schedule.stages = [{a: st[a] for a in arch.arrays if a in st} for st in schedule.stages]
        compute_cycles = self.steps * schedule.step_cycles

        # buffer occupancy and DRAM traffic
        traffic: list[TensorTraffic] = []
        occupancy: dict[str, sympy.Expr] = {}
        fixed = ZERO
        spillable = ZERO
        reuse: dict[str, tuple[sympy.Symbol, list[str]]] = {}
        spill_terms = self.ctx.spill_terms
        spill_inputs: list[str] = []
        for t in sorted(levels, key=lambda t: list(c.tensors).index(t)):
            nbytes = bytes_per_element(c.tensors[t])
            if t not in produced:  # a phase input, from DRAM
                tile, reads, choice = self.input_reuse(t)
                if choice is not None:
                    reuse[t] = choice
                traffic.append(TensorTraffic(t, "read", tensor_bytes(c, c.tensors[t]) * reads, self.reuse_text(t, choice)))
                occupancy[t] = tile * nbytes
                if t in spill_terms and choice is None:  # read in several passes: re-read what does not fit
                    spillable += tile * nbytes
                    spill_inputs.append(t)
                else:
                    fixed += tile * nbytes
                continue
            if t in later:
                traffic.append(TensorTraffic(t, "write", tensor_bytes(c, c.tensors[t]), "output of the phase, written once"))
            if levels[t] == "RF" or groups.get(t, t) != t:
                continue
            loops_ = self.reuse_loops(t)
            tile = self.footprint(t, loops_[0]) if loops_ else self.slice_elems(t)
            members = [x for x, h in groups.items() if h == t] or [t]
            key = "=".join(members) if len(members) > 1 else t
            occupancy[key] = tile * nbytes
            if any(m in spill_terms for m in members):
                spillable += tile * nbytes
            else:
                fixed += tile * nbytes
        occ = sum(occupancy.values(), ZERO)
        cap = arch.buffer.capacity_bytes
        if spillable != ZERO:
            fraction = sympy.Max(0, sympy.Min(1, (occ - cap) / spillable))
            for t in sorted({m for m in spill_terms if m in produced and levels.get(m) == "GLB"}):
                amount, why = spill_terms[t]
                traffic.append(TensorTraffic(t, "spill", fraction * amount, f"{why}, for the part that overflows the buffer"))
            for t in spill_inputs:
                amount, why = spill_terms[t]
                again = amount - tensor_bytes(c, c.tensors[t])  # the write happened in an earlier phase
                traffic.append(TensorTraffic(t, "read", fraction * again, "read again in each later pass, for the part that overflows the buffer"))
        else:
            fraction = ZERO
        dram = sum((x.bytes for x in traffic), ZERO)
        mem_cycles = dram / (arch.dram.bandwidth_bytes_per_s / arch.clock_hz)
        latency = sympy.Max(compute_cycles, mem_cycles) if spec.overlap else compute_cycles + mem_cycles
        pm = PhaseModel(spec, self.members, self.views, costs, self.steps, schedule, compute_cycles, traffic, dram,
                        mem_cycles, latency, occupancy, occ, fixed, fraction, rf_words, levels, self.tile_syms, reuse)
        self.energy(pm)
        return pm

    def alias(self, tensor: str) -> str:
        while tensor in self.views:
            tensor = self.views[tensor]
        return tensor

    def bind(self, compute: list[int]) -> dict[int, str]:
        c, arch, spec = self.c, self.arch, self.spec
        by_label = {}
        for i in compute:
            by_label.setdefault(c.einsums[i].label, i)
            by_label.setdefault(c.einsums[i].output.tensor, i)
        out: dict[int, str] = {}
        where = {}
        for array, labels in (spec.bind or {}).items():
            if array not in arch.arrays:
                raise EinsumxError(f"bind: unknown array '{array}' (arrays of {arch.name}: {', '.join(arch.arrays)})",
                                   getattr(array, "origin", spec.key_origins.get("bind")))
            for lab in labels:
                if lab not in by_label:
                    known = ", ".join(c.einsums[i].label for i in compute)
                    raise EinsumxError(f"bind: '{lab}' is not an Einsum of phase '{spec.name}' (it has: {known})", lab.origin)
                out[by_label[lab]] = array
                where[by_label[lab]] = lab.origin
        for i in compute:
            if i not in out:  # unbound: the first array that runs all its operators
                e = c.einsums[i]
                able = [a for a in arch.arrays if self.unsupported(e, arch.arrays[a]) is None]
                if not able:
                    raise EinsumxError(f"no array of {arch.name} runs '{e.label}' ({e.text})", e.origin)
                out[i] = able[0]
            missing = self.unsupported(c.einsums[i], arch.arrays[out[i]])
            if missing:
                raise EinsumxError(f"array '{out[i]}' of {arch.name} cannot run '{missing}', which "
                                   f"'{c.einsums[i].label}' needs ({c.einsums[i].text})",
                                   where.get(i) or spec.key_origins.get("bind") or spec.origin)
        return out

    @staticmethod
    def absorbs(array) -> frozenset[str]:
        return frozenset(f for f, op in FUNCTIONS.items() if len(op.cost) == 1
                         and next(iter(op.cost)) in array.operators and array.operators[next(iter(op.cost))].absorbs_add)

    def unsupported(self, e: Einsum, array) -> str | None:
        for cls in ops_per_point(e, self.absorbs(array)):
            if not array.supports(cls):
                return cls
        return None

    def spatial_vars(self, e: Einsum, array: str) -> dict[str, str]:
        a = self.arch.arrays[array]
        wanted = self.spec.spatial.get(array, {})
        for axis in wanted:
            if axis not in a.axes:
                raise EinsumxError(f"spatial: array '{array}' has no axis '{axis}' (axes: {', '.join(a.axes)})",
                                   getattr(axis, "origin", self.spec.key_origins.get("spatial")))
        out = {}
        for axis in a.axes:
            if axis in wanted:
                pick = next((v for v in wanted[axis] if v in e.iter_vars and v not in out.values()), None)
            else:  # default: the output's last indices, innermost on the last axis
                free = [v for v in e.out_vars if v not in out.values() and self.c.var_ranks[v] not in self.loop_ranks]
                pick = free[-(len(a.axes) - list(a.axes).index(axis))] if len(free) >= len(a.axes) - list(a.axes).index(axis) else None
            if pick is not None:
                out[axis] = pick
        return out

    def busy(self, i: int, array: str):
        """Points, cycles per point, spatial ranks, engaged PEs and busy
        cycles of Einsum ``i`` on ``array``."""
        c = self.c
        e = c.einsums[i]
        a = self.arch.arrays[array]
        ops = ops_per_point(e, self.absorbs(a))
        cpp = sum((n * a.cycles(cls) for cls, n in ops.items()), ZERO)
        points = iteration_points(c, e)
        spatial = self.spatial_vars(e, array)
        engaged = ONE
        for axis, var in spatial.items():
            t = self.step_extent[c.var_ranks[var]]
            engaged *= t / sympy.ceiling(t / a.axes[axis])
        return ops, points, cpp, spatial, engaged, points * cpp / engaged

    def einsum_cost(self, i: int, array: str) -> EinsumCost:
        c, arch = self.c, self.arch
        e = c.einsums[i]
        a = arch.arrays[array]
        ops, points, cpp, spatial, engaged, cycles = self.busy(i, array)
        actions: dict[str, sympy.Expr] = {}
        for cls, n in ops.items():
            for act, m in a.actions(cls).items():
                key = f"{array}.{act}"
                actions[key] = actions.get(key, ZERO) + points * n * m
        accesses = []
        for acc in e.inputs:
            t = self.alias(acc.tensor)
            level = self.levels[t]
            if level == "RF":
                words = points
            else:
                bcast = ONE
                for axis, var in spatial.items():
                    if not self.indexes(c.var_ranks[var], acc.tensor):
                        t_ext = self.step_extent[c.var_ranks[var]]
                        bcast *= t_ext / sympy.ceiling(t_ext / a.axes[axis])  # PEs a word feeds, on average
                words = points / bcast
            accesses.append((t, level, "read", words))
        accesses.append((e.output.tensor, self.levels[e.output.tensor], "write", output_points(c, e)))
        return EinsumCost(i, e.label, array, points, cpp, engaged, spatial, cycles, actions, accesses)

    def step_graph(self, compute: list[int]):
        c = self.c
        inner = self.loop_ranks[-1] if self.loop_ranks else None
        members = set(compute)
        intra, carried = set(), set()
        consumers: dict[int, set[int]] = {i: set() for i in compute}
        for ed in c.edges:
            if ed.producer in members and ed.consumer in members:
                if ed.carried:
                    carried.add((ed.producer, ed.consumer))
                elif not ed.final:
                    intra.add((ed.producer, ed.consumer))
                    consumers[ed.producer].add(ed.consumer)
        tails = set()
        if not self.loop_ranks:  # one step: no next step to overlap with
            return intra, carried, tails
        for i in compute:
            e = c.einsums[i]
            per_step = inner is not None and any(c.var_ranks[v] in c.family(inner) or inner in c.family(c.var_ranks[v]) for v in e.iter_vars)
            if not consumers[i] and (any(p == i for p, _ in carried) or not per_step or self.has_final_reader(i)):
                tails.add(i)
        return intra, carried, tails

    def has_final_reader(self, i: int) -> bool:
        return any(ed.final for ed in self.c.edges if ed.producer == i)

    def inplace_groups(self, compute: list[int]) -> dict[str, str]:
        """Tensors that overwrite, element by element, an input that dies
        with them (``SN = exp(QK - GM)`` reuses QK's space): member -> head."""
        c = self.c
        last_reader: dict[str, int] = {}
        for i in compute:
            for a in c.einsums[i].inputs:
                last_reader[self.alias(a.tensor)] = i
        head: dict[str, str] = {}
        for i in compute:
            e = c.einsums[i]
            out_vars = {ix.vars[0] for ix in e.output.indices if ix.kind == "var"}
            for a in e.inputs:
                t = a.tensor
                if t in self.running or e.output.tensor in self.running:
                    continue  # running values are read again by the next step
                if (last_reader.get(t) == i and c.writers(t) and t in {c.einsums[j].output.tensor for j in compute}
                        and {ix.vars[0] for ix in a.indices if ix.kind == "var"} == out_vars
                        and len(a.indices) == len(e.output.indices) and e.output.tensor not in head):
                    head[e.output.tensor] = head.get(t, t)
                    head.setdefault(t, head[e.output.tensor])
                    break
        return head

    def input_reuse(self, t: str):
        """Tile, read multiplier and reuse choice of a phase input."""
        loops_ = self.reuse_loops(t)
        if not loops_:
            return self.slice_elems(t), ONE, None
        sym = sympy.Symbol(f"{self.spec.name}.reuse.{t}", integer=True, nonnegative=True)
        tiles, reads, labels = [], [], []
        for k in range(len(loops_) + 1):
            lost = loops_[:k]
            if k < len(loops_):
                tiles.append(self.footprint(t, loops_[k]))
                labels.append(f"kept across {self.loop_ranks[loops_[k]].lower()}" if k == 0 else
                              f"re-read per {', '.join(self.loop_ranks[j].lower() for j in lost)}")
            else:  # streamed through: a few rows in flight, not counted
                tiles.append(ZERO)
                labels.append(f"streamed, re-read per {', '.join(self.loop_ranks[j].lower() for j in lost)}")
            reads.append(_prod(self.trips[j] for j in lost))
        self.ctx.choices[sym] = list(range(len(loops_) + 1))
        tile = sympy.Piecewise(*[(x, sympy.Eq(sym, k)) for k, x in enumerate(tiles[:-1])], (tiles[-1], True))
        read = sympy.Piecewise(*[(x, sympy.Eq(sym, k)) for k, x in enumerate(reads[:-1])], (reads[-1], True))
        return tile, read, (sym, labels)

    @staticmethod
    def reuse_text(t: str, choice) -> str:
        return "input of the phase, read once" if choice is None else "input of the phase, reuse chosen by the mapper"

    def energy(self, pm: PhaseModel) -> None:
        arch = self.arch
        en: dict[str, sympy.Expr] = {}

        def add(key, value):
            en[key] = en.get(key, ZERO) + value

        row_words = arch.buffer.row_bits / arch.word_bits
        for x in pm.costs:
            a = arch.arrays[x.array]
            e_total = ZERO
            for key, n in x.actions.items():
                act = key.split(".", 1)[1]
                v = n * a.operators[act].energy_pj
                add(key, v)
                e_total += v
            for tensor, level, kind, words in x.accesses:
                if level == "RF":
                    v = words * (a.rf_read_pj if kind == "read" else a.rf_write_pj)
                    add(f"{x.array}.rf_{kind}", v)
                else:
                    v = words / row_words * (arch.buffer.read_pj if kind == "read" else arch.buffer.write_pj)
                    add(f"GLB.{kind}", v)
                e_total += v
            x.energy_pj = e_total
        access_bytes = arch.dram.access_bits / 8
        word_bytes = arch.word_bits / 8
        for tr in pm.traffic:
            reads = tr.bytes if tr.kind == "read" else (tr.bytes / 2 if tr.kind == "spill" else ZERO)
            writes = tr.bytes - reads
            add("DRAM.read", reads / access_bytes * arch.dram.read_pj)
            add("DRAM.write", writes / access_bytes * arch.dram.write_pj)
            # every DRAM byte also passes through the buffer once
            add("GLB.write", reads / word_bytes / row_words * arch.buffer.write_pj)
            add("GLB.read", writes / word_bytes / row_words * arch.buffer.read_pj)
        pm.energy = en


class _Context:
    def __init__(self, cascade: Cascade, arch: Architecture, mapping: MappingSpec, defaults, groups,
                 keep_ranks: frozenset[str] = frozenset()):
        self.cascade = cascade
        self.arch = arch
        self.mapping = mapping
        self.defaults = defaults
        self.sizes = rank_sizes(cascade, overridden_ranks(cascade, defaults) | keep_ranks)
        self.choices: dict[sympy.Symbol, list[int] | None] = {}
        self.decisions: list[Decision] = []
        self.tile_info: dict[sympy.Symbol, tuple[sympy.Expr, int]] = {}
        """tile symbol -> (extent it divides, the tile inside it)"""
        self.groups = groups
        self.spill_terms = self._spill_terms()

    def size(self, rank: str) -> sympy.Expr:
        return self.cascade.ranks[rank].symbol

    def value(self, expr) -> float:
        e = sympy.sympify(expr).xreplace(self.sizes).xreplace(self.defaults)
        return float(e)

    def holds(self, lhs, op: str, rhs) -> bool:
        """``lhs op rhs`` at the build point (op: '<=' or '>'), for a choice
        of the model's structure; recorded in ``decisions`` when it depends
        on a parameter, so a sweep can tell at which points the model holds."""
        left, right = (sympy.sympify(x).xreplace(self.sizes) for x in (lhs, rhs))
        a, b = self.value(left), self.value(right)
        outcome = a <= b if op == "<=" else a > b
        if left.free_symbols or right.free_symbols:
            self.decisions.append(Decision(left, op, right, outcome))
        return outcome

    def read_after(self, k: int) -> list[str]:
        c = self.cascade
        out = []
        for group in self.groups[k + 1:]:
            for i in group:
                out += [a.tensor for a in c.einsums[i].inputs]
        return out

    def _spill_terms(self) -> dict[str, tuple[sympy.Expr, str]]:
        """Tensors live across a pass boundary: what spilling them costs."""
        c = self.cascade
        out = {}
        for rank, info in pass_analysis(c).items():
            for lt in live_footprint(c, info).live:
                if c.writers(lt.tensor) and lt.tensor not in out:
                    out[lt.tensor] = (lt.spill_bytes, lt.spill_terms)
        return out


def phase_groups(cascade: Cascade, mapping: MappingSpec) -> list[list[int]]:
    """Einsum indices of each phase (``einsums: all`` takes what is left)."""
    c = cascade
    taken: set[int] = set()
    groups: list[list[int] | None] = []
    for ph in mapping.phases:
        if ph.einsums is None:
            groups.append(None)
            continue
        idx = []
        for lab in ph.einsums:
            found = [i for i, e in enumerate(c.einsums) if e.label == lab or e.output.tensor == lab]
            if not found:
                known = ", ".join(e.label for e in c.einsums)
                raise EinsumxError(f"phase '{ph.name}': no Einsum '{lab}' in {c.name} (it has: {known})", lab.origin)
            for i in found:
                if i in taken:
                    raise EinsumxError(f"Einsum '{c.einsums[i].label}' is in two phases", lab.origin)
                taken.add(i)
                idx.append(i)
        groups.append(sorted(idx, key=c.order.index))
    rest = [i for i in c.order if i not in taken]
    out = []
    for g in groups:
        out.append(rest if g is None else g)
    # views of inputs go with their first reader
    return out


def build_model(cascade: Cascade, arch: Architecture, mapping: MappingSpec, defaults: dict[sympy.Symbol, float],
                keep_ranks: frozenset[str] = frozenset()) -> Model:
    """The symbolic model; ``defaults`` holds every parameter's value.
    Phases with ``bind: auto`` or ``schedule: auto`` get them from
    ``search_binding`` first. Ranks in ``keep_ranks`` (and any whose value
    in ``defaults`` differs from its size expression) stay symbols, so a
    sweep can give them arrays of values."""
    groups = phase_groups(cascade, mapping)
    ctx = _Context(cascade, arch, mapping, defaults, groups, keep_ranks)
    mapping, searched = _search(ctx)
    ctx.mapping = mapping
    phases = [_PhaseBuilder(ctx, k, ph, g).build() for k, (ph, g) in enumerate(zip(mapping.phases, groups))]
    out: dict[str, sympy.Expr] = {}
    cycles = sum((p.latency_cycles for p in phases), ZERO)
    out["cycles"] = cycles
    out["latency_s"] = cycles / arch.clock_hz
    out["compute_cycles"] = sum((p.compute_cycles for p in phases), ZERO)
    out["memory_cycles"] = sum((p.memory_cycles for p in phases), ZERO)
    out["dram_bytes"] = sum((p.dram_bytes for p in phases), ZERO)
    for name in arch.arrays:
        busy = sum((x.cycles for p in phases for x in p.costs if x.array == name), ZERO)
        out[f"busy_cycles.{name}"] = busy
        out[f"utilization.{name}"] = busy / cycles
    energy: dict[str, sympy.Expr] = {}
    for p in phases:
        for k, v in p.energy.items():
            energy[k] = energy.get(k, ZERO) + v
    for name, a in arch.arrays.items():  # PE-cycles without work: clock and leakage
        work = sum((x.points * x.cycles_per_point for p in phases for x in p.costs if x.array == name), ZERO)
        if a.idle_pj_per_pe_cycle != ZERO:
            energy[f"{name}.idle"] = (a.pes * cycles - work) * a.idle_pj_per_pe_cycle
    for k, v in sorted(energy.items()):
        out[f"energy_pj.{k}"] = v
    out["energy_pj"] = sum(energy.values(), ZERO)
    out["buffer_required_bytes.GLB"] = sympy.Max(*[p.fixed_bytes for p in phases]) if len(phases) > 1 else phases[0].fixed_bytes
    out["spill_fraction"] = sympy.Max(*[p.spill_fraction for p in phases]) if len(phases) > 1 else phases[0].spill_fraction
    out["buffer_overflow_bytes"] = out["buffer_required_bytes.GLB"] - arch.buffer.capacity_bytes  # > 0: does not fit
    for name, a in arch.arrays.items():
        words = [p.rf_words.get(name, ZERO) for p in phases]
        out[f"rf_words.{name}"] = sympy.Max(*words) if len(words) > 1 else words[0]
    for comp, area in arch.area_mm2().items():
        out[f"area_mm2.{comp}"] = area
    out["area_mm2"] = sum(arch.area_mm2().values(), ZERO)
    for p in phases:
        for x in p.costs:
            out[f"einsum.{x.label}.cycles"] = x.cycles
            out[f"einsum.{x.label}.energy_pj"] = x.energy_pj
    sizes = ctx.sizes
    resolved = {k: sympy.sympify(v).xreplace(sizes) for k, v in out.items()}
    tile_info = {s: (sympy.sympify(x).xreplace(sizes), inner) for s, (x, inner) in ctx.tile_info.items()}
    return Model(cascade, arch, mapping, phases, resolved, defaults, dict(ctx.choices), tile_info, tuple(ctx.decisions),
                 frozenset(searched))


def candidates(model: Model, values: dict) -> dict[sympy.Symbol, list[int]]:
    """The values each free choice may take at a point: listed tiles as
    given, automatic tiles the powers of two (times the tile inside them)
    that divide their extent."""
    out = {}
    for s, v in model.choices.items():
        if v is None:
            extent, inner = model.tile_info[s]
            n = int(round(float(extent.xreplace(values))))
            v = [t for t in (inner * 2**k for k in range(0, 41)) if t <= n and n % t == 0] or [n]
        out[s] = v
    return out


def searched_mapping(cascade: Cascade, arch: Architecture, mapping: MappingSpec, defaults: dict[sympy.Symbol, float],
                     keep_ranks: frozenset[str] = frozenset()) -> tuple[MappingSpec, frozenset[sympy.Symbol]]:
    """``mapping`` with every ``bind: auto`` / ``schedule: auto`` phase given the
    binding and schedule ``build_model`` would search at ``defaults``, and
    the parameters that search was judged on (a sweep searches once per
    distinct combination of them)."""
    ctx = _Context(cascade, arch, mapping, defaults, phase_groups(cascade, mapping), keep_ranks)
    return _search(ctx)


def _search(ctx: _Context) -> tuple[MappingSpec, frozenset[sympy.Symbol]]:
    mapping = replace(ctx.mapping, phases=list(ctx.mapping.phases))  # the searched binding is this model's, not the file's
    searched: set[sympy.Symbol] = set()
    for k, (ph, g) in enumerate(zip(mapping.phases, ctx.groups)):
        if ph.bind is None or ph.schedule == "auto":
            bind, schedule, judged = search_binding(_PhaseBuilder(ctx, k, ph, g))
            mapping.phases[k] = replace(ph, bind=bind, schedule=schedule)
            searched |= judged
    ctx.choices.clear()
    ctx.tile_info.clear()
    ctx.decisions.clear()
    return mapping, frozenset(searched)


def search_binding(pb: _PhaseBuilder) -> tuple[dict[str, list[str]], str, set[sympy.Symbol]]:
    """Binding and schedule of one phase by compute cycles per step at the
    default point: from the given binding (or each Einsum on the first
    array able to run it), move one Einsum at a time to another able
    array while that shortens the step, for each schedule allowed; keep the
    best. Tile sizes and reuse are left to ``choose`` on the full model.
    Also returns the parameters the step costs were judged on."""
    from ..mapping.spec import SCHEDULES

    c, arch, spec = pb.c, pb.arch, pb.spec
    compute = pb.prepare()
    fixed = pb.bind(compute) if spec.bind else {}
    able = {i: [a for a in arch.arrays if pb.unsupported(c.einsums[i], arch.arrays[a]) is None] for i in compute}
    for i in compute:
        if not able[i]:
            raise EinsumxError(f"no array of {arch.name} runs '{c.einsums[i].label}' ({c.einsums[i].text})", c.einsums[i].origin)
    steps = pb.ctx.value(pb.steps) if not pb.tile_syms else None
    judged = set(sympy.sympify(pb.steps).xreplace(pb.ctx.sizes).free_symbols) if steps is not None else set()
    cost = {}
    for i in compute:
        for a in able[i]:
            expr = pb.busy(i, a)[5]
            if pb.tile_syms:  # tiles not chosen yet: judge at the smallest candidate
                expr = expr.xreplace({s: 256 for s in pb.tile_syms.values()})
            judged |= sympy.sympify(expr).xreplace(pb.ctx.sizes).free_symbols
            cost[i, a] = sympy.Float(pb.ctx.value(expr) / (steps or 1))
    intra, carried, tails = pb.step_graph(compute)
    kinds = SCHEDULES if spec.schedule == "auto" else (spec.schedule,)
    best = None
    for kind in kinds:
        binding = {i: fixed.get(i, able[i][0]) for i in compute}

        def step(b):
            return float(build_schedule(kind, compute, b, {i: cost[i, b[i]] for i in compute}, intra, carried, tails).step_cycles)

        current = step(binding)
        improved = spec.bind is None
        while improved:
            improved = False
            for i in compute:
                for a in able[i]:
                    if a == binding[i]:
                        continue
                    trial = dict(binding)
                    trial[i] = a
                    t = step(trial)
                    if t < current * (1 - 1e-9):
                        binding, current, improved = trial, t, True
        if best is None or current < best[0] * (1 - 1e-9):
            best = (current, kind, binding)
    _, kind, binding = best
    bind: dict[str, list[str]] = {}
    for i in compute:
        bind.setdefault(binding[i], []).append(Text(c.einsums[i].label, c.einsums[i].origin))
    return bind, kind, judged
