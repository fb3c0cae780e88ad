"""The loop-nest model and Timeloop/Accelergy interoperation, by hand.

``test_timeloop_cases.py`` checks every tutorial case against Timeloop's
stored stats; this file checks what those cases do not reach: round trips
through einsumx's own Timeloop files, small nests built with the
dataclasses (spatial fan-out, multicast, partial sums that come back,
bandwidth), agreement with the cascade-level model, the export command,
Accelergy's summary tables, bad input, the real ``timeloop-model`` when it
is installed, and properties over random small nests.

Every expected number is derived in a comment.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, workload_path
from einsumx import EinsumxError
from einsumx.cli import main
from einsumx.interop.timeloop import import_timeloop, read_timeloop, write_timeloop
from einsumx.interop.timeloop.cascade import export_cascade
from einsumx.interop.timeloop.run import find_timeloop, run_timeloop
from einsumx.interop.timeloop.write import FILES, mapping_yaml
from einsumx.model import evaluate as evaluate_cascade
from einsumx.model.loopnest import (ComputeUnit, DataSpace, Hierarchy, LevelMapping, LoopNest, Problem,
                                    StorageLevel, evaluate)
from test_timeloop_cases import IDS, RUNS, expanded_files, tutorial_files

MAPPINGS = ROOT / "architectures" / "mappings"


def numbers(d: dict) -> dict:
    """``NestStats.as_dict()`` without the architecture's name (a label, not
    a number: ``write_timeloop`` names its top container ``System``)."""
    return {k: v for k, v in d.items() if k != "architecture"}


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def reimport(directory: Path):
    return import_timeloop([Path(directory) / f for f in FILES])


# == 1. round trips ============================================================

@pytest.mark.parametrize(("case", "mapping", "ref"), RUNS, ids=IDS)
@pytest.mark.parametrize("source", ["tutorial", "expanded"])
def test_write_then_read_changes_no_number(case, mapping, ref, source, tmp_path):
    files = tutorial_files(case, mapping, ref) if source == "tutorial" else expanded_files(case, ref)
    first = import_timeloop(files)
    written = write_timeloop(first.problem, first.spec.hierarchy, first.spec.nest, tmp_path)
    assert [p.name for p in written] == ["arch.yaml", "prob.yaml", "map.yaml", "ERT.yaml", "ART.yaml"]
    second = reimport(tmp_path)
    assert numbers(second.stats.as_dict()) == numbers(first.stats.as_dict())
    # not a vacuous comparison: the cases have 48 or 1536 computes, every level reported
    assert second.stats.computes in (48, 1536)
    assert set(second.stats.levels) == set(first.stats.levels)
    assert second.workload_text.split("einsums: |")[1] == first.workload_text.split("einsums: |")[1]


def test_round_trip_keeps_the_architecture_name(tmp_path):
    case, mapping, ref = RUNS[0]
    first = import_timeloop(tutorial_files(case, mapping, ref))
    assert first.stats.hierarchy.name == "accelerator"  # the tutorial's !Container name
    write_timeloop(first.problem, first.spec.hierarchy, first.spec.nest, tmp_path)
    assert reimport(tmp_path).stats.hierarchy.name == "accelerator"


# (case, mapping, ref) -> the Einsum einsumx writes for the Timeloop problem:
# conv1d has Inputs projected on R + P; conv1d+oc adds the output channel K
EINSUM_TEXT = {
    "00": "Outputs[p] = Weights[r] * Inputs[r + p]",
    "01": "Outputs[p] = Weights[r] * Inputs[r + p]",
    "02": "Outputs[k, p] = Weights[k, r] * Inputs[r + p]",
    "03": "Outputs[k, p] = Weights[k, r] * Inputs[r + p]",
}


@pytest.mark.parametrize(("case", "mapping", "ref"), RUNS, ids=IDS)
def test_cli_import_out_then_reimport_gives_the_same_json(case, mapping, ref, tmp_path):
    out = tmp_path / "out"
    rc, first, _ = run_cli("import-timeloop", *tutorial_files(case, mapping, ref), "--json", "--out", out)
    assert rc == 0
    for name in (*FILES, "workload.yaml", "stats.txt", "map.txt"):
        assert (out / name).is_file(), name
    rc, second, _ = run_cli("import-timeloop", *(out / f for f in FILES), "--json")
    assert rc == 0
    a, b = json.loads(first), json.loads(second)
    assert numbers(b) == numbers(a)
    assert a["cycles"] in (48, 1536) and a["energy_pj"] > 0

    # the einsumx workload it wrote is a workload einsumx analyses
    rc, text, err = run_cli("analyze", out / "workload.yaml")
    assert rc == 0, err
    assert EINSUM_TEXT[case[:2]] in text
    assert f"  {EINSUM_TEXT[case[:2]]}\n" in (out / "workload.yaml").read_text()


# == 2. loop nests by hand =====================================================
#
# Z[m,n] = A[k,m] * B[k,n] with M=2, N=4, K=3: 24 MACs; A has 6 elements,
# B 12, Z 8.

MATMUL = Problem("MatMul", {"M": 2, "N": 4, "K": 3}, (
    DataSpace("A", ((("K", 1),), (("M", 1),))),
    DataSpace("B", ((("K", 1),), (("N", 1),))),
    DataSpace("Z", ((("M", 1),), (("N", 1),)), read_write=True)))

# Buffer: vectors of 2 words; 1 pJ per read, 2 per fill (write), 3 per
# update, leaks 0.5 pJ a cycle
BUFFER = StorageLevel("Buffer", block_words=2, depth=32,
                      energy_pj={"read": 1.0, "write": 2.0, "update": 3.0, "leak": 0.5})
DRAM = StorageLevel("DRAM", "DRAM", block_words=1, energy_pj={"read": 10.0, "write": 10.0, "update": 10.0})


def pes(n: int, energy: float = 0.0) -> ComputeUnit:
    return ComputeUnit("MAC", instances=n, energy_pj=energy)


def fanout_nest(**buffer) -> LoopNest:
    """DRAM runs nothing; the Buffer loops M (2) then K (3) and sends N (4)
    across the PEs."""
    m = dict(temporal=(("M", 2), ("K", 3)), spatial=(("N", 4, "X"),))
    m.update(buffer)
    return LoopNest((LevelMapping("DRAM"), LevelMapping("Buffer", **m)))


def test_spatial_fan_out_multicasts_the_input_that_does_not_use_the_spread_dimension():
    s = evaluate(MATMUL, Hierarchy("fan", (DRAM, BUFFER), pes(4, 0.5)), fanout_nest())
    # 24 MACs on 4 PEs, one per cycle each: 2 x 3 temporal iterations
    assert (s.computes, s.compute_cycles, s.cycles, s.utilized_computes) == (24, 6, 6, 4)
    assert s.utilization == 1.0                       # 24 / (6 cycles x 4 PEs)
    buf = s.levels["Buffer"].tensors
    # A[k,m] does not depend on N: one read per cycle feeds all 4 PEs: 6 reads
    assert (buf["A"].reads, buf["A"].multicast) == (6, 4)
    # B[k,n] does: each of the 4 PEs needs its own element every cycle: 6 x 4 = 24
    assert (buf["B"].reads, buf["B"].multicast) == (24, 1)
    # Z: every MAC updates its output (24); the first write of each of the 8
    # elements is not a read: 24 - 8 = 16 reads
    assert (buf["Z"].updates, buf["Z"].reads, buf["Z"].partition_size, buf["Z"].fills) == (24, 16, 8, 0)
    assert buf["Z"].temporal_reductions == 16
    # the Buffer holds everything below it: A 3x2, B 3x4, Z 2x4, each filled once
    assert {t: (x.utilized_capacity, x.fills) for t, x in buf.items()} == {"A": (6, 6), "B": (12, 12), "Z": (8, 0)}
    assert all(x.utilized_instances == 1 for x in buf.values())
    # DRAM sends each tile once; Z comes back once, never read (8 - 8 = 0)
    dram = s.levels["DRAM"].tensors
    assert (dram["A"].reads, dram["B"].reads, dram["Z"].updates, dram["Z"].reads) == (6, 12, 8, 0)
    # energy: whole vectors of 2 words at the Buffer
    #   A: ceil(6/2)=3 reads x 1 + ceil(6/2)=3 fills x 2 = 9
    #   B: 12 reads x 1 + 6 fills x 2 = 24
    #   Z: 8 reads x 1 + 12 updates x 3 = 44
    #   leak: 0.5 pJ x 6 cycles x 1 instance = 3
    assert {t: x.energy_pj for t, x in buf.items()} == {"A": 9.0, "B": 24.0, "Z": 44.0}
    assert s.levels["Buffer"].leak_pj == 3.0
    assert s.levels["Buffer"].energy_pj == 80.0
    # DRAM (1-word vectors, 10 pJ each): (6 + 12 + 8) x 10 = 260; MACs 24 x 0.5 = 12
    assert s.levels["DRAM"].energy_pj == 260.0
    assert s.compute_energy_pj == 12.0
    assert s.energy_pj == 352.0


def test_fewer_pes_used_than_exist_lowers_utilization():
    s = evaluate(MATMUL, Hierarchy("fan", (DRAM, BUFFER), pes(8)), fanout_nest())
    # the same 4-way fan-out on 8 PEs: 4 used, 24 MACs over 6 cycles x 8 PEs
    assert (s.cycles, s.utilized_computes) == (6, 4)
    assert s.utilization == 0.5


def test_per_instance_counts_below_a_fan_out():
    # DRAM / Buffer / RF (4 instances, one per PE) / 4 MACs. The Buffer loops
    # K (3) and sends N (4) to the RFs; each RF loops M (2).
    rf = StorageLevel("RF", "regfile", instances=4, depth=16, energy_pj={"leak": 0.25})
    h = Hierarchy("rf", (DRAM, StorageLevel("Buffer"), rf), pes(4))
    nest = LoopNest((LevelMapping("DRAM"),
                     LevelMapping("Buffer", (("K", 3),), (("N", 4, "X"),)),
                     LevelMapping("RF", (("M", 2),))))
    s = evaluate(MATMUL, h, nest)
    assert (s.compute_cycles, s.cycles, s.utilized_computes) == (6, 6, 4)  # 3 x 2
    r = s.levels["RF"].tensors
    assert {t: x.utilized_instances for t, x in r.items()} == {"A": 4, "B": 4, "Z": 4}
    # A: a tile of the 2 M for one k; each of the 3 k brings a new one: 6 fills.
    # N is spread, A does not use it: each RF's partition is all of A (6)
    assert (r["A"].utilized_capacity, r["A"].fills, r["A"].partition_size, r["A"].reads) == (2, 6, 6, 6)
    # B: one element (k, this RF's n), a new one per k: 3 fills; partition 3 x 1
    assert (r["B"].utilized_capacity, r["B"].fills, r["B"].partition_size, r["B"].reads) == (1, 3, 3, 6)
    # Z: the RF's 2 outputs stay while k runs: no refill; 6 updates - 2 first writes = 4 reads
    assert (r["Z"].utilized_capacity, r["Z"].fills, r["Z"].partition_size) == (2, 0, 2)
    assert (r["Z"].updates, r["Z"].reads) == (6, 4)
    b = s.levels["Buffer"].tensors
    # one Buffer read of A feeds the 4 RFs (6 RF fills x 4 RFs / 4); B: 3 x 4 = 12
    # (each RF its own); Z: 2 results from each of 4 RFs = 8 updates, none read
    assert (b["A"].reads, b["B"].reads, b["Z"].updates, b["Z"].reads) == (6, 12, 8, 0)
    # leakage is per instance: 0.25 pJ x 6 cycles x 4 RFs
    assert s.levels["RF"].leak_pj == 6.0


def test_a_fan_out_larger_than_the_pes_is_an_error():
    with pytest.raises(EinsumxError) as info:
        evaluate(MATMUL, Hierarchy("fan", (DRAM, BUFFER), pes(2)), fanout_nest())
    assert info.value.message == "level Buffer fans out to 4 children but has 2 below it"


def test_factors_that_do_not_multiply_to_the_size_are_an_error():
    with pytest.raises(EinsumxError) as info:
        evaluate(MATMUL, Hierarchy("fan", (DRAM, BUFFER), pes(4)), fanout_nest(temporal=(("M", 3), ("K", 3))))
    assert info.value.message == "the factors of M multiply to 3 (3 (Buffer)), not to its size 2"


def test_a_tile_larger_than_its_level_is_an_error_naming_the_level():
    small = replace(BUFFER, depth=8)  # 8 vectors of 2 words: 16 words
    with pytest.raises(EinsumxError) as info:
        evaluate(MATMUL, Hierarchy("fan", (DRAM, small), pes(4)), fanout_nest())
    # the tiles are A 6 + B 12 + Z 8 = 26 words
    assert info.value.message == "the tiles at Buffer need 26 words (A 6, B 12, Z 8) but it holds 16"


def test_the_outermost_level_must_keep_every_tensor():
    nest = LoopNest((LevelMapping("DRAM", keep=frozenset({"A", "B"})),
                     LevelMapping("Buffer", (("M", 2), ("K", 3)), (("N", 4, "X"),))))
    with pytest.raises(EinsumxError) as info:
        evaluate(MATMUL, Hierarchy("fan", (DRAM, BUFFER), pes(4)), nest)
    assert info.value.message == "the outermost level DRAM must keep Z (it holds every tensor)"


def revisit_nest() -> LoopNest:
    """DRAM loops K (3) outside M (2); the Buffer holds one row of Z (M=1,
    all 4 N) while its loop N runs: each Z row is left after one k and
    visited again for the next k."""
    return LoopNest((LevelMapping("DRAM", (("K", 3), ("M", 2))), LevelMapping("Buffer", (("N", 4),))))


def test_an_output_tile_revisited_brings_partial_sums_back():
    s = evaluate(MATMUL, Hierarchy("one", (DRAM, StorageLevel("Buffer")), pes(1)), revisit_nest())
    assert s.cycles == 24
    z = s.levels["Buffer"].tensors["Z"]
    # a tile of 4 (one row of Z); 3 k x 2 m = 6 tile visits: 24 loads, of
    # which the 8 first are fresh (the partition is all of Z): 16 fills are
    # partial sums coming back
    assert (z.utilized_capacity, z.partition_size, z.fills) == (4, 8, 24 - 8)
    # the Buffer: one update per MAC (24), all but the 8 first writes read
    assert (z.updates, z.reads) == (24, 24 - 8)
    # DRAM receives every tile as it leaves: 6 x 4 = 24 updates; 24 - 8 = 16
    # of them come back, so DRAM reads Z 16 times
    zd = s.levels["DRAM"].tensors["Z"]
    assert (zd.updates, zd.reads, zd.partition_size) == (24, 16, 8)
    # the inputs, for comparison: A's tile (1 element) changes on every
    # visit: 6 fills; B's row (k, all n) changes with k only: 3 x 4 = 12
    b = s.levels["Buffer"].tensors
    assert (b["A"].fills, b["B"].fills, b["A"].reads, b["B"].reads) == (6, 12, 24, 24)


def test_a_level_short_of_read_bandwidth_stretches_the_run():
    # the revisit nest, the Buffer reading 2 words a cycle: its reads are
    # A 24 + B 24 + Z 16 = 64 words: ceil(64 / 2) = 32 cycles > 24 computes
    slow = StorageLevel("Buffer", read_bandwidth=2, energy_pj={"leak": 1.0})
    s = evaluate(MATMUL, Hierarchy("one", (DRAM, slow), pes(1)), revisit_nest())
    assert (s.compute_cycles, s.cycles) == (24, 32)
    assert s.utilization == 24 / 32
    assert s.levels["Buffer"].leak_pj == 32.0  # 1 pJ a cycle, over the stretched run
    # 3 words a cycle: ceil(64 / 3) = 22 < 24: the MAC is the limit again
    s = evaluate(MATMUL, Hierarchy("one", (DRAM, replace(slow, read_bandwidth=3)), pes(1)), revisit_nest())
    assert (s.cycles, s.utilization) == (24, 1.0)


def test_a_level_short_of_write_bandwidth_stretches_the_run():
    # the Buffer's writes: fills A 6 + B 12 + Z 16, updates Z 24 = 58 words,
    # 1 word a cycle: 58 cycles
    slow = StorageLevel("Buffer", write_bandwidth=1)
    s = evaluate(MATMUL, Hierarchy("one", (DRAM, slow), pes(1)), revisit_nest())
    assert (s.cycles, s.utilization) == (58, 24 / 58)


# == 3. the cascade model and the loop-nest model, where both apply ============

def test_tiny_matmul_agrees_with_the_cascade_model():
    from test_model import accesses, einsum, tiny

    ev = tiny()
    r = ev.results
    (x,) = export_cascade(ev)
    s = evaluate(x.problem, x.hierarchy, x.nest)
    assert s.cycles == r["cycles"] == 16                                  # 256 MACs on 16 PEs
    assert s.compute_energy_pj == r["energy_pj_by_action"]["PE2D.mac"] == 512  # 256 x 2 pJ
    # DRAM: A and B (4 x 8 words each) read once; the cascade model counts
    # bytes (2 per 16-bit word)
    dram_bytes = {d["tensor"]: d["bytes"] for d in r["phases"][0]["dram"]}
    for t in ("A", "B"):
        assert s.levels["DRAM"].tensors[t].reads == dram_bytes[t] / 2 == 32
    # the GLB feeds the 4x4 array: A multicast over the 4 columns, B over the rows
    z = einsum(r, "Z")
    for t in ("A", "B"):
        assert s.levels["GlobalBuffer"].tensors[t].reads == accesses(z)[(t, "GLB", "read")] == 64
    assert s.levels["GlobalBuffer"].tensors["Z"].updates == accesses(z)[("Z", "GLB", "write")] == 64
    # energy: the cascade model reads Z's 64 words (16 rows of 8 pJ) out of
    # the GLB on their way to DRAM; Timeloop charges no such read. The loop
    # nest charges the PEs' register file, which the cascade model does not:
    # per PE 16 updates x 0.2 pJ + (16 - 4 first writes) reads x 0.1 pJ = 4.4 pJ, x 16 PEs
    rf = s.levels["PE2D_RF"].energy_pj
    assert rf == pytest.approx(70.4, rel=1e-12)
    assert s.energy_pj - rf == pytest.approx(r["energy_pj"] - 16 * 8, rel=1e-12)  # 1664 - 128
    assert s.levels["DRAM"].energy_pj == r["energy_pj_by_component"]["DRAM"] == 512


def test_projection_einsums_on_edge_take_the_cascade_models_busy_cycles():
    ev = evaluate_cascade(str(workload_path("transformer-projections")), "edge",
                          str(MAPPINGS / "projections.yaml"))
    busy = {row["einsum"]: row["busy_cycles"] for row in ev.results["einsums"]}
    exported = export_cascade(ev)
    assert [x.label for x in exported] == list(busy) == ["Q", "K", "V", "O", "F1", "F2"]
    for x in exported:
        s = evaluate(x.problem, x.hierarchy, x.nest)
        assert s.compute_cycles == busy[x.label], x.label
        assert s.computes == s.compute_cycles * s.utilized_computes
    # Q: 64 x 1024 tokens x 768 x 768 MACs on 1024 PEs
    assert busy["Q"] == 64 * 1024 * 768 * 768 / 1024


# == 4. export-timeloop ========================================================

def parse_export_table(text: str) -> dict[str, tuple[int, Path]]:
    """einsum -> (cycles, directory) from export-timeloop's table."""
    rows = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if not parts or parts[0] in ("note:", "Timeloop"):
            continue
        rows[parts[0]] = (int(parts[1].replace(",", "")), Path(parts[3]))
    return rows


