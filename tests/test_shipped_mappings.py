"""The shipped mapping templates on the shipped architectures, at 1K and 1M tokens.

Every (workload, template, architecture) that docs/evaluation.md (section 2,
"Shipped templates") says runs is evaluated at seq = 1,024 and 1,048,576,
and checked against numbers computed here from the ranks and from the
architecture YAMLs, not from the model:

- the mapping fits: the global buffer it needs is at most the capacity;
- every array's utilization is in [0, 1];
- DRAM traffic is at least the compulsory traffic (every input read once,
  every output written once), and equal to it at 1K, where everything fits;
- latency is at least the compulsory traffic over the DRAM bandwidth, and
  at least the MACs of the matrix products over all PEs of the chip;
- energy is at least those MACs times the energy of a MAC plus the
  compulsory traffic times the energy of a DRAM access;
- the filtered products have the hand-counted number of points (causal:
  S(S+1)/2 key-query pairs; window W: W(W+1)/2 + (S-W)(W+1));
- Mamba: softplus and silu run on the 1D array at their hand-counted cycles
  per point (the log emulation of docs/evaluation.md, section 8, decision
  10), the 1D array is the bottleneck and the cycles are exactly its work.

The hardware numbers below are copied from architectures/*.yaml.

Four strict xfail tests at the end record bugs found in the model; each
says what a fix must make true.
"""

from __future__ import annotations

import functools

import pytest

from conftest import ROOT, workload_path
from einsumx import EinsumxError
from einsumx.arch import load_architecture
from einsumx.mapping.spec import load_mapping, parse_mapping
from einsumx.model import evaluate

MAPPINGS = ROOT / "architectures" / "mappings"
SEQS = (1024, 1048576)

TEMPLATES = {
    "attention-2pass": "fused-attention-2pass",
    "attention-causal-1pass": "fused-attention-causal-1pass",
    "attention-causal-3pass": "fused-attention-causal-3pass",
    "attention-local-3pass": "fused-attention-local-3pass",
    "mamba1-scan": "mamba-scan",
}
ARCHS = ("fusemax", "flat", "edge", "tpu")
CASES = [(w, t, a) for w, t in TEMPLATES.items() for a in ARCHS]


class Hw:
    """Numbers from architectures/NAME.yaml."""

    def __init__(self, pes_2d, lanes, one_d, capacity, bandwidth, clock, exp_native):
        self.pes_2d = pes_2d            # rows x cols of the 2D array
        self.lanes = lanes              # PEs of the 1D array
        self.one_d = one_d              # name of the 1D array
        self.capacity = capacity        # global buffer, bytes
        self.bandwidth = bandwidth      # DRAM, bytes per second
        self.clock = clock              # Hz
        self.exp_native = exp_native    # the 1D array has an exp unit (1 cycle), else 6 MACs + 1 add


HW = {
    "fusemax": Hw(256 * 256, 256, "PE1D", 16 * 2**20, 400 * 2**30, 940e6, False),
    "flat": Hw(256 * 256, 256, "PE1D", 32 * 2**20, 400 * 2**30, 940e6, True),
    "edge": Hw(32 * 32, 32, "PE1D", 1 * 2**20, 25.6e9, 800e6, False),
    "tpu": Hw(128 * 128, 128, "VPU", 24 * 2**20, 600e9, 940e6, True),
}
MAC_PJ = 17.1645        # every array's mac
DRAM_PJ_PER_BYTE = 249.6 / 8   # 249.6 pJ per 64-bit access, read or write

# attention workloads: BERT-Base shape, batch 64; 16-bit words
B, H, E = 64, 12, 64
WINDOW = 512            # attention-local-3pass
# mamba1-scan: one Mamba-130M layer, batch 1
D, N = 1536, 16


def pairs(workload: str, s: int) -> int:
    """Key-query pairs (m, p) the filters keep, M = P = s."""
    if workload == "attention-2pass":
        return s * s
    if workload in ("attention-causal-1pass", "attention-causal-3pass"):
        return s * (s + 1) // 2                                   # m <= p
    if workload == "attention-local-3pass":
        return WINDOW * (WINDOW + 1) // 2 + (s - WINDOW) * (WINDOW + 1)  # query p sees min(p, W) + 1 keys
    raise KeyError(workload)


