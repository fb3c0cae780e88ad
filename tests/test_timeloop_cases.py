"""einsumx's loop-nest model against Timeloop's own reference outputs.

Each case of ``tests/data/timeloop-cases`` (Timeloop's tutorial exercises
00-03, seven mappings) is imported twice: from the tutorial's own
architecture, problem and mapping files (with the ERT/ART Accelergy wrote
for them), and from Timeloop's expanded ``parsed-processed-input.yaml``.
Both must equal the stored ``timeloop-model.stats.txt``: cycles and
utilization exactly, every per-level, per-tensor count (reads, fills,
updates, temporal reductions, utilized capacity, partition size) exactly,
and energy per level and fJ/compute within 0.5%.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from einsumx.interop.timeloop import import_timeloop
from einsumx.interop.timeloop.stats import format_stats, parse_stats

CASES = ROOT / "tests" / "data" / "timeloop-cases"

# case directory, mapping file, reference-output subdirectory
RUNS = [
    ("00-model-conv1d-1level", "conv1d-1level.map.yaml", ""),
    ("01-model-conv1d-2level", "conv1d-2level-os.map.yaml", "os"),
    ("01-model-conv1d-2level", "conv1d-2level-ws.map.yaml", "ws"),
    ("02-model-conv1d+oc-2level", "conv1d+oc-2level-os.map.yaml", "no-tiling"),
    ("02-model-conv1d+oc-2level", "conv1d+oc-2level-os-tiled.map.yaml", "tiling"),
    ("03-model-conv1d+oc-3level", "conv1d+oc-3level.map.yaml", "no-bypass"),
    ("03-model-conv1d+oc-3level", "conv1d+oc-3level-bypass.map.yaml", "bypass"),
]
IDS = [f"{case[:2]}-{ref or 'ref'}" for case, _, ref in RUNS]
COUNTS = ("reads", "fills", "updates", "temporal_reductions", "utilized_capacity", "partition_size",
          "utilized_instances")


def tutorial_files(case: str, mapping: str, ref: str) -> list[Path]:
    d = CASES / case
    out = d / "ref-output" / ref
    return [*sorted((d / "arch").glob("*.yaml")), *sorted((d / "prob").glob("*.yaml")), d / "map" / mapping,
            out / "timeloop-model.ERT.yaml", out / "timeloop-model.ART.yaml"]


def expanded_files(case: str, ref: str) -> list[Path]:
    out = CASES / case / "ref-output" / ref
    return [out / "parsed-processed-input.yaml", out / "timeloop-model.ERT.yaml", out / "timeloop-model.ART.yaml"]


def reference(case: str, ref: str) -> dict:
    return parse_stats((CASES / case / "ref-output" / ref / "timeloop-model.stats.txt").read_text())


def check_against_reference(stats, ref: dict) -> int:
    """Assert every number of ``ref`` (a parsed stats file); returns how many were compared."""
    mine = stats.as_dict()
    compared = 0
    assert mine["cycles"] == ref["cycles"]
    # Timeloop prints utilization to two decimals of a percent
    assert round(100 * mine["utilization"], 2) == pytest.approx(100 * ref["utilization"], abs=1e-9)
    assert mine["computes"] == ref["computes"] == ref["compute"]["computes"]
    assert mine["compute"]["utilized_instances"] == ref["compute"]["utilized_instances"]
    assert mine["compute"]["energy_pj"] == pytest.approx(ref["compute"]["energy_pj"], rel=5e-3)
    assert set(mine["levels"]) == set(ref["levels"])
    for level, lv in ref["levels"].items():
        assert set(mine["levels"][level]) == set(lv["tensors"]), level
        for tensor, expected in lv["tensors"].items():
            got = mine["levels"][level][tensor]
            for key in COUNTS:
                assert got[key] == expected[key], (level, tensor, key)
                compared += 1
            # per-tensor energy: Timeloop prints two decimals
            assert got["energy_pj"] == pytest.approx(expected["energy_pj"], rel=5e-3, abs=0.006), (level, tensor)
        assert mine["leak_energy_pj"][level] == pytest.approx(lv["leak_pj"], abs=0.006)
    # energy per level and in total, per compute
    assert set(mine["fj_per_compute"]) == set(ref["fj_per_compute"])
    for name, fj in ref["fj_per_compute"].items():
        assert mine["fj_per_compute"][name] == pytest.approx(fj, rel=5e-3), name
        compared += 1
    return compared


@pytest.mark.parametrize(("case", "mapping", "ref"), RUNS, ids=IDS)
def test_tutorial_files_match_timeloop(case, mapping, ref):
    imp = import_timeloop(tutorial_files(case, mapping, ref))
    assert check_against_reference(imp.stats, reference(case, ref)) >= 3 * 7 + 2


@pytest.mark.parametrize(("case", "mapping", "ref"), RUNS, ids=IDS)
def test_expanded_input_matches_timeloop(case, mapping, ref):
    imp = import_timeloop(expanded_files(case, ref))
    check_against_reference(imp.stats, reference(case, ref))


@pytest.mark.parametrize(("case", "mapping", "ref"), RUNS, ids=IDS)
def test_printed_stats_read_back_as_timeloop_prints_them(case, mapping, ref):
    """What einsumx prints in Timeloop's layout parses to the reference numbers too."""
    imp = import_timeloop(expanded_files(case, ref))
    printed = parse_stats(format_stats(imp.stats))
    expected = reference(case, ref)
    assert printed["cycles"] == expected["cycles"]
    for level, lv in expected["levels"].items():
        for tensor, counts in lv["tensors"].items():
            for key in ("reads", "fills", "updates"):
                assert printed["levels"][level]["tensors"][tensor][key] == counts[key]
    assert printed["fj_per_compute"]["Total"] == pytest.approx(expected["fj_per_compute"]["Total"], abs=0.006)