@pytest.fixture(scope="module")
def fusemax_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("fusemax")
    rc, text, err = run_cli("export-timeloop", workload_path("attention-1pass"), "fusemax",
                            "--mapping", MAPPINGS / "fusemax-attention.yaml", "--out", out)
    assert rc == 0, err
    return out, parse_export_table(text)


FUSEMAX_EINSUMS = ["BQK", "LM", "RM", "SLN", "PRM", "SLD", "SLNV", "SPD", "SPNV", "RD", "RNV", "AV"]


def test_export_writes_one_directory_per_einsum(fusemax_export):
    out, rows = fusemax_export
    assert list(rows) == FUSEMAX_EINSUMS
    assert sorted(p.name for p in out.iterdir()) == [f"{k:02d}-{e}" for k, e in enumerate(FUSEMAX_EINSUMS, 1)]
    for label, (cycles, d) in rows.items():
        assert d.parent == out
        for f in FILES:
            assert (d / f).is_file(), (label, f)
    # BQK: 64 x 12 x 1024 x 1024 x 64 MACs over the 256 x 256 array: 786,432 cycles
    assert rows["BQK"][0] == 64 * 12 * 1024 * 1024 * 64 // (256 * 256)


def test_exported_einsums_read_back_to_the_printed_cycles(fusemax_export):
    _, rows = fusemax_export
    for label, (cycles, d) in rows.items():
        assert reimport(d).stats.cycles == cycles, label


