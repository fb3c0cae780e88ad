"""Architecture templates, mapping files and stage schedules.

Parsing (units, symbols, emulated operators, area), every error a user can
make in an architecture or a mapping (message and position), and the stage
schedule rules on small step graphs whose cycles are derived by hand.
"""

from __future__ import annotations

import textwrap

import pytest
import sympy

from conftest import ROOT, workload_path
from einsumx import EinsumxError
from einsumx.arch import load_architecture, parse_architecture
from einsumx.cli import main
from einsumx.mapping.schedule import build_schedule
from einsumx.mapping.spec import parse_mapping
from einsumx.model import evaluate

MAPPINGS = ROOT / "architectures" / "mappings"
ONE_PASS = str(workload_path("attention-1pass"))
THREE_PASS = str(workload_path("attention-3pass"))

# A small template with every kind of number: units on the three keys that
# take them, a native and an emulated operator, register file and areas.
ARCH = textwrap.dedent("""\
    name: small
    description: a 4x4 array for the parsing tests
    technology: 45nm
    clock_hz: 940 MHz
    word_bits: 16
    dram:
      bandwidth_bytes_per_s: 400 GiB/s
      access_bits: 64
      read_pj: 16
      write_pj: 16
    global_buffer:
      capacity_bytes: 16 MiB
      row_bits: 64
      banks: 2
      read_pj: 8
      write_pj: 8
      area_mm2_per_mib: 0.5
    arrays:
      PE2D:
        axes: {rows: 4, cols: 4}
        idle_pj_per_pe_cycle: 0.25
        register_file: {words: 8, read_pj: 0.1, write_pj: 0.2, area_um2_per_word: 50}
        operators:
          mac: {cycles: 1, energy_pj: 2, area_um2: 1000}
          add: {cycles: 1, energy_pj: 1, area_um2: 500}
          exp: {via: {mac: 6, add: 1}, absorbs_add: true}
      PE1D:
        axes: {lanes: 4}
        operators:
          max: {cycles: 2, energy_pj: 0.5}
    """)


def line_of(text: str, snippet: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``snippet``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if snippet in line)


def shipped(name: str) -> str:
    return (MAPPINGS / f"{name}.yaml").read_text()


# -- architecture templates ------------------------------------------------


def test_units_are_converted_and_every_number_is_a_symbol():
    arch = parse_architecture(ARCH, "small.yaml")
    assert arch.name == "small"
    assert arch.value(arch.clock_hz) == 940e6                           # 940 MHz
    assert arch.value(arch.dram.bandwidth_bytes_per_s) == 400 * 2**30   # 400 GiB/s
    assert arch.value(arch.buffer.capacity_bytes) == 16 * 2**20         # 16 MiB
    assert arch.value(arch.word_bits) == 16
    # a number is a symbol named by its path, so --set and sweeps can vary it
    assert arch.symbol("GLB.capacity_bytes") is arch.buffer.capacity_bytes
    assert arch.symbol("PE2D.mac.energy_pj") is arch.arrays["PE2D"].operators["mac"].energy_pj
    assert arch.values[arch.symbol("PE2D.rows")] == 4
    # axes keep their order (row-major); PEs are their product
    assert list(arch.arrays["PE2D"].axes) == ["rows", "cols"]
    assert arch.value(arch.arrays["PE2D"].pes) == 16                    # 4 x 4
    assert arch.value(arch.arrays["PE1D"].pes) == 4
    # omitted optional numbers are 0, not symbols
    assert arch.arrays["PE1D"].rf_words == 0
    assert arch.arrays["PE1D"].idle_pj_per_pe_cycle == 0


def test_emulated_operator_costs_the_operators_it_uses():
    arch = parse_architecture(ARCH, "small.yaml")
    pe = arch.arrays["PE2D"]
    # exp = 6 mac + 1 add: 6*1 + 1*1 = 7 cycles, 6*2 + 1*1 = 13 pJ
    assert arch.value(pe.cycles("exp")) == 7
    assert arch.value(pe.energy_pj("exp")) == 13
    assert pe.actions("exp") == {"mac": 6, "add": 1}
    assert pe.actions("mac") == {"mac": 1}
    assert pe.operators["exp"].absorbs_add is True
    assert pe.operators["mac"].absorbs_add is False
    assert pe.supports("exp") and not pe.supports("div")