PRODUCTS = {  # the two matrix products of each attention cascade (one MAC per point)
    "attention-2pass": ("BQK", "AV"),
    "attention-causal-1pass": ("BQK", "SLNV"),
    "attention-causal-3pass": ("QK", "AV"),
    "attention-local-3pass": ("QK", "AV"),
}


def macs(workload: str, s: int) -> int:
    """MACs every mapping performs: the matrix products (attention: QK and
    AV, E = F = 64 per pair; Mamba: the readout yc, N per (d, l))."""
    if workload == "mamba1-scan":
        return D * s * N
    return 2 * B * H * E * pairs(workload, s)


def compulsory_bytes(workload: str, s: int) -> int:
    """Every input read once, every output written once, 2 bytes a word."""
    if workload == "mamba1-scan":
        # delta_raw, u, z in and out: D x L; Bm, Cm: N x L; A: D x N; delta_bias, Dskip: D
        return 2 * (4 * D * s + 2 * N * s + D * N + 2 * D)
    return 2 * 4 * B * H * s * E                                   # Q, K, V in, AV out


@functools.lru_cache(maxsize=None)
def run(workload: str, template: str, arch: str, seq: int):
    return evaluate(str(workload_path(workload)), arch, str(MAPPINGS / f"{template}.yaml"), overrides=[f"seq={seq}"])


def einsum_row(ev, label: str) -> dict:
    return next(r for r in ev.results["einsums"] if r["einsum"] == label)


@pytest.fixture(params=[pytest.param((w, t, a, s), id=f"{w}-{a}-{s}") for w, t, a in CASES for s in SEQS])
def case(request):
    w, t, a, s = request.param
    return w, a, s, run(w, t, a, s)


# -- every triple, both lengths ------------------------------------------------


def test_fits_the_buffer(case):
    w, a, s, ev = case
    assert ev.feasible >= 1
    assert ev.results["buffer_required_bytes"]["GLB"] <= HW[a].capacity


def test_utilization_is_a_fraction(case):
    w, a, s, ev = case
    util = ev.results["utilization"]
    assert set(util) == {"MXU" if a == "tpu" else "PE2D", HW[a].one_d}
    for u in util.values():
        assert 0 <= u <= 1 + 1e-9
    for row in ev.results["einsums"]:
        assert row["busy_cycles"] <= ev.results["cycles"] * (1 + 1e-9)


def test_dram_traffic_is_at_least_compulsory(case):
    w, a, s, ev = case
    need = compulsory_bytes(w, s)
    assert ev.results["dram_bytes"] >= need * (1 - 1e-12)
    if s == 1024:  # everything fits: each input read once, nothing spilled
        assert ev.results["dram_bytes"] == pytest.approx(need, rel=1e-12)
        assert ev.results["spill_fraction"] == 0


def test_latency_lower_bounds(case):
    w, a, s, ev = case
    hw = HW[a]
    r = ev.results
    assert r["latency_s"] == pytest.approx(r["cycles"] / hw.clock, rel=1e-12)
    assert r["latency_s"] >= compulsory_bytes(w, s) / hw.bandwidth * (1 - 1e-9)
    assert r["cycles"] >= macs(w, s) / (hw.pes_2d + hw.lanes) * (1 - 1e-9)


def test_energy_lower_bound(case):
    w, a, s, ev = case
    floor = macs(w, s) * MAC_PJ + compulsory_bytes(w, s) * DRAM_PJ_PER_BYTE
    assert ev.results["energy_pj"] >= floor * (1 - 1e-9)


# -- attention -----------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("workload", list(PRODUCTS))
def test_filtered_products_have_the_hand_counted_points(workload, arch):
    # at 1K: dense 1,048,576 pairs, causal 524,800, window 512: 393,984
    for s in SEQS:
        ev = run(workload, TEMPLATES[workload], arch, s)
        for label in PRODUCTS[workload]:
            assert einsum_row(ev, label)["points"] == B * H * E * pairs(workload, s)
    assert pairs("attention-causal-3pass", 1024) == 524_800
    assert pairs("attention-local-3pass", 1024) == 393_984