def test_two_loops_over_one_dimension_at_a_level_survive_the_round_trip(tmp_path):
    # DRAM loops M (2), K (3), then M again with factor 1, as export_cascade
    # writes the phase loops; evaluate accepts it (2 x 1 = 2)
    nest = LoopNest((LevelMapping("DRAM", (("M", 2), ("K", 3), ("M", 1))), LevelMapping("Buffer", (("N", 4),))))
    h = Hierarchy("one", (DRAM, StorageLevel("Buffer")), pes(1))
    before = evaluate(MATMUL, h, nest)
    write_timeloop(MATMUL, h, nest, tmp_path)
    spec = read_timeloop([tmp_path / f for f in FILES])
    assert numbers(evaluate(spec.problem, spec.hierarchy, spec.nest).as_dict()) == numbers(before.as_dict())


def test_exported_projections_read_back_to_the_printed_cycles(tmp_path):
    # the same path on edge, where the phase loops (b, p) are distinct ranks
    rc, text, err = run_cli("export-timeloop", workload_path("transformer-projections"), "edge",
                            "--mapping", MAPPINGS / "projections.yaml", "--out", tmp_path)
    assert rc == 0, err
    rows = parse_export_table(text)
    assert list(rows) == ["Q", "K", "V", "O", "F1", "F2"]
    for label, (cycles, d) in rows.items():
        imp = reimport(d)
        assert imp.stats.cycles == cycles, label
    # F1: 64 x 1024 x 768 x 3072 MACs on 1024 PEs
    assert rows["F1"][0] == 64 * 1024 * 768 * 3072 // 1024 == 150_994_944