def test_area_is_units_plus_register_file_plus_buffer():
    arch = parse_architecture(ARCH, "small.yaml")
    area = {k: arch.value(v) for k, v in arch.area_mm2().items()}
    # PE2D: 16 PEs x (1000 + 500 um^2 of native units (exp has none) + 8 words x 50 um^2)
    #     = 16 x 1900 um^2 = 30,400 um^2 = 0.0304 mm^2
    assert area["PE2D"] == pytest.approx(0.0304, rel=1e-12)
    # PE1D: 4 PEs x 0 um^2 (no area given, no register file)
    assert area["PE1D"] == 0
    # GLB: 16 MiB x 0.5 mm^2/MiB = 8 mm^2
    assert area["GLB"] == pytest.approx(8.0, rel=1e-12)


@pytest.mark.parametrize("name", ["fusemax", "flat", "edge", "tpu"])
def test_shipped_architectures_load_by_name_and_by_path(name):
    by_name = load_architecture(name)
    by_path = load_architecture(ROOT / "architectures" / f"{name}.yaml")
    assert by_name.name == by_path.name
    assert {s.name: v for s, v in by_name.values.items()} == {s.name: v for s, v in by_path.values.items()}
    assert by_name.arrays


def test_fusemax_and_flat_templates_match_the_paper_configuration():
    fm, flat = load_architecture("fusemax"), load_architecture("flat")
    for arch in (fm, flat):
        assert arch.value(arch.clock_hz) == 940e6
        assert arch.value(arch.dram.bandwidth_bytes_per_s) == 400 * 2**30
        assert arch.value(arch.arrays["PE2D"].pes) == 256 * 256
        assert arch.value(arch.arrays["PE1D"].pes) == 256
    assert fm.value(fm.buffer.capacity_bytes) == 16 * 2**20
    assert flat.value(flat.buffer.capacity_bytes) == 32 * 2**20
    # FuseMax's 2D PEs have no exponential unit: 6 MACs + 1 add = 7 cycles
    assert fm.value(fm.arrays["PE2D"].cycles("exp")) == 7
    # FLAT's 1D array has a pipelined exp unit; its 2D array has none at all
    assert flat.value(flat.arrays["PE1D"].cycles("exp")) == 1
    assert not flat.arrays["PE2D"].supports("exp")