@pytest.mark.parametrize("arch", ARCHS)
def test_causal_1pass_never_spills(arch):
    # Nothing crosses a pass boundary of a looped rank: Q, RM, RD, RNV of a
    # query block and one chunk of keys stay on chip at any length.
    for s in SEQS:
        ev = run("attention-causal-1pass", TEMPLATES["attention-causal-1pass"], arch, s)
        assert ev.results["spill_fraction"] == 0
        assert sum(t["bytes"] for p in ev.results["phases"] for t in p["dram"] if t["kind"] == "spill") == 0


# -- Mamba ----------------------------------------------------------------------


def one_d_cycles(arch: str) -> dict[str, int]:
    """Cycles per point of the Einsums only the 1D array can run.

    exp: 1 cycle with a unit, else 6 MACs + 1 add = 7; log: 6 MACs + 1 add = 7
    everywhere; mul is a MAC; add and div are 1 cycle.
    delta = delta_raw + delta_bias, then softplus = exp + add + log;
    out = y * silu(z), silu = exp + add + div + mul.
    On flat and tpu the 2D array has no exp, so dA = exp(delta * A) (a mul
    and an exp, N per (d, l)) runs on the 1D array too.
    """
    exp = 1 if HW[arch].exp_native else 7
    out = {"delta": 1 + exp + 1 + 7, "out": 1 + exp + 1 + 1 + 1}
    if HW[arch].exp_native:
        out["dA"] = 1 + exp
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_mamba_softplus_and_silu_run_on_the_1d_array(arch):
    assert one_d_cycles("fusemax") == {"delta": 16, "out": 11}
    assert one_d_cycles("flat") == {"delta": 10, "out": 5, "dA": 2}
    for s in SEQS:
        ev = run("mamba1-scan", "mamba-scan", arch, s)
        for label, cpp in one_d_cycles(arch).items():
            row = einsum_row(ev, label)
            assert row["array"] == HW[arch].one_d
            assert row["cycles_per_point"] == cpp


@pytest.mark.parametrize("arch", ARCHS)
def test_mamba_is_bound_by_its_1d_array(arch):
    # fusemax at 1K: (16 + 11) x 1536 x 1024 / 256 = 165,888 cycles;
    # flat at 1K: (10 + 16 x 2 + 5) x 1536 x 1024 / 256 = 288,768.
    # The 2D array's share (dA, dBu, h, yc, y) is smaller, steps overlap
    # (pipelined), so the 1D array's work is the latency.
    for s in SEQS:
        ev = run("mamba1-scan", "mamba-scan", arch, s)
        per_dl = sum(c * (N if label == "dA" else 1) for label, c in one_d_cycles(arch).items())
        work = per_dl * D * s / HW[arch].lanes
        assert ev.results["cycles"] == pytest.approx(work, rel=1e-12)
        assert ev.results["utilization"][HW[arch].one_d] == pytest.approx(1.0, rel=1e-12)
    assert (16 + 11) * D * 1024 / 256 == 165_888
    assert run("mamba1-scan", "mamba-scan", "fusemax", 1024).results["cycles"] == 165_888
    assert (10 + 2 * N + 5) * D * 1024 / 256 == 288_768