# == 5. Accelergy's table formats =============================================

ARCH = """\
architecture:
  version: 0.4
  nodes:
  - !Container
    name: System
    attributes: {technology: 40nm, global_cycle_seconds: 1e-9}
  - !Component
    name: MainMemory
    class: DRAM
    attributes: {width: 64, datawidth: 8}
  - !Component
    name: Buffer
    class: regfile
    attributes: {depth: 64, width: 8, datawidth: 8}
  - !Component
    name: MACC
    class: intmac
    attributes: {width: 8}
"""

PROB = """\
problem:
  version: 0.4
  shape:
    name: Conv1D
    dimensions: [R, P]
    data_spaces:
    - name: Weights
      projection:
      - [ [R] ]
    - name: Inputs
      projection:
      - [ [R], [P] ]
    - name: Outputs
      projection:
      - [ [P] ]
      read_write: True
  instance: {R: 3, P: 16}
"""

MAP = """\
mapping:
- target: MainMemory
  type: temporal
  factors: R=1 P=16
  permutation: PR
- target: Buffer
  type: temporal
  factors: R=3 P=1
  permutation: RP
"""

# the Buffer's update is given for two argument sets (2.5 and 3.0 pJ)
ERT_SUMMARY = """\
ERT_summary:
  version: 0.4
  table_summary:
  - name: System.MainMemory
    actions:
    - {name: read, energy: 10.0}
    - {name: write, energy: 10.0}
    - {name: update, energy: 10.0}
  - name: System.Buffer
    actions:
    - {name: read, energy: 1.0}
    - {name: write, energy: 2.0}
    - {name: update, energy: 2.5}
    - {name: update, energy: 3.0}
    - {name: leak, energy: 0.0}
  - name: System.MACC
    actions:
    - {name: compute, energy: 0.5}
"""