# Each case: (edit of ARCH, expected message, snippet on the line the error points at).
ARCH_ERRORS = [
    pytest.param(("word_bits: 16", "word_bits: 16\nfrequency: 3"),
                 "unknown key 'frequency' in architecture (expected one of: name, description, technology, "
                 "clock_hz, word_bits, dram, global_buffer, arrays)",
                 "frequency:", id="unknown-top-key"),
    pytest.param(("  access_bits: 64", "  access_bits: 64\n  latency_ns: 50"),
                 "unknown key 'latency_ns' in dram (expected one of: bandwidth_bytes_per_s, access_bits, read_pj, write_pj)",
                 "latency_ns", id="unknown-dram-key"),
    pytest.param(("capacity_bytes: 16 MiB", "capacity_bytes: 16 MB/s"),
                 "unit 'MB/s' does not fit GLB.capacity_bytes (one of: B, KiB, MiB, GiB, kB, MB, GB)",
                 "capacity_bytes", id="bandwidth-unit-on-a-capacity"),
    pytest.param(("  read_pj: 16", "  read_pj: 16 pJ"),
                 "unit 'pJ' does not fit DRAM.read_pj (this key takes a plain number)",
                 "16 pJ", id="unit-on-a-plain-number"),
    pytest.param(("clock_hz: 940 MHz", "clock_hz: fast"),
                 "clock_hz must be a number with a unit, got 'fast'",
                 "clock_hz", id="not-a-number"),
    pytest.param(("  write_pj: 16", "  write_pj: -16"),
                 "DRAM.write_pj must be positive, got '-16'",
                 "-16", id="negative-number"),
    pytest.param(("mac: {cycles: 1,", "mac: {cycles: 0,"),
                 "PE2D.mac.cycles must be positive, got '0'",
                 "mac: {cycles: 0", id="zero-cycles"),
    pytest.param(("word_bits: 16", "word_bits: 16.5"),
                 "word_bits must be a whole number, got '16.5'",
                 "word_bits", id="fractional-word-bits"),
    pytest.param(("      mac: {cycles: 1,", "      fma: {cycles: 1,"),
                 "unknown operator 'fma' in array 'PE2D' (cost classes: mac, mul, add, div, max, exp, log, sqrt)",
                 "fma:", id="unknown-operator"),
    pytest.param(("exp: {via: {mac: 6, add: 1}", "exp: {via: {mac: 6, div: 1}"),
                 "'exp' of 'PE2D' is emulated by 'div', which the array has no unit for",
                 "div: 1", id="via-an-operator-the-array-lacks"),
    pytest.param(("exp: {via: {mac: 6, add: 1}", "exp: {via: {mac: 6, add: 0}"),
                 "'exp' via 'add' needs a positive whole count, got '0'",
                 "add: 0", id="via-count-zero"),
    pytest.param(("exp: {via: {mac: 6, add: 1}, absorbs_add: true}", "exp: {via: {mac: 6}, cycles: 2}"),
                 "operator 'exp' of 'PE2D' is emulated (via); its 'cycles' comes from the operators it uses",
                 "cycles: 2", id="via-with-own-cycles"),
    pytest.param(("      add: {cycles: 1, energy_pj: 1, area_um2: 500}", "      add: {cycles: 1}"),
                 "operator 'add' of 'PE2D' needs 'energy_pj:' (or 'via:')",
                 "add: {cycles: 1}", id="operator-without-energy"),
    pytest.param(("axes: {rows: 4, cols: 4}", "axes: {rows: 4, cols: 4, depth: 2}"),
                 "array 'PE2D' must have one or two axes, got 3",
                 "depth: 2", id="three-axes"),
    pytest.param(("  PE1D:", "  GLB:"),
                 "invalid array name 'GLB': use an identifier other than GLB and DRAM",
                 "  GLB:", id="array-named-GLB"),
    pytest.param(("clock_hz: 940 MHz\n", ""),
                 "missing 'clock_hz:' (clock frequency)",
                 "name: small", id="missing-clock"),
]


@pytest.mark.parametrize("edit, message, at", ARCH_ERRORS)
def test_architecture_errors(edit, message, at):
    old, new = edit
    assert old in ARCH
    text = ARCH.replace(old, new, 1)
    with pytest.raises(EinsumxError) as info:
        parse_architecture(text, "bad.yaml")
    assert info.value.message == message
    assert info.value.origin.file == "bad.yaml"
    assert info.value.origin.line == line_of(text, at)


def test_unknown_architecture_name_lists_the_shipped_ones():
    with pytest.raises(EinsumxError) as info:
        load_architecture("nosuch")
    assert info.value.message == "unknown architecture 'nosuch' (shipped: edge, flat, fusemax, tpu)"


def test_unknown_hardware_number_in_set():
    arch = parse_architecture(ARCH, "small.yaml")
    with pytest.raises(EinsumxError) as info:
        arch.symbol("GLB.size")
    assert info.value.message.startswith("architecture 'small' has no number 'GLB.size' (known: clock_hz, word_bits, ")
    assert "GLB.capacity_bytes" in info.value.message


# -- mapping files ---------------------------------------------------------


MAPPING = textwrap.dedent("""\
    name: demo
    description: >
      two loops, three tiles
    workload: attention-1pass
    architecture: fusemax
    set: {chunk: 256}
    bind:
      PE2D: [BQK, LM]
      PE1D: [RM]
    spatial:
      PE2D: {rows: [m0], cols: [p]}
    loops: [b, {p: rows}, {m1: 2}, {p: width}]
    tiles: {rows: auto, cols: [64, 128], depth: 8}
    schedule: pipelined
    overlap: false
    """)


