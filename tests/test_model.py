"""The evaluation model: cycles, traffic, energy, utilization and the mapper.

Every expected number is derived in a comment: first on a 4x4 array small
enough to count by hand, then FuseMax's worked check from the paper (BERT,
1K tokens, batch 64), FLAT, the vectorized model, and the FuseMax study.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import textwrap

import numpy as np
import pytest

import einsumx
from conftest import ROOT, workload_path
from einsumx import EinsumxError
from einsumx.arch import load_architecture, parse_architecture
from einsumx.cli import main
from einsumx.ir.build import load_workload
from einsumx.ir.values import param_symbol, parse_overrides
from einsumx.mapping.spec import load_mapping, parse_mapping
from einsumx.model import build_model, choose, compile_model, default_values, evaluate

MAPPINGS = ROOT / "architectures" / "mappings"
ONE_PASS = str(workload_path("attention-1pass"))
THREE_PASS = str(workload_path("attention-3pass"))
FUSEMAX_MAPPING = str(MAPPINGS / "fusemax-attention.yaml")

# BERT at 1K tokens, the workloads' defaults
B, H, M, P, E, F = 64, 12, 1024, 1024, 64, 64
CLOCK = 940e6
BYTES_PER_CYCLE = 400 * 2**30 / CLOCK  # 400 GiB/s at 940 MHz

# -- a 4x4 array to count by hand ------------------------------------------
#
# 1 Hz, so latency_s == cycles; DRAM moves 32 B per cycle in 64-bit (8 B)
# accesses of 16 pJ; a GLB row is 64 bits = 4 words of 16 bits, 8 pJ per row
# read or written; a MAC is 1 cycle and 2 pJ, an add 1 cycle and 1 pJ, an
# exp 6 MACs + 1 add (7 cycles, 13 pJ).
TINY = textwrap.dedent("""\
    name: tiny
    clock_hz: 1 Hz
    word_bits: 16
    dram: {bandwidth_bytes_per_s: 32 B/s, access_bits: 64, read_pj: 16, write_pj: 16}
    global_buffer: {capacity_bytes: 1 KiB, row_bits: 64, banks: 1, read_pj: 8, write_pj: 8}
    arrays:
      PE2D:
        axes: {rows: 4, cols: 4}
        idle_pj_per_pe_cycle: 0
        register_file: {words: 8, read_pj: 0.1, write_pj: 0.2}
        operators:
          mac: {cycles: 1, energy_pj: 2}
          add: {cycles: 1, energy_pj: 1}
          exp: {via: {mac: 6, add: 1}, absorbs_add: true}
    """)

MATMUL = textwrap.dedent("""\
    name: matmul
    params: {msize: 8, nsize: 8, ksize: 4}
    ranks: {M: msize, N: nsize, K: ksize}
    tensors: {A: [K, M], B: [K, N]}
    einsums: |
      Z[m,n] = A[k,m] * B[k,n]
    outputs: [Z]
    """)

MATMUL_MAPPING = textwrap.dedent("""\
    name: mm
    bind: {PE2D: [Z]}
    spatial: {PE2D: {rows: [m], cols: [n]}}
    loops: []
    """)


def tiny(overrides=(), mapping=MATMUL_MAPPING, workload=MATMUL, arch=TINY):
    """Evaluate a workload text on an architecture text under a mapping text."""
    return evaluate(einsumx.parse_workload(workload, "w.yaml"), parse_architecture(arch, "tiny.yaml"),
                    parse_mapping(mapping, "m.yaml"), overrides=list(overrides))


def einsum(results, label):
    (row,) = [e for e in results["einsums"] if e["einsum"] == label]
    return row


def accesses(row):
    return {(a["tensor"], a["level"], a["kind"]): a["words"] for a in row["accesses"]}


def test_tiny_matmul_fills_the_array():
    r = tiny().results
    z = einsum(r, "Z")
    assert z["spatial"] == {"rows": "m", "cols": "n"}
    assert z["points"] == 256            # M*N*K = 8*8*4
    assert z["cycles_per_point"] == 1    # one MAC
    assert z["engaged_pes"] == 16        # rows: 8/ceil(8/4) = 4, cols: 8/ceil(8/4) = 4
    assert z["busy_cycles"] == 16        # 256 points / 16 PEs
    # DRAM: A (4*8) + B (4*8) read once, Z (8*8) written once: 128 words x 2 B
    assert r["dram_bytes"] == 256
    assert [(d["tensor"], d["kind"], d["bytes"]) for d in r["phases"][0]["dram"]] == [
        ("A", "read", 64), ("B", "read", 64), ("Z", "write", 128)]
    assert r["memory_cycles"] == 8       # 256 B / 32 B per cycle
    assert r["compute_cycles"] == 16
    assert r["cycles"] == 16             # max(16, 8): transfers overlap compute
    assert r["latency_s"] == 16          # 16 cycles at 1 Hz
    assert r["utilization"] == {"PE2D": 1.0}
    # GLB reads: A is not indexed by n (cols), so one read feeds min(8, 4) = 4
    # columns: 256/4 = 64; B likewise over the rows: 64; Z written once per element
    assert accesses(z) == {("A", "GLB", "read"): 64, ("B", "GLB", "read"): 64, ("Z", "GLB", "write"): 64}
    assert r["energy_pj_by_action"] == pytest.approx({
        "PE2D.mac": 512,   # 256 MACs x 2 pJ
        # 128 words read by the array = 32 rows, + Z's 64 words read to go to DRAM = 16 rows; x 8 pJ
        "GLB.read": (32 + 16) * 8,
        # Z's 64 words = 16 rows, + A and B arriving from DRAM (64 words = 16 rows); x 8 pJ
        "GLB.write": (16 + 16) * 8,
        "DRAM.read": 128 / 8 * 16,     # 128 B in 8-B accesses of 16 pJ
        "DRAM.write": 128 / 8 * 16,
        "PE2D.idle": 0,                # 16 PEs x 16 cycles - 256 points x 1 cycle = 0 idle PE-cycles
    }, rel=1e-12)
    assert r["energy_pj"] == pytest.approx(512 + 384 + 256 + 256 + 256, rel=1e-12)  # 1664
    assert r["energy_pj_by_component"] == pytest.approx({"PE2D": 512, "GLB": 640, "DRAM": 512}, rel=1e-12)
    assert z["energy_pj"] == pytest.approx(512 + 32 * 8 + 16 * 8, rel=1e-12)  # compute + its GLB accesses
    # no loops: the buffer holds all of A, B and Z: 32 + 32 + 64 words x 2 B
    assert r["buffer_required_bytes"] == {"GLB": 256, "PE2D.RF": 0}
    assert r["spill_fraction"] == 0
    assert r["phases"][0]["steps"] == 1


def test_tiny_matmul_under_used_axis():
    # N = 2 on 4 columns: half the PEs engaged, so the 64 points take 8 cycles, not 4
    r = tiny(["nsize=2", "PE2D.idle_pj_per_pe_cycle=0.5"]).results
    z = einsum(r, "Z")
    assert z["points"] == 64            # 8*2*4
    assert z["engaged_pes"] == 8        # rows 4 x cols 2/ceil(2/4) = 2
    assert z["busy_cycles"] == 8        # 64 / 8
    # A is broadcast over min(2, 4) = 2 columns: 64/2; B over min(8, 4) = 4 rows: 64/4
    assert accesses(z) == {("A", "GLB", "read"): 32, ("B", "GLB", "read"): 16, ("Z", "GLB", "write"): 16}
    assert r["dram_bytes"] == 112       # (32 + 8 + 16 words) x 2 B
    assert r["memory_cycles"] == 3.5    # 112 / 32
    assert r["cycles"] == 8
    # utilization is the fraction of cycles the array is busy, not of PEs engaged
    assert r["utilization"] == {"PE2D": 1.0}
    # idle PE-cycles: 16 PEs x 8 cycles - 64 points x 1 cycle = 64, x 0.5 pJ
    assert r["energy_pj_by_action"]["PE2D.idle"] == pytest.approx(32, rel=1e-12)


def test_tiny_matmul_ragged_axis_costs_a_partial_pass():
    # N = 6 on 4 columns: ceil(6/4) = 2 passes, the second with 2 columns
    r = tiny(["nsize=6"]).results
    z = einsum(r, "Z")
    assert z["points"] == 192            # 8*6*4
    assert z["engaged_pes"] == 12        # rows 4 x cols 6/ceil(6/4) = 3 on average
    assert z["busy_cycles"] == 16        # ceil(8/4) x ceil(6/4) x K = 2 x 2 x 4 = 192/12
    # B is read by each engaged column once per cycle: (4 + 2) columns x 2 row passes x 4 k = 48
    assert accesses(z)[("B", "GLB", "read")] == 48


def test_tiny_matmul_ragged_axis_reads_the_broadcast_operand_once_per_pass():
    # A[k,m] is broadcast along the columns: each of the ceil(6/4) = 2 column
    # passes reads all 4*8 = 32 elements of A once: 64 reads (the model says 192/4 = 48)
    z = einsum(tiny(["nsize=6"]).results, "Z")
    assert accesses(z)[("A", "GLB", "read")] == 64


def test_tiny_memory_bound_and_no_overlap():
    # 8 B/s: 256 B of DRAM traffic take 32 cycles > 16 compute cycles
    r = tiny(["DRAM.bandwidth_bytes_per_s=8"]).results
    assert (r["compute_cycles"], r["memory_cycles"], r["cycles"]) == (16, 32, 32)
    assert r["utilization"]["PE2D"] == 0.5  # busy 16 of 32 cycles
    # overlap: false adds the transfers to the compute: 16 + 8
    r = tiny(mapping=MATMUL_MAPPING + "overlap: false\n").results
    assert r["cycles"] == 24
    assert r["utilization"]["PE2D"] == pytest.approx(16 / 24, rel=1e-12)


def test_tiny_mapper_picks_tile_and_reuse():
    # loops over n in tiles of `cols` (2 or 4): A[k,m] is not indexed by n, so
    # the mapper also chooses to keep A across the n loop or stream it (re-read per n tile)
    mapping = MATMUL_MAPPING.replace("loops: []", "loops: [{n: cols}]\ntiles: {cols: [2, 4]}")
    ev = tiny(mapping=mapping)
    assert (ev.candidates, ev.feasible) == (4, 4)   # 2 tiles x 2 reuse choices, all fit 1 KiB
    r = ev.results
    # cols = 2 engages 4 x 2 PEs: 256/8 = 32 cycles; cols = 4: 16 cycles. Keeping A
    # or streaming it costs the same cycles (memory 8 or 10 < 16), so energy decides: keep.
    assert r["choices"] == {"phase 1.cols": 4, "phase 1.reuse.A": "A: kept across n"}
    assert r["phases"][0]["steps"] == 2             # 8 / 4
    assert r["cycles"] == 16
    # buffer: all of A (4*8 words), a tile of B (4*4) and of Z (8*4): (32 + 16 + 32) x 2 B
    assert r["buffer_required_bytes"]["GLB"] == 160
    assert r["energy_pj"] == pytest.approx(1664, rel=1e-12)  # the same work as without loops

    # with 128 B of buffer, keeping A (160 B) does not fit: stream it, 2 x 64 B of A
    ev = tiny(["GLB.capacity_bytes=128"], mapping=mapping)
    # fit: (cols 2, kept) 64+16+32 = 112 B, (2, streamed) 48 B, (4, streamed) 96 B; not (4, kept) 160 B
    assert ev.feasible == 3
    r = ev.results
    assert r["choices"] == {"phase 1.cols": 4, "phase 1.reuse.A": "A: streamed, re-read per n"}
    assert r["buffer_required_bytes"]["GLB"] == 96
    assert r["dram_bytes"] == 320                   # 256 + A's 64 B again
    assert r["memory_cycles"] == 10
    # + 64 B from DRAM (8 accesses x 16 pJ) + written to the GLB (32 words = 8 rows x 8 pJ)
    assert r["energy_pj"] == pytest.approx(1664 + 128 + 64, rel=1e-12)

    # with 32 B nothing fits; the smallest candidate (cols 2, A streamed) is reported
    with pytest.raises(EinsumxError) as info:
        tiny(["GLB.capacity_bytes=32"], mapping=mapping)
    # Z's tile 8*2 words = 32 B, B's 4*2 = 16 B
    assert info.value.message == "mapping 'mm' does not fit tiny: phase 'phase 1': Z+B tiles need 48 B > 32 B global buffer"


def test_tiny_buffer_too_small_for_fixed_tiles():
    with pytest.raises(EinsumxError) as info:
        tiny(["GLB.capacity_bytes=128"])
    # no loops, no choice: Z (128 B), A (64 B) and B (64 B) all held
    msg = info.value.message
    assert msg == "mapping 'mm' does not fit tiny: phase 'phase 1': Z+A+B tiles need 256 B > 128 B global buffer"
    assert "tiles need" in msg and "> " in msg and "global buffer" in msg


CHAIN = textwrap.dedent("""\
    name: chain
    params: {msize: 8, nsize: 8, ksize: 4}
    ranks: {M: msize, N: nsize, K: ksize}
    tensors: {A: [K, M], B: [K, N], C: [M, N], G: [N]}
    einsums: |
      Y[m,n] = A[k,m] * B[k,n]
      Z[m,n] = Y[m,n] + C[m,n]
      S[m,n] = exp(Z[m,n] - G[n])
    outputs: [S]
    """)


def test_tiny_chain_register_file_and_emulated_exp():
    mapping = "name: chain\nbind: {PE2D: [Y, Z, S]}\nspatial: {PE2D: {rows: [m], cols: [n]}}\n"
    r = tiny(mapping=mapping, workload=CHAIN).results
    # Y and Z are made and used by the one array and their 64 elements are 4 per PE
    # (<= 8 register words): they live in the register files
    assert r["phases"][0]["levels"] == {"A": "GLB", "B": "GLB", "C": "GLB", "G": "GLB", "S": "GLB", "Y": "RF", "Z": "RF"}
    # Z overwrites Y element by element: they share 64/16 = 4 words per PE = 8 B
    assert r["buffer_required_bytes"]["PE2D.RF"] == 8
    y, z, s = (einsum(r, k) for k in "YZS")
    assert (y["busy_cycles"], z["busy_cycles"], s["busy_cycles"]) == (16, 4, 28)  # 256/16, 64/16, 64 x 7/16
    assert s["cycles_per_point"] == 7     # exp(x - g) = 6 MACs + 1 add; the subtraction is absorbed
    assert r["cycles"] == 16 + 4 + 28     # one array: whatever the stages, its work adds up
    assert accesses(z) == {("Y", "RF", "read"): 64, ("C", "GLB", "read"): 64, ("Z", "RF", "write"): 64}
    assert accesses(s)[("G", "GLB", "read")] == 16   # G[n] broadcast over min(8, 4) rows: 64/4
    assert r["energy_pj_by_action"] == pytest.approx({
        "PE2D.mac": (256 + 6 * 64) * 2,            # Y's MACs + 6 per exp
        "PE2D.add": (64 + 64) * 1,                 # Z's adds + 1 per exp
        "PE2D.rf_read": (64 + 64) * 0.1,           # Z reads Y, S reads Z
        "PE2D.rf_write": (64 + 64) * 0.2,          # Y and Z written
        # A 64 + B 64 + C 64 + G 16 = 208 words = 52 rows; S's 64 words to DRAM = 16 rows
        "GLB.read": (52 + 16) * 8,
        # S 64 words = 16 rows; A, B, C, G from DRAM = 136 words = 34 rows
        "GLB.write": (16 + 34) * 8,
        "DRAM.read": (64 + 64 + 128 + 16) / 8 * 16,
        "DRAM.write": 128 / 8 * 16,
        "PE2D.idle": 0,
    }, rel=1e-12)
    assert r["energy_pj"] == pytest.approx(sum(r["energy_pj_by_action"].values()), rel=1e-12)


TWO_ARRAYS = TINY + textwrap.indent(textwrap.dedent("""\
    PE1D:
      axes: {lanes: 4}
      operators:
        max: {cycles: 1, energy_pj: 1}
    """), "  ")

ROW_MAX = textwrap.dedent("""\
    name: rowmax
    params: {msize: 8, nsize: 8, ksize: 4}
    ranks: {M: msize, N: nsize, K: ksize}
    tensors: {A: [K, M], B: [K, N]}
    einsums: |
      Y[m,n] = A[k,m] * B[k,n]
      S[n] = max(m: Y[m,n])
    outputs: [S]
    """)


def test_two_arrays_with_two_steps_put_a_barrier_between_producer_and_consumer():
    mapping = ("name: two\nbind: {PE2D: [Y], PE1D: [S]}\n"
               "spatial: {PE2D: {rows: [m], cols: [n]}, PE1D: {lanes: [n]}}\nloops: [{n: 4}]\n")
    r = tiny(mapping=mapping, workload=ROW_MAX, arch=TWO_ARRAYS).results
    # Y: 256 points / 16 PEs = 16 cycles; S: 64 points / 4 lanes = 16 cycles,
    # S reads Y from the other array: a barrier, 2 steps x (8 + 8)
    assert (einsum(r, "Y")["busy_cycles"], einsum(r, "S")["busy_cycles"]) == (16, 16)
    assert r["phases"][0]["schedule"] == "[Y] [S]"
    assert r["cycles"] == 32


def test_two_arrays_with_one_step_cannot_overlap_producer_and_consumer():
    mapping = ("name: two\nbind: {PE2D: [Y], PE1D: [S]}\n"
               "spatial: {PE2D: {rows: [m], cols: [n]}, PE1D: {lanes: [n]}}\nloops: []\n")
    r = tiny(mapping=mapping, workload=ROW_MAX, arch=TWO_ARRAYS).results
    # one step: S (max over all m of Y) can only start when Y is complete: 16 + 16
    assert r["cycles"] == 32


def test_setting_a_rank_size_changes_the_evaluation_as_it_changes_the_analysis():
    text = MATMUL.replace("params: {msize: 8, nsize: 8, ksize: 4}\n", "").replace(
        "ranks: {M: msize, N: nsize, K: ksize}", "ranks: {M: 8, N: 8, K: 4}")
    cascade = einsumx.parse_workload(text, "w.yaml")
    an = einsumx.analyze(cascade, overrides=parse_overrides(["N=2"]))
    assert [r.points_value for r in an.einsums] == [64]  # 8*2*4
    r = evaluate(cascade, parse_architecture(TINY, "tiny.yaml"), parse_mapping(MATMUL_MAPPING, "m.yaml"),
                 overrides=["N=2"]).results
    assert einsum(r, "Z")["points"] == 64


def test_cli_evaluate_json_with_workload_and_hardware_sets(capsys, tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "mm.yaml").write_text(MATMUL)
    (tmp_path / "map.yaml").write_text(MATMUL_MAPPING)
    code = main(["evaluate", str(tmp_path / "mm.yaml"), str(tmp_path / "tiny.yaml"), "--mapping", str(tmp_path / "map.yaml"),
                 "--set", "nsize=2", "PE2D.idle_pj_per_pe_cycle=0.5", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["cycles"] == 8                               # as in test_tiny_matmul_under_used_axis
    assert data["energy_pj_by_action"]["PE2D.idle"] == 32


# -- FuseMax's worked check (BERT, 1K tokens, batch 64) -----------------------


@pytest.fixture(scope="module")
def fusemax():
    return evaluate(ONE_PASS, "fusemax", FUSEMAX_MAPPING)


def test_fusemax_worked_check(fusemax):
    r = fusemax.results
    assert r["choices"]["phase 1.rows"] == 256
    # loops [b, h, {p: 256}, m1, {p: 256}]: 64 x 12 x (1024/256) x (1024/256) x 1 steps
    steps = B * H * (P // 256) * (M // 256)
    assert steps == 12_288
    assert r["phases"][0]["steps"] == steps
    # per step (256 keys on the rows x 256 queries on the columns of the 2D array):
    #   2D: BQK E + LM 1 + SLN 7 (exp = 6 MACs + 1 add) + SLD 1 + SLNV F = 137 cycles
    #   1D (256 queries on 256 lanes): RM 1, PRM 7, SPD 1, RD 1, SPNV F, RNV F,
    #       and AV's F divisions per query amortised over the M/256 = 4 chunks: 16
    per = {e["einsum"]: e["busy_cycles"] / steps for e in r["einsums"]}
    assert per == {"BQK": E, "LM": 1, "SLN": 7, "SLD": 1, "SLNV": F,
                   "RM": 1, "PRM": 7, "SPD": 1, "RD": 1, "SPNV": F, "RNV": F, "AV": F / 4}
    assert r["phases"][0]["schedule"] == "[BQK LM | RD RNV AV] [RM] [SLN SLD SLNV | PRM SPD SPNV]"
    # stages: max(64+1, 1+64+16) + 1 + max(7+1+64, 7+1+64) = 81 + 1 + 72 = 154 cycles per step
    assert r["cycles"] == 1_892_352 == steps * 154
    assert r["latency_s"] == pytest.approx(1_892_352 / CLOCK, rel=1e-12)
    # 2D busy: B*H*M*P x 137 / 65536 = 12288 x 137 = 1,683,456; the 1D array never idles
    busy_2d = B * H * M * P * 137 // 65536
    assert busy_2d == 1_683_456 == steps * 137
    assert r["utilization"]["PE2D"] == pytest.approx(1_683_456 / 1_892_352, rel=1e-12)  # 0.890
    assert r["utilization"]["PE1D"] == pytest.approx(1.0, rel=1e-12)
    # DRAM: Q, K, V read once and AV written once, B*H*1024*64 words x 2 B each
    assert r["dram_bytes"] == 4 * B * H * 1024 * 64 * 2 == 402_653_184
    assert r["memory_cycles"] == pytest.approx(402_653_184 / BYTES_PER_CYCLE, rel=1e-12)  # 881,250 < compute
    assert r["spill_fraction"] == 0


def test_fusemax_energy_is_mostly_2d_macs(fusemax):
    r = fusemax.results
    # the 2D MACs: BQK and SLNV, E (= F) per score, and 6 per SLN exponential
    macs = 2 * B * H * M * P * E + 6 * B * H * M * P
    assert r["energy_pj_by_action"]["PE2D.mac"] == pytest.approx(macs * 17.1645, rel=1e-12)
    assert r["energy_pj_by_action"]["PE2D.mac"] / r["energy_pj"] >= 0.95
    assert r["energy_pj"] == pytest.approx(sum(r["energy_pj_by_action"].values()), rel=1e-12)


def test_set_hardware_number_changes_exactly_its_term(fusemax):
    base = fusemax.results
    r = evaluate(ONE_PASS, "fusemax", FUSEMAX_MAPPING, overrides=["PE2D.mac.energy_pj=0"]).results
    assert r["energy_pj_by_action"]["PE2D.mac"] == 0
    assert base["energy_pj"] - r["energy_pj"] == pytest.approx(base["energy_pj_by_action"]["PE2D.mac"], rel=1e-9)
    assert r["cycles"] == base["cycles"]
    others = {k: v for k, v in r["energy_pj_by_action"].items() if k != "PE2D.mac"}
    assert others == pytest.approx({k: v for k, v in base["energy_pj_by_action"].items() if k != "PE2D.mac"}, rel=1e-12)


def test_fusemax_sequential_adds_all_per_step_work():
    r = evaluate(ONE_PASS, "fusemax", str(MAPPINGS / "fusemax-sequential.yaml")).results
    assert r["phases"][0]["schedule"].startswith("sequential: BQK + LM + RM + ")
    # the same 12,288 steps, each the 2D array's 137 cycles then the 1D array's 154
    assert r["cycles"] == 12_288 * (137 + 154) == 3_575_808
    u = r["utilization"]
    assert u["PE2D"] == pytest.approx(137 / 291, rel=1e-12)
    assert u["PE2D"] + u["PE1D"] == pytest.approx(1.0, abs=1e-9)  # never both busy, never both idle


def test_flat_2d_array_waits_for_the_1d_softmax():
    r = evaluate(THREE_PASS, "flat", str(MAPPINGS / "flat-attention.yaml")).results
    assert r["phases"][0]["schedule"] == "pipelined: max(PE2D: QK AV; PE1D: GM SN SD A)"
    # per score: the 2D array does 2E MACs on 65536 PEs, the 1D array max, exp,
    # add and div (4 ops) on 256 lanes: the 1D array bounds the pipeline
    assert r["cycles"] == B * H * M * P * 4 // 256 == 12_582_912
    assert r["utilization"]["PE2D"] == pytest.approx((2 * E / 65536) / (4 / 256), rel=1e-12)  # 0.125
    assert r["utilization"]["PE2D"] == pytest.approx(0.125, rel=1e-12)
    assert r["utilization"]["PE1D"] == pytest.approx(1.0, rel=1e-12)
    assert r["spill_fraction"] == 0  # one block of score rows fits in 32 MiB at 1K


# -- the vectorized model -----------------------------------------------------


@pytest.fixture(scope="module")
def fusemax_model():
    cascade = load_workload(ONE_PASS)
    arch = load_architecture("fusemax")
    mapping = load_mapping(FUSEMAX_MAPPING)
    values, _ = default_values(cascade, arch, mapping)
    model = build_model(cascade, arch, mapping, values)
    return cascade, arch, mapping, model, compile_model(model)


def test_vectorized_model_matches_one_point_evaluations(fusemax, fusemax_model):
    cascade, arch, mapping, model, compiled = fusemax_model
    # ranks are substituted by their sizes in parameters: the function takes seq, not M or P
    names = {s.name for s in compiled.symbols}
    assert param_symbol("seq") in compiled.symbols
    assert not names & set(cascade.ranks)
    seqs = [1024, 4096]
    points = []
    for seq in seqs:
        values, _ = default_values(cascade, arch, mapping, parse_overrides([f"seq={seq}"]))
        picked, _, feasible = choose(model, compiled, values)
        assert feasible
        values.update(picked)
        points.append(values)
    vec = {s: np.array([p[s] for p in points], dtype=float) for s in compiled.symbols}
    out = compiled(vec)
    one = [fusemax.raw, evaluate(ONE_PASS, "fusemax", FUSEMAX_MAPPING, overrides=["seq=4096"]).raw]
    for i, raw in enumerate(one):
        assert set(raw) == set(out)
        for k, v in raw.items():
            assert np.broadcast_to(out[k], (len(seqs),))[i] == pytest.approx(v, rel=1e-12), (seqs[i], k)
    # at 4096: 64 x 12 x 16 x 16 = 196,608 steps of max(64+1, 1+64+64/16) + 1 + 72 = 142 cycles
    assert out["cycles"][1] == 196_608 * 142 == 27_918_336


def test_utilization_never_exceeds_one(fusemax_model):
    _, _, _, model, compiled = fusemax_model
    base, _ = default_values(model.cascade, model.arch, model.mapping)
    # every combination of sequence length, query block, reuse choice and array size,
    # fitting the buffer or not
    grid = {param_symbol("seq"): [1024, 4096, 65536, 1048576], model.arch.symbol("PE2D.rows"): [64, 256],
            model.arch.symbol("PE1D.lanes"): [64, 256],
            model.arch.symbol("DRAM.bandwidth_bytes_per_s"): [2**30, 400 * 2**30]}
    for s, options in model.choices.items():
        grid[s] = options if options is not None else [256, 1024]
    syms = list(grid)
    combos = np.array(list(itertools.product(*grid.values())), dtype=float)
    values = dict(base)
    values.update({s: combos[:, k] for k, s in enumerate(syms)})
    out = compiled(values)
    assert len(combos) >= 100
    for a in model.arch.arrays:
        u = np.broadcast_to(out[f"utilization.{a}"], (len(combos),))
        assert np.all(u > 0) and np.all(u <= 1 + 1e-12), a
    assert np.all(out["cycles"] >= out["compute_cycles"] - 1e-6)


# -- the FuseMax study --------------------------------------------------------

PAPER = {("attention", "speedup_vs_flat"): 6.7, ("attention", "energy_vs_flat"): 0.79,
         ("end2end", "speedup_vs_flat"): 5.3, ("end2end", "energy_vs_flat"): 0.83}
MODELS = ["bert", "trxl", "t5", "xlm"]
SEQS = [1024, 4096, 16384, 65536, 262144, 1048576]
CONFIGS = ["unfused", "flat", "+cascade", "+architecture", "fusemax"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """``einsumx reproduce fusemax --json --out DIR``, run once."""
    out_dir = tmp_path_factory.mktemp("fusemax")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["reproduce", "fusemax", "--json", "--out", str(out_dir)])
    assert code == 0, stderr.getvalue()
    data = json.loads(stdout.getvalue())
    index = {(r["model"], r["seq_len"], r["config"], r["scope"]): r for r in data["rows"]}
    return data, index, out_dir


def test_study_rows(study):
    data, index, _ = study
    rows = data["rows"]
    assert len(rows) == 240  # 4 models x 6 lengths x 5 configurations x 2 scopes
    assert set(index) == set(itertools.product(MODELS, SEQS, CONFIGS, ["attention", "end2end"]))
    keys = {"model", "seq_len", "config", "scope", "latency_s", "energy_pj", "util_2d", "util_1d", "dram_bytes"}
    assert all(keys <= set(r) for r in rows)
    assert all(0 <= r["util_2d"] <= 1 + 1e-12 and 0 <= r["util_1d"] <= 1 + 1e-12 for r in rows)
    # the study's BERT 1K FuseMax row is the worked check
    r = index[("bert", 1024, "fusemax", "attention")]
    assert r["latency_s"] == pytest.approx(1_892_352 / CLOCK, rel=1e-12)
    assert r["util_2d"] == pytest.approx(1_683_456 / 1_892_352, rel=1e-12)
    # end-to-end = attention + the layer's projections
    for m, s, c in itertools.product(MODELS, SEQS, CONFIGS):
        assert index[(m, s, c, "end2end")]["latency_s"] > index[(m, s, c, "attention")]["latency_s"]


def test_study_headline_within_10_percent_of_the_paper(study):
    data, index, _ = study
    head = data["headline"]
    for (scope, key), paper in PAPER.items():
        assert head[scope]["paper"][key] == paper
        assert abs(head[scope][key] / paper - 1) <= 0.10, (scope, key, head[scope][key])
    # the headline is the arithmetic mean over the 24 (model, length) points
    sp = [index[(m, s, "flat", "attention")]["latency_s"] / index[(m, s, "fusemax", "attention")]["latency_s"]
          for m in MODELS for s in SEQS]
    assert head["attention"]["speedup_vs_flat"] == pytest.approx(sum(sp) / 24, rel=1e-12)


def test_study_utilization_and_spills(study):
    _, index, _ = study

    def row(model, seq, config):
        return index[(model, seq, config, "attention")]

    assert row("bert", 1024, "fusemax")["util_2d"] >= 0.85
    for seq in SEQS:
        if seq >= 16384:
            assert row("bert", seq, "fusemax")["util_2d"] >= 0.98, seq
        if seq <= 65536:
            assert abs(row("bert", seq, "flat")["util_2d"] - 0.125) <= 0.01, seq
    # XLM's heads are 128 wide (BERT's 64): twice the 2D work per score, so FLAT's
    # 2D array idles less behind its 1D softmax and FuseMax has less to gain
    def mean_speedup(model):
        return sum(row(model, s, "flat")["latency_s"] / row(model, s, "fusemax")["latency_s"] for s in SEQS) / len(SEQS)

    assert mean_speedup("xlm") < mean_speedup("bert")
    assert row("bert", 262144, "flat")["spill_fraction"] > 0
    assert row("bert", 1024, "flat")["spill_fraction"] == 0


def test_study_writes_the_figures(study):
    _, _, out_dir = study
    for name in ("speedup.png", "energy.png", "utilization.png"):
        data = (out_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    assert len(json.loads((out_dir / "rows.json").read_text())["rows"]) == 240
    assert len((out_dir / "rows.csv").read_text().splitlines()) == 241  # header + 240 rows