ART_SUMMARY = """\
ART_summary:
  version: 0.4
  table_summary:
  - {name: System.MainMemory, area: 100.0}
  - {name: System.Buffer, area: 10.0}
  - {name: System.MACC, area: 1.0}
"""

# the same energies as an ERT (Accelergy's 'tables'), the update's two argument
# sets in the other order, and a component name with an instance range
ERT_TABLES = """\
ERT:
  version: '0.4'
  tables:
  - name: System_top_level.MainMemory[1..1]
    actions:
    - {name: read, arguments: {a: 1}, energy: 10.0}
    - {name: write, energy: 10.0}
    - {name: update, energy: 10.0}
  - name: System_top_level.Buffer[1..1]
    actions:
    - {name: read, energy: 1.0}
    - {name: write, energy: 2.0}
    - {name: update, arguments: {a: 1}, energy: 3.0}
    - {name: update, arguments: {a: 2}, energy: 2.5}
  - name: System_top_level.MACC[1..1]
    actions:
    - {name: compute, energy: 0.5}
"""

BASE = {"arch.yaml": ARCH, "prob.yaml": PROB, "map.yaml": MAP, "ERT.yaml": ERT_SUMMARY, "ART.yaml": ART_SUMMARY}


def write_files(d: Path, texts: dict[str, str]) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts.items():
        (d / name).write_text(text)
        paths.append(d / name)
    return paths