def test_mapping_without_phases_is_one_phase_whose_keys_sit_at_the_top():
    m = parse_mapping(MAPPING, "demo.yaml")
    assert (m.name, m.description, m.workload, m.architecture) == ("demo", "two loops, three tiles", "attention-1pass", "fusemax")
    assert {k: str(t) for k, (t, _) in m.set.items()} == {"chunk": "256"}
    assert len(m.phases) == 1
    ph = m.phases[0]
    assert ph.name == "phase 1"
    assert ph.einsums is None  # all of them
    assert ph.bind == {"PE2D": ["BQK", "LM"], "PE1D": ["RM"]}
    assert ph.spatial == {"PE2D": {"rows": ["m0"], "cols": ["p"]}}
    assert [(str(lp.var), lp.tile) for lp in ph.loops] == [("b", 1), ("p", "rows"), ("m1", 2), ("p", "width")]
    # auto -> None (the mapper picks powers of two); a number -> [n]; a list as given;
    # a tile named in a loop but not in tiles is automatic too
    assert ph.tiles == {"rows": None, "cols": [64, 128], "depth": [8], "width": None}
    assert (ph.schedule, ph.overlap) == ("pipelined", False)


def test_mapping_defaults_and_phase_list():
    m = parse_mapping("phases:\n  - name: a\n    einsums: [QK]\n  - einsums: all\n", "two.yaml")
    assert m.name == "two"  # the file's stem
    assert [p.name for p in m.phases] == ["a", "phase 2"]
    assert m.phases[0].einsums == ["QK"] and m.phases[1].einsums is None
    assert all(p.schedule == "staged" and p.overlap is True and p.loops == [] for p in m.phases)


# (mapping text, expected message or its start, snippet on the line the error points at)
MAPPING_PARSE_ERRORS = [
    pytest.param("name: x\nschedule: eager\n", "unknown schedule 'eager' (one of: sequential, staged, pipelined",
                 "eager", id="unknown-schedule"),
    pytest.param("name: x\nbnd: {PE2D: [QK]}\n", "unknown key 'bnd' in mapping (expected one of: ",
                 "bnd", id="unknown-key"),
    pytest.param("name: x\noverlap: maybe\n", "overlap must be true or false", "overlap", id="overlap-not-bool"),
    pytest.param("name: x\nloops: [{m: 0}]\n", "loop over m: the tile must be positive, got 0", "loops", id="tile-zero"),
    pytest.param("name: x\nloops: [{m: 2, n: 2}]\n", "a loop is an index variable ('m1') or {variable: tile} ('{p: rows}')",
                 "loops", id="loop-with-two-keys"),
    pytest.param("name: x\ntiles: {rows: -2}\n", "tile 'rows' must be a positive whole number, a list of them, or auto",
                 "tiles", id="negative-tile"),
    pytest.param("phases: []\n", "'phases:' is empty", "phases", id="no-phases"),
]


@pytest.mark.parametrize("text, message, at", MAPPING_PARSE_ERRORS)
def test_mapping_parse_errors(text, message, at):
    with pytest.raises(EinsumxError) as info:
        parse_mapping(text, "bad.yaml")
    assert info.value.message.startswith(message)
    assert info.value.origin.line == line_of(text, at)