def test_sliding_window_fills_only_the_new_edge():
    # 01 output-stationary: the Buffer holds 3 inputs (R); each of the 16
    # steps of P shifts the window by one, so 3 + 15 x 1 = 18 fills, not 48
    imp = import_timeloop(expanded_files("01-model-conv1d-2level", "os"))
    inputs = imp.stats.levels["Buffer"].tensors["Inputs"]
    assert (inputs.utilized_capacity, inputs.fills, inputs.reads) == (3, 18, 48)


def test_bypassed_outputs_go_straight_to_main_memory():
    # 03 bypass: the global buffer does not hold Outputs; the register file's
    # 256 tiles of 2 partial sums each reach MainMemory as 512 updates, and no
    # partial sum is read back (each tile is finished before it leaves)
    imp = import_timeloop(expanded_files("03-model-conv1d+oc-3level", "bypass"))
    assert "Outputs" not in imp.stats.levels["GlobalBuffer"].tensors
    assert imp.stats.levels["MainMemory"].tensors["Outputs"].updates == 512
    assert imp.stats.levels["MainMemory"].tensors["Outputs"].reads == 0
    rf = imp.stats.levels["RegisterFile"].tensors["Outputs"]
    assert (rf.updates, rf.reads, rf.fills) == (1536, 1024, 0)  # 1536 - 512 first writes


def test_vectors_are_charged_whole():
    # 03 bypass, GlobalBuffer (8 words per vector): Inputs' 18 fills are
    # ceil(18/8) = 3 writes of 30.878292 pJ, its 1536 reads 192 of 43.353054 pJ
    imp = import_timeloop(expanded_files("03-model-conv1d+oc-3level", "bypass"))
    inputs = imp.stats.levels["GlobalBuffer"].tensors["Inputs"]
    assert inputs.energy_pj == pytest.approx(3 * 30.878292 + 192 * 43.353054, rel=1e-12)