@pytest.mark.parametrize("ert", [ERT_SUMMARY, ERT_TABLES], ids=["ERT_summary", "ERT"])
def test_accelergy_tables_give_energy_and_area(ert, tmp_path):
    imp = import_timeloop(write_files(tmp_path, {**BASE, "ERT.yaml": ert}))
    s = imp.stats
    assert imp.spec.has_energy and imp.spec.has_area
    buffer = s.hierarchy.level("Buffer")
    assert dict(buffer.energy_pj) == {"read": 1.0, "write": 2.0, "update": 3.0, "leak": 0.0}  # max(2.5, 3.0)
    # output-stationary conv1d (the tutorial's 01 os): 48 MACs; the Buffer
    # reads Weights and Inputs 48 times each, fills 3 Weights and 18 Inputs
    # (a sliding window), updates Outputs 48 times and reads them 48 - 16
    b = s.levels["Buffer"].tensors
    assert (b["Weights"].reads, b["Weights"].fills, b["Inputs"].reads, b["Inputs"].fills) == (48, 3, 48, 18)
    assert (b["Outputs"].updates, b["Outputs"].reads) == (48, 32)
    # Buffer (1-word vectors): Weights 48 x 1 + 3 x 2 = 54; Inputs 48 + 18 x 2 = 84;
    # Outputs 32 x 1 + 48 x 3 = 176; in all 314
    assert {t: x.energy_pj for t, x in b.items()} == {"Weights": 54.0, "Inputs": 84.0, "Outputs": 176.0}
    # MainMemory (vectors of 64/8 = 8 words, 10 pJ): Weights ceil(3/8) = 1,
    # Inputs ceil(18/8) = 3, Outputs ceil(16/8) = 2 vectors: 60
    assert s.levels["MainMemory"].energy_pj == 60.0
    assert s.compute_energy_pj == 24.0  # 48 x 0.5
    assert s.energy_pj == 314 + 60 + 24
    assert s.area_um2 == 111.0          # 100 + 10 + 1


# == 6. bad input ==============================================================

# (name, file, text replaced, replacement, message, line of the mistake)
BAD = [
    ("unknown top-level key", "prob.yaml", "problem:", "problme:",
     "unknown top-level key 'problme' in a Timeloop file (expected one of: architecture, problem, mapping, ERT, "
     "ERT_summary, ART, ART_summary)", 1),
    ("factor not a number", "map.yaml", "R=3 P=1", "R=x P=1",
     "cannot read the factor 'R=x' (expected DIM=N, e.g. R=3)", 8),
    ("factor of an unknown dimension", "map.yaml", "R=3 P=1", "R=3 Q=1",
     "factor 'Q=1' names no dimension of Conv1D (R, P)", 8),
    ("permutation with an unknown letter", "map.yaml", "permutation: RP", "permutation: RX",
     "permutation 'RX' names 'X', not a dimension of Conv1D", 9),
    ("unknown mapping target", "map.yaml", "target: Buffer", "target: Bufer",
     "mapping target 'Bufer' is not a storage level (MainMemory, Buffer)", 6),
    ("projection on an unknown dimension", "prob.yaml", "[ [P] ]", "[ [Q] ]",
     "Outputs projects on 'Q', which is not a dimension (R, P)", 15),
    # the component without an energy is reported where it is declared
    ("ERT missing a component", "ERT.yaml", "- name: System.Buffer", "- name: System.Bufer",
     "the energy table has no entry for Buffer", ("arch.yaml", 11)),
    ("YAML syntax error", "map.yaml", "factors: R=3 P=1", "factors: R=3: P=1",
     "invalid YAML: mapping values are not allowed here", 8),
    # attributes are reported at their component
    ("attribute not a number", "arch.yaml", "{depth: 64,", "{depth: lots,",
     "'depth: lots' must be an integer", ("arch.yaml", 14)),
    ("cycle time not a number", "arch.yaml", "global_cycle_seconds: 1e-9", "global_cycle_seconds: soon",
     "'global_cycle_seconds: soon' must be a number", ("arch.yaml", 2)),
    ("data space without a projection", "prob.yaml", "    - name: Weights\n      projection:\n      - [ [R] ]\n",
     "    - name: Weights\n", "data space Weights needs 'projection'", ("prob.yaml", 7)),
]