# Errors found when a mapping meets its workload and architecture:
# (workload, architecture, shipped mapping, edit, expected message, snippet of the line it points at)
MAPPING_MODEL_ERRORS = [
    pytest.param(ONE_PASS, "fusemax", "fusemax-attention", ("  PE1D: [RM,", "  PE3D: [RM,"),
                 "bind: unknown array 'PE3D' (arrays of fusemax: PE2D, PE1D)",
                 "PE3D", id="bind-to-unknown-array"),
    pytest.param(ONE_PASS, "fusemax", "fusemax-attention", ("[BQK, LM,", "[BQK, LMX, LM,"),
                 "bind: 'LMX' is not an Einsum of phase 'phase 1' "
                 "(it has: BQK, LM, RM, SLN, PRM, SLD, SLNV, SPD, SPNV, RD, RNV, AV)",
                 "LMX", id="bind-unknown-einsum"),
    pytest.param(ONE_PASS, "fusemax", "fusemax-attention", ("PE1D: {lanes: [p]}", "PE1D: {cols: [p]}"),
                 "spatial: array 'PE1D' has no axis 'cols' (axes: lanes)",
                 "PE1D: {cols", id="spatial-axis-the-array-lacks"),
    pytest.param(ONE_PASS, "fusemax", "fusemax-attention", ("loops: [b, h,", "loops: [b, hh,"),
                 "loop over unknown index 'hh' (indices: b, h, m, m1, m0, p, e, f)",
                 "hh", id="loop-over-unknown-index"),
    pytest.param(ONE_PASS, "fusemax", "fusemax-attention", ("set: {chunk: 256}", "set: {chunks: 256}"),
                 "set: workload attention-1pass has no parameter 'chunks'",
                 "set: {chunks", id="set-unknown-parameter"),
    pytest.param(THREE_PASS, "fusemax", "fusemax-attention", ("", ""),
                 "mapping 'fusemax' is written for workload 'attention-1pass', not 'attention-3pass'",
                 "name: fusemax", id="mapping-for-another-workload"),
    # FLAT's 2D array has MACs and adders only: SLN = exp(BQK - RM) cannot run there
    pytest.param(ONE_PASS, "flat", "cascade-on-flat",
                 ("PE2D: [BQK, SLNV]\n  PE1D: [LM, RM, SLN,", "PE2D: [BQK, SLN, SLNV]\n  PE1D: [LM, RM,"),
                 "array 'PE2D' of flat cannot run 'exp', which 'SLN' needs (SLN[m1,m0,p]  = exp(BQK[m1,m0,p] - RM[m1+1,p]))",
                 "PE2D: [BQK, SLN", id="array-cannot-run-exp"),
]


@pytest.mark.parametrize("workload, arch, mapping, edit, message, at", MAPPING_MODEL_ERRORS)
def test_mapping_errors_against_workload_and_architecture(workload, arch, mapping, edit, message, at):
    old, new = edit
    text = shipped(mapping)
    assert old in text
    text = text.replace(old, new, 1)
    with pytest.raises(EinsumxError) as info:
        evaluate(workload, arch, parse_mapping(text, "bad.yaml"))
    assert info.value.message == message
    assert info.value.origin.file == "bad.yaml"
    assert info.value.origin.line == line_of(text, at)


def test_unbound_einsum_no_array_can_run():
    # attention-3pass on a template whose only array has MACs: GM needs max
    arch = parse_architecture(textwrap.dedent("""\
        clock_hz: 1 GHz
        dram: {bandwidth_bytes_per_s: 1 GB/s, access_bits: 64, read_pj: 1, write_pj: 1}
        global_buffer: {capacity_bytes: 1 GiB, row_bits: 64, banks: 1, read_pj: 1, write_pj: 1}
        arrays:
          A: {axes: {lanes: 4}, operators: {mac: {cycles: 1, energy_pj: 1}}}
        """), "macs.yaml")
    with pytest.raises(EinsumxError) as info:
        evaluate(THREE_PASS, arch, None)
    assert info.value.message == "no array of macs runs 'GM' (GM[p]   = max(m: QK[m,p]))"


def test_fixed_tile_that_does_not_fit_the_buffer():
    # rows = seq = 2^20 queries in one block: the buffer holds the block's
    # running values RNV and the output AV (F x rows words each: 64 x 2^20 x 2 B
    # = 128 MiB apiece), RM and RD (rows words: 2 MiB apiece), plus a step's
    # SLNV/SPNV (64 x 256 x 2 B = 32 KiB apiece) and LM/SLD (256 x 2 B apiece):
    # 260 MiB + 65 KiB = 260.06 MiB, printed with one decimal, > 16 MiB.
    text = shipped("fusemax-attention").replace("tiles: {rows: auto}", "tiles: {rows: 1048576}")
    with pytest.raises(EinsumxError) as info:
        evaluate(ONE_PASS, "fusemax", parse_mapping(text, "big.yaml"), overrides=["seq=1048576"])
    msg = info.value.message
    assert msg.startswith("mapping 'fusemax' does not fit fusemax: phase 'phase 1': RNV+AV+RM+RD+")
    assert msg.endswith(" tiles need 260.1 MiB > 16.0 MiB global buffer")