@pytest.mark.parametrize("arch", ARCHS)
def test_mamba_reads_each_input_once_except_bm_cm_per_block(arch):
    # The state h (dblock x N) stays on chip while L streams: every (d, l)
    # input is read once. Bm and Cm (N x L each) are kept across the D
    # blocks, or read again for every block of dblock channels.
    for s in SEQS:
        ev = run("mamba1-scan", "mamba-scan", arch, s)
        ch = ev.results["choices"]
        dblock = ch["phase 1.dblock"]
        extra = 0
        for t in ("Bm", "Cm"):
            if "kept" not in ch[f"phase 1.reuse.{t}"]:
                extra += (D // dblock - 1) * N * s * 2
        assert ev.results["dram_bytes"] == compulsory_bytes("mamba1-scan", s) + extra
        held = ev.results["phases"][0]["buffer_bytes"]
        state = next(v for k, v in held.items() if "h" in k.split("="))
        assert state == dblock * N * 2
    # at 1M, N x L x 2 B = 32 MiB each: they cannot stay on edge's 1 MiB
    ch = run("mamba1-scan", "mamba-scan", "edge", 1048576).results["choices"]
    assert "kept" not in ch["phase 1.reuse.Bm"]


# -- the templates and the log emulation -------------------------------------------


@pytest.mark.parametrize("workload", list(TEMPLATES))
def test_templates_name_their_workload_and_no_architecture(workload):
    spec = load_mapping(MAPPINGS / f"{TEMPLATES[workload]}.yaml")
    assert spec.workload == workload
    assert spec.architecture is None
    assert len(spec.phases) == 1
    assert spec.phases[0].bind is None  # bind: auto
    assert {"PE2D", "PE1D", "MXU", "VPU"} <= set(spec.phases[0].spatial)


def test_a_template_is_refused_for_another_workload():
    with pytest.raises(EinsumxError, match="written for workload 'attention-causal-3pass', not 'attention-2pass'"):
        evaluate(str(workload_path("attention-2pass")), "fusemax", str(MAPPINGS / "fused-attention-causal-3pass.yaml"))


# 1D array: (name, PEs, native unit areas um^2 without log, RF words)
ONE_D_AREA = {
    "fusemax": ("PE1D", 256, 1030 + 1545 + 3090, 32),             # add, mac, div
    "flat": ("PE1D", 256, 49.3 + 1030 + 1545 + 10300 + 3090, 16),  # max, add, mac, exp, div
    "edge": ("PE1D", 32, 1030 + 1545 + 3090, 32),
    "tpu": ("VPU", 128, 49.3 + 1030 + 1545 + 10300 + 3090, 32),
}


@pytest.mark.parametrize("arch", ARCHS)
def test_log_is_emulated_on_the_1d_array_at_no_area(arch):
    a = load_architecture(arch)
    name, pes, units, rf_words = ONE_D_AREA[arch]
    one_d = a.arrays[name]
    assert one_d.actions("log") == {"mac": 6, "add": 1}
    assert a.value(one_d.cycles("log")) == 7
    assert a.value(one_d.energy_pj("log")) == pytest.approx(6 * 17.1645 + 8.3395, rel=1e-12)
    two_d = a.arrays["MXU" if arch == "tpu" else "PE2D"]
    assert not two_d.supports("log")
    # fusemax: 256 x (5,665 + 32 x 266) um^2 = 3.629312 mm^2, as before log
    assert a.value(a.area_mm2()[name]) == pytest.approx(pes * (units + rf_words * 266) / 1e6, rel=1e-12)


# -- bugs found in the model (strict xfail: a fix turns them into failures) --------


@pytest.mark.xfail(strict=True, reason="the mapping's 'architecture:' field is documented as checked "
                                       "(einsumx/mapping/spec.py) but evaluate checks only 'workload:'")
def test_mapping_architecture_field_is_checked():
    # cascade-on-flat.yaml says 'architecture: flat'; on fusemax it runs silently.
    with pytest.raises(EinsumxError, match="architecture"):
        evaluate(str(workload_path("attention-1pass")), "fusemax", str(MAPPINGS / "cascade-on-flat.yaml"))


@pytest.mark.xfail(strict=True, reason="buffer tiles ignore a band: a block of `rows` queries of windowed "
                                       "attention is charged rows x M scores, not rows x (window + 1)")
def test_windowed_score_tile_is_narrowed_by_the_window():
    # The analysis narrows the live M fiber of QK and SN to window + 1 = 513
    # elements (docs/model.md, section 6.2); the evaluation holds whole rows:
    # at 1M on flat, rows = 65,536 queries x 1,048,576 keys x 2 B = 128 GiB
    # instead of 65,536 x 513 x 2 B = 64.1 MiB, and spills all the scores.
    ev = run("attention-local-3pass", TEMPLATES["attention-local-3pass"], "flat", 1048576)
    rows = ev.results["choices"]["phase 1.rows"]
    held = sum(v for k, v in ev.results["phases"][0]["buffer_bytes"].items()
               if {"QK", "SN"} & set(k.split("=")))
    assert held <= rows * (WINDOW + 1) * 2


LOOP_OVER_M = """
name: mloop
workload: attention-3pass
bind:
  PE2D: [QK, AV]
  PE1D: [GM, SN, SD, A]
spatial:
  PE2D: {rows: [m], cols: [p]}
  PE1D: {lanes: [p]}
loops: [b, h, {p: rows}, {m: 256}]
tiles: {rows: auto}
schedule: pipelined
"""


@pytest.mark.xfail(strict=True, reason="a loop over a rank the cascade traverses in several passes (M of "
                                       "the 3-pass cascade) holds one tile of the pass-crossing scores and "
                                       "spills nothing: the 3-pass cascade is charged like the 1-pass one")
def test_a_loop_over_a_multi_pass_rank_is_charged_its_passes():
    # GM[p] needs every m before SN can start, so a block of `rows` queries
    # must keep rows x M scores of QK across the pass boundary (2 MiB per
    # query at 1M) or spill them. Today the model holds rows x 256 (the m
    # tile), spills nothing and moves 6.19 TiB, FuseMax's 1-pass traffic.
    # A fix may reject the mapping instead.
    mapping = parse_mapping(LOOP_OVER_M, "<loop over m>")
    try:
        ev = evaluate(str(workload_path("attention-3pass")), "flat", mapping, overrides=["seq=1048576"])
    except EinsumxError:
        return
    rows = ev.results["choices"]["phase 1.rows"]
    held = sum(v for k, v in ev.results["phases"][0]["buffer_bytes"].items() if "QK" in k.split("="))
    assert held >= rows * 1048576 * 2 or ev.results["spill_fraction"] > 0


SCAN_LOOPS = """
name: scan
workload: mamba1-scan
bind: auto
spatial:
  PE2D: {rows: [d], cols: [n]}
  PE1D: {lanes: [d]}
loops: LOOPS
tiles: {dblock: 256}
schedule: auto
"""


@pytest.mark.xfail(strict=True, reason="a recurrence written h[l] = f(h[l-1]) is not a running tensor "
                                       "(only h[l+1] = f(h[l]) is): its state shares dA's space in place "
                                       "and, with L outside the D blocks, is held for one block only")
@pytest.mark.parametrize("loops", ["[b, {d: dblock}, l]", "[b, l, {d: dblock}]"])
def test_the_notation_of_a_recurrence_does_not_change_the_buffer(loops):
    # The same scan with the recurrence written one step ahead. At 1K on
    # fusemax, 256-channel blocks: with D outside, h (256 x 16 x 2 B =
    # 8,192 B) must not share dA's space (dA of token l+1 is made while h
    # of token l is still to be read): 147,968 B, not 139,776. With L
    # outside, every block's state stays across tokens: h is 1,536 x 16 x
    # 2 B = 49,152 B, and the buffer 123,456 B, not 74,304.
    import einsumx

    text = (ROOT / "workloads" / "mamba1-scan.yaml").read_text()
    steps = [("h[d,-1,n]   = 0", "h[d,0,n]    = 0"),
             ("h[d,l,n]    = dA[d,l,n] * h[d,l-1,n] + dBu[d,l,n]", "h[d,l+1,n]  = dA[d,l,n] * h[d,l,n] + dBu[d,l,n]"),
             ("yc[d,l]     = h[d,l,n] * Cm[n,l]", "yc[d,l]     = h[d,l+1,n] * Cm[n,l]")]
    for old, new in steps:
        assert old in text
        text = text.replace(old, new)
    ahead = einsumx.parse_workload(text, "mamba1-scan-ahead.yaml")
    mapping = parse_mapping(SCAN_LOOPS.replace("LOOPS", loops), "<scan>")
    need = {}
    for name, w in (("shipped", str(workload_path("mamba1-scan"))), ("ahead", ahead)):
        ev = evaluate(w, "fusemax", mapping, overrides=["seq=1024"])
        need[name] = ev.results["buffer_required_bytes"]["GLB"]
    assert need["ahead"] == {"[b, {d: dblock}, l]": 147_968, "[b, l, {d: dblock}]": 123_456}[loops]
    assert need["shipped"] == need["ahead"]