def bad_files(tmp_path: Path, file: str, old: str, new: str) -> list[Path]:
    texts = dict(BASE)
    assert texts[file].count(old) == 1, (file, old)
    texts[file] = texts[file].replace(old, new)
    return write_files(tmp_path, texts)


@pytest.mark.parametrize(("file", "old", "new", "message", "where"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_timeloop_input_is_one_error_at_its_file_and_line(file, old, new, message, where, tmp_path):
    files = bad_files(tmp_path, file, old, new)
    err_file, line = where if isinstance(where, tuple) else (file, where)
    with pytest.raises(EinsumxError) as info:
        import_timeloop(files)
    e = info.value
    assert e.message == message
    assert (Path(e.origin.file), e.origin.line) == (tmp_path / err_file, line)

    rc, out, err = run_cli("import-timeloop", *files)
    assert rc == 2
    assert out == ""
    assert err.startswith(f"{tmp_path / err_file}:{line}:")
    assert message in err.splitlines()[0]
    assert "Traceback" not in err
    # one diagnostic: one 'file:line:' head line
    assert len(re.findall(rf"^{re.escape(str(tmp_path))}\S*:\d+:", err, re.M)) == 1


def test_a_missing_problem_is_an_error_naming_it(tmp_path):
    files = write_files(tmp_path, {k: v for k, v in BASE.items() if k != "prob.yaml"})
    with pytest.raises(EinsumxError) as info:
        import_timeloop(files)
    assert info.value.message.startswith("no 'problem' in the Timeloop files given (")
    assert str(tmp_path / "map.yaml") in info.value.message
    assert info.value.origin.file == str(tmp_path / "arch.yaml")
    rc, _, err = run_cli("import-timeloop", *files)
    assert rc == 2 and err.startswith(f"{tmp_path / 'arch.yaml'}:") and "Traceback" not in err


def test_a_missing_problem_is_reported_at_a_line(tmp_path):
    files = write_files(tmp_path, {k: v for k, v in BASE.items() if k != "prob.yaml"})
    with pytest.raises(EinsumxError) as info:
        import_timeloop(files)
    assert info.value.origin.line is not None


# == 7. the real timeloop-model ================================================

def test_backend_timeloop_without_timeloop_model_is_a_clear_error(tmp_path, monkeypatch):
    # an empty PATH: timeloop-model is absent whether or not this machine has it
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("timeloop-model") is None
    rc, out, err = run_cli("evaluate", workload_path("transformer-projections"), "edge",
                           "--mapping", MAPPINGS / "projections.yaml", "--backend", "timeloop")
    assert rc == 2
    assert out == ""
    assert err.startswith("--backend timeloop: timeloop-model is not on PATH")
    assert "Traceback" not in err


@pytest.mark.skipif(find_timeloop() is None, reason="timeloop-model is not installed")
def test_real_timeloop_model_agrees_on_case_01(tmp_path):
    case, mapping, ref = RUNS[1]  # 01 output-stationary
    imp = import_timeloop(tutorial_files(case, mapping, ref))
    write_timeloop(imp.problem, imp.spec.hierarchy, imp.spec.nest, tmp_path)
    theirs = run_timeloop(tmp_path)
    assert theirs["cycles"] == imp.stats.cycles == 48  # 3 x 16 MACs, one at a time


# == 8. properties over random nests ===========================================
#
# Z[m,n] = A[k,m] * B[k,n] with M, N, K in 1..8, each size's prime factors
# dealt to the temporal or spatial loops of 2 or 3 levels in random order,
# random bypass of inner levels, unbounded buffers (no capacity error).

PRIME_FACTORS = {1: [], 2: [2], 3: [3], 4: [2, 2], 5: [5], 6: [2, 3], 7: [7], 8: [2, 2, 2]}
DIMS = ("M", "N", "K")


def matmul(sizes: dict[str, int]) -> Problem:
    return replace(MATMUL, dims=dict(sizes))


@st.composite
def random_nests(draw):
    sizes = {d: draw(st.integers(1, 8)) for d in DIMS}
    n = draw(st.integers(2, 3))
    temporal = [dict.fromkeys(DIMS, 1) for _ in range(n)]
    spatial = [dict.fromkeys(DIMS, 1) for _ in range(n)]
    for d in DIMS:
        for p in PRIME_FACTORS[sizes[d]]:
            level = draw(st.integers(0, n - 1))
            (spatial if draw(st.integers(0, 3)) == 0 else temporal)[level][d] *= p
    orders = [draw(st.permutations(DIMS)) for _ in range(n)]
    spatial_orders = [draw(st.permutations(DIMS)) for _ in range(n)]
    axes = [{d: draw(st.sampled_from("XY")) for d in DIMS} for _ in range(n)]
    keeps = [None] + [draw(st.sets(st.sampled_from(("A", "B", "Z")))) for _ in range(n - 1)]
    extra = draw(st.integers(1, 2))  # idle PEs beyond the fan-out
    blocks = [draw(st.integers(1, 4)) for _ in range(n)]
    # where to put loops of factor 1 (for the invariance property)
    ones = [draw(st.lists(st.integers(0, 3), min_size=3, max_size=3)) for _ in range(n)]

    instances, levels = 1, []
    for i in range(n):
        levels.append(StorageLevel(f"L{i}", "DRAM" if i == 0 else "SRAM", instances=instances,
                                   block_words=blocks[i],
                                   energy_pj={"read": 1.0 + i, "write": 2.0, "update": 3.0, "leak": 0.5}))
        instances *= math.prod(spatial[i].values())
    h = Hierarchy("random", tuple(levels), ComputeUnit("MAC", instances=instances * extra, energy_pj=1.0))

    def nest(with_ones: bool) -> LoopNest:
        ms = []
        for i in range(n):
            t = [(d, temporal[i][d]) for d in orders[i] if temporal[i][d] > 1]
            if with_ones:
                for d, at in zip(DIMS, ones[i]):
                    if temporal[i][d] == 1:
                        t.insert(min(at, len(t)), (d, 1))
            s = tuple((d, spatial[i][d], axes[i][d]) for d in spatial_orders[i] if spatial[i][d] > 1)
            ms.append(LevelMapping(f"L{i}", tuple(t), s, None if keeps[i] is None else frozenset(keeps[i])))
        return LoopNest(tuple(ms))

    return matmul(sizes), h, nest(False), nest(True)


def keepers(s, tensor: str) -> list:
    return [lv.tensors[tensor] for lv in s.levels.values() if tensor in lv.tensors]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_nests())
def test_loop_nest_invariants(case):
    problem, h, nest, nest_with_ones = case
    s = evaluate(problem, h, nest)
    sizes = problem.dims
    size = {"A": sizes["K"] * sizes["M"], "B": sizes["K"] * sizes["N"], "Z": sizes["M"] * sizes["N"]}

    # every point is computed once: cycles x PEs used = M x N x K
    assert s.computes == sizes["M"] * sizes["N"] * sizes["K"]
    assert s.compute_cycles * s.utilized_computes == s.computes
    assert s.cycles == s.compute_cycles  # no bandwidth limit set
    assert s.utilization == pytest.approx(s.utilized_computes / h.compute.instances)
    assert s.utilization <= 1

    for t in ("A", "B", "Z"):
        chain = keepers(s, t)
        out = t == "Z"
        for x in chain:
            assert min(x.reads, x.fills, x.updates, x.temporal_reductions) >= 0
            assert x.utilized_capacity <= x.partition_size  # a tile lies inside its instance's share
        # the outermost level holds the whole tensor; every element leaves it at least once
        top = chain[0]
        assert top.partition_size == top.utilized_capacity == size[t] and top.fills == 0
        if out:
            assert top.updates >= size[t]
            assert top.reads == top.updates - size[t]
        else:
            assert top.reads >= size[t] and top.updates == 0
        # below the outermost, a read-only tile is filled at least once
        for x in chain[1:]:
            if not out:
                assert x.fills >= x.utilized_capacity
        # the innermost keeper serves every compute, one access per multicast group
        last = chain[-1]
        served = last.updates if out else last.reads
        assert served * last.utilized_instances * last.multicast == s.computes
        # what a parent sends is what its children take in (one access feeding
        # `multicast` children); outputs leave the child once per tile loaded
        for parent, child in zip(chain, chain[1:]):
            sent = (parent.updates if out else parent.reads) * parent.utilized_instances * parent.multicast
            loaded = (child.fills + child.partition_size) if out else child.fills
            assert sent == loaded * child.utilized_instances

    # loops of factor 1, wherever they sit, change nothing
    assert evaluate(problem, h, nest_with_ones).as_dict() == s.as_dict()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_nests())
def test_random_nests_survive_write_and_read(case):
    problem, h, nest, nest_with_ones = case
    before = evaluate(problem, h, nest_with_ones)
    with tempfile.TemporaryDirectory() as d:
        write_timeloop(problem, h, nest_with_ones, d)
        spec = read_timeloop([Path(d) / f for f in FILES])
    after = evaluate(spec.problem, spec.hierarchy, spec.nest)
    assert numbers(after.as_dict()) == numbers(before.as_dict())


def test_two_real_loops_over_one_dimension_at_a_level_cannot_be_written():
    # M=2 twice at DRAM: a Timeloop mapping has one factor per dimension per
    # level, so the writer refuses rather than keep only one of them
    nest = LoopNest((LevelMapping("DRAM", (("M", 2), ("K", 3), ("M", 2))), LevelMapping("Buffer", (("N", 4),))))
    with pytest.raises(EinsumxError) as err:
        mapping_yaml(MATMUL, nest)
    assert err.value.message == ("level DRAM has two temporal loops over M: a Timeloop mapping gives one factor "
                                 "per dimension per level")