# -- stage schedules ---------------------------------------------------------


def _chain(kind, tails=frozenset({2}), carried=frozenset()):
    # X -> Y -> Z on three arrays A, B, C; per-step cycles 3, 5, 2
    return build_schedule(kind, [0, 1, 2], {0: "A", 1: "B", 2: "C"},
                          {0: sympy.Integer(3), 1: sympy.Integer(5), 2: sympy.Integer(2)},
                          {(0, 1), (1, 2)}, set(carried), set(tails))


def label(i):
    return "XYZ"[i]


def test_sequential_schedule_adds_everything():
    s = _chain("sequential")
    assert s.step_cycles == 3 + 5 + 2
    assert s.describe(label) == "sequential: X + Y + Z"


def test_staged_schedule_retimes_the_tail_and_puts_barriers_where_data_crosses_arrays():
    # Z is a tail (nothing in the step reads it): it moves to the front of the
    # next step, beside X (on another array: they overlap); Y reads X from
    # another array, so a barrier separates them: max(3, 2) + 5 = 8
    s = _chain("staged")
    assert s.step_cycles == 8
    assert s.describe(label) == "[Z | X] [Y]"
    assert s.depth == 2  # two steps in flight
    # without a tail every level crossing arrays is a barrier: 3 + 5 + 2
    s = _chain("staged", tails=frozenset())
    assert s.step_cycles == 10
    assert s.describe(label) == "[X] [Y] [Z]"


def test_pipelined_schedule_costs_the_busiest_array_or_a_recurrence():
    s = _chain("pipelined")
    assert s.step_cycles == 5  # max(3, 5, 2)
    assert s.describe(label) == "pipelined: max(A: X; B: Y; C: Z)"
    # Z's result is read by the next step's X: the chain X -> Y -> Z
    # (3 + 5 + 2 = 10 cycles) must finish before the next X starts
    s = _chain("pipelined", carried=frozenset({(2, 0)}))
    assert s.step_cycles == 10
    assert s.recurrences == [([0, 1, 2], 10)]


# -- the command line ------------------------------------------------------


def test_cli_unknown_architecture_is_one_line_exit_2(capsys):
    code = main(["evaluate", ONE_PASS, "nosuch"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    # a name on the command line has no source line to show, so no caret
    assert err == "nosuch: unknown architecture 'nosuch' (shipped: edge, flat, fusemax, tpu)\n"


def test_cli_bad_architecture_file_prints_the_line_and_a_caret(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    text = ARCH.replace("capacity_bytes: 16 MiB", "capacity_bytes: 16 MB/s")
    bad.write_text(text)
    code = main(["evaluate", ONE_PASS, str(bad)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    n = line_of(text, "capacity_bytes")
    col = text.splitlines()[n - 1].index("16 MB/s") + 1
    assert lines == [
        f"{bad}:{n}:{col}: unit 'MB/s' does not fit GLB.capacity_bytes (one of: B, KiB, MiB, GiB, kB, MB, GB)",
        "      capacity_bytes: 16 MB/s",
        " " * (4 + col - 1) + "^",
    ]


def test_cli_bad_mapping_file_points_at_the_unknown_index(capsys, tmp_path):
    bad = tmp_path / "map.yaml"
    text = shipped("fusemax-attention").replace("loops: [b, h,", "loops: [b, hh,")
    bad.write_text(text)
    code = main(["evaluate", ONE_PASS, "fusemax", "--mapping", str(bad)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.splitlines()
    n = line_of(text, "hh")
    assert lines[0] == f"{bad}:{n}:12: loop over unknown index 'hh' (indices: b, h, m, m1, m0, p, e, f)"
    assert lines[1] == "    loops: [b, hh, {p: rows}, m1, {p: 256}]"
    assert lines[2] == "    " + " " * 11 + "^"  # under the h of hh (column 12)
