"""Design-space sweeps: grid values, spec checks, numbers against
``einsumx.model.evaluate``, resuming after a kill or Ctrl-C, recognising a
finished sweep, Dask, the Pareto front and ``einsumx query``.

The sweeps run on copies of the shipped workload, architecture and mapping
files (the ``inputs`` fixture), so that an edit to ``architectures/`` made
while the suite runs cannot change a sweep's digest between two runs of
the "same" sweep.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from einsumx import EinsumxError
from einsumx.cli import main
from einsumx.pareto import PREFILTER, brute_force, nondominated
from einsumx.sweep import load_spec, query, resolve, run_sweep
from einsumx.sweep.grid import parse_values
from einsumx.sweep.spec import binding_label

KiB, MiB = 2**10, 2**20


# -- helpers


def cli(*argv: str) -> tuple[int, str, str]:
    """``einsumx ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def cli_process(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``einsumx ARGV`` as its own process (the real exit code and stderr)."""
    return subprocess.run([sys.executable, "-m", "einsumx.cli", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def chunk_files(out: Path) -> list[Path]:
    return sorted((out / "points").glob("run=*/chunk-*.parquet"))


def rows(out: Path) -> pd.DataFrame:
    """Every stored row, ordered by (run, point)."""
    return query(out, "SELECT * FROM points ORDER BY run, point").reset_index(drop=True)


def map_column(choice: str) -> str:
    """The store's column of a mapper choice: ``phase 1.reuse.K`` -> ``map_phase_1_reuse_K``."""
    return "map_" + re.sub(r"[^0-9A-Za-z]+", "_", choice).strip("_")


def assert_one_line_error(rc: int, err: str, *fragments: str) -> str:
    """Exit 2, no traceback, one message line holding every fragment (an
    echo of the offending text and a caret may follow it); the message line."""
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert lines, "no error message"
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert len(lines) in (1, 3), err  # the message, or the message, the echoed source and a caret
    if len(lines) == 3:
        assert lines[2].strip() == "^", err
    return lines[0]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Copies of the shipped files the sweeps use (see the module doc)."""
    d = tmp_path_factory.mktemp("inputs")
    files = {}
    for name in ("attention-1pass", "attention-3pass", "mamba1-scan"):
        files[name] = Path(shutil.copy(ROOT / "workloads" / f"{name}.yaml", d / f"{name}.yaml"))
    for name in ("fusemax", "flat", "tpu"):
        files[name] = Path(shutil.copy(ROOT / "architectures" / f"{name}.yaml", d / f"{name}.yaml"))
    for name in ("fusemax-attention", "flat-attention", "unfused-attention", "mamba-scan"):
        files[name] = Path(shutil.copy(ROOT / "architectures" / "mappings" / f"{name}.yaml", d / f"map-{name}.yaml"))
    return files


def ref_argv(inputs, out: Path) -> list[str]:
    """A 256-point sweep in 32 chunks of 8: attention-3pass on flat with the
    fused (FLAT) and the unfused mapping; 4 x 8 x 4 grid points per run."""
    return ["sweep", str(inputs["attention-3pass"]), "--arch", str(inputs["flat"]),
            "--mapping", str(inputs["flat-attention"]), str(inputs["unfused-attention"]),
            "--grid", "seq=1K..64K*4", "--grid", "batch=1..8", "--grid", "GLB.capacity_bytes=64KiB,1MiB,4MiB,16MiB",
            "--chunk-points", "8", "--workers", "1", "-q", "--out", str(out)]


REF_POINTS, REF_CHUNKS = 256, 32


@pytest.fixture(scope="module")
def ref_store(inputs, tmp_path_factory) -> Path:
    """The reference sweep, run once without interruption."""
    out = tmp_path_factory.mktemp("ref") / "B"
    rc, stdout, err = cli(*ref_argv(inputs, out))
    assert rc == 0, err
    assert f"{REF_POINTS} points in 2 runs" in stdout
    assert len(chunk_files(out)) == REF_CHUNKS
    return out


# -- 1. grid values


def test_parse_values_ranges_lists_and_units():
    assert parse_values("seq", "1K..1M*4") == [1024, 4096, 16384, 65536, 262144, 1048576]
    assert parse_values("batch", "1..4") == [1, 2, 3, 4]
    assert parse_values("batch", "2..11+3") == [2, 5, 8, 11]
    assert parse_values("seq", "1K,4K, 16K") == [1024, 4096, 16384]
    assert parse_values("GLB.capacity_bytes", "4MiB,16 MiB") == [4 * MiB, 16 * MiB]
    assert parse_values("GLB.capacity_bytes", "64KiB,1 MB") == [65536, 1_000_000]
    assert parse_values("DRAM.bandwidth_bytes_per_s", "400 GB/s") == [400_000_000_000]
    assert parse_values("clock_hz", "800MHz") == [800_000_000]
    assert parse_values("clock_hz", "1.5 GHz") == [1_500_000_000]
    # whole numbers are ints, others floats, and a decimal step does not drift
    assert [type(v) for v in parse_values("seq", "1K..4K*2")] == [int, int, int]
    assert parse_values("x", "1..2+0.25") == [1, 1.25, 1.5, 1.75, 2]
    assert parse_values("x", "0.1..0.2+0.1") == [0.1, 0.2]


@pytest.mark.parametrize("item, key, fragment", [
    ("seq=", "seq", "empty grid"),
    ("seq=1..4*1", "seq", "never advances"),
    ("seq=1..8+0", "seq", "never advances"),
    ("GLB.capacity_bytes=4 furlongs", "GLB.capacity_bytes", "unit 'furlongs' does not fit"),
    ("clock_hz=800 MB", "clock_hz", "unit 'MB' does not fit"),
    ("seq=abc", "seq", "'abc' is not a number"),
    # a bare binary suffix on a rate would silently be 838,860,800 Hz
    ("clock_hz=800M", "clock_hz", "'800M' is ambiguous for a rate: a bare M is binary (800M = 838,860,800); write 800 MHz"),
    ("DRAM.bandwidth_bytes_per_s=1K..4K*2", "DRAM.bandwidth_bytes_per_s", "(1K = 1,024); write the number itself"),
])
def test_grid_errors_on_the_command_line(item, key, fragment, inputs, tmp_path):
    out = tmp_path / "out"
    p = cli_process("sweep", inputs["attention-1pass"], "--arch", inputs["fusemax"], "--grid", item,
                    "--out", out, "-q", cwd=tmp_path)
    line = assert_one_line_error(p.returncode, p.stderr, f"{key}: ", fragment)
    assert line.startswith("--grid:1:")
    assert p.stderr.splitlines()[1].strip() == item  # the option, echoed under the message
    assert p.stdout == ""
    assert not out.exists()


def test_grid_decimal_range_includes_its_end():
    assert parse_values("GLB.read_pj", "0.1..0.3+0.1") == [0.1, 0.2, 0.3]


def test_grid_exponents():
    assert parse_values("seq", "1e+3") == [1000]
    assert parse_values("seq", "1e3..3e3+1e3") == [1000, 2000, 3000]


def test_grid_range_end_with_signed_exponent_is_a_number():
    assert parse_values("seq", "1..1e+1") == list(range(1, 11))


# -- 2. bad specs are rejected before any work starts


def assert_nothing_stored(out: Path) -> None:
    assert not (out / "sweep.json").exists()
    assert not out.exists() or not list(out.rglob("*.parquet"))


def test_unknown_grid_parameter(inputs, tmp_path):
    out = tmp_path / "out"
    rc, stdout, err = cli("sweep", inputs["attention-1pass"], "--arch", inputs["fusemax"], "--grid", "sqe=1K", "--out", out,
                          "-q")
    line = assert_one_line_error(rc, err, "--grid:1:1:", "unknown parameter 'sqe'", "seq")  # lists what exists
    assert "GLB.capacity_bytes" in line
    assert_nothing_stored(out)


def test_non_integer_rank_size_at_a_grid_point(inputs, tmp_path):
    # attention-1pass splits M = seq into M1 chunks of M0 = chunk = 256 keys: 1000/256 = 125/32
    out = tmp_path / "out"
    rc, stdout, err = cli("sweep", inputs["attention-1pass"], "--arch", inputs["fusemax"], "--mapping",
                          inputs["fusemax-attention"], "--grid", "seq=1K,1000", "--out", out, "-q")
    assert rc == 2 and "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("--grid:1:1: grid point seq=1000 of workload attention-1pass")
    assert "rank 'M1' has non-integer size M / M0 = 125/32" in first
    assert "seq=1024" not in first  # the first grid point is fine: the bad one is named
    assert_nothing_stored(out)


NOEXP = """\
name: noexp
description: edge without an exponential unit anywhere
technology: 45nm
clock_hz: 800 MHz
word_bits: 16
dram: {bandwidth_bytes_per_s: 25.6 GB/s, access_bits: 64, read_pj: 249.6, write_pj: 249.6}
global_buffer: {capacity_bytes: 1 MiB, row_bits: 512, banks: 8, read_pj: 60.62, write_pj: 56.41, area_mm2_per_mib: 16.23}
arrays:
  PE2D:
    axes: {rows: 32, cols: 32}
    idle_pj_per_pe_cycle: 0.6
    register_file: {words: 16, read_pj: 0.6534, write_pj: 0.5696, area_um2_per_word: 266}
    operators:
      mac: {cycles: 1, energy_pj: 17.1645, area_um2: 1545}
      add: {cycles: 1, energy_pj: 8.3395, area_um2: 1030}
      max: {cycles: 1, energy_pj: 0.028, area_um2: 49.3}
      mul: {via: {mac: 1}}
  PE1D:
    axes: {lanes: 32}
    idle_pj_per_pe_cycle: 0.6
    register_file: {words: 32, read_pj: 0.6534, write_pj: 0.5696, area_um2_per_word: 266}
    operators:
      add: {cycles: 1, energy_pj: 8.3395, area_um2: 1030}
      mac: {cycles: 1, energy_pj: 17.1645, area_um2: 1545}
      div: {cycles: 1, energy_pj: 36.2512, area_um2: 3090}
      mul: {via: {mac: 1}}
      max: {via: {add: 1}}
"""


def test_architecture_that_cannot_run_an_operator(inputs, tmp_path):
    # (mamba1-scan on tpu, the case first suggested, runs since tpu got a 'log': an
    # architecture without any 'exp' cannot run attention's softmax numerator.)
    arch = tmp_path / "noexp.yaml"
    arch.write_text(NOEXP)
    out = tmp_path / "out"
    rc, stdout, err = cli("sweep", inputs["attention-1pass"], "--arch", arch, inputs["fusemax"], "--grid", "seq=1K,4K",
                          "--out", out, "-q")
    line = assert_one_line_error(rc, err, "architecture 'noexp'", str(arch), "cannot run workload 'attention-1pass'",
                                 "no array of noexp runs 'SLN'", "exp(")
    assert line.startswith(f"{inputs['attention-1pass']}:")  # points at the Einsum needing exp
    assert_nothing_stored(out)


@pytest.mark.parametrize("body, where, fragment", [
    ("grdi:\n  seq: 1K\n", ":4:1:", "unknown key 'grdi' in sweep"),
    ("grid:\n  seq: 1K..4K*4\n  sqe: [1024]\n", ":6:3:", "grid: unknown parameter 'sqe'"),
    ("grid:\n  seq: 1K..4K*4\n  GLB.capacity_byte: [4194304]\n", ":6:3:", "grid: unknown parameter 'GLB.capacity_byte'"),
    ("grid:\n  seq: []\n", ":5:8:", "grid: seq: empty grid (no values)"),
])
def test_sweep_file_mistakes_name_file_and_line(body, where, fragment, inputs, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"name: bad\nworkloads: [{inputs['attention-1pass']}]\narchitectures: [{inputs['fusemax']}]\n" + body)
    out = tmp_path / "out"
    rc, stdout, err = cli("sweep", "--spec", spec, "--out", out, "-q")
    line = assert_one_line_error(rc, err, fragment)
    assert line.startswith(f"{spec}{where} "), line
    assert_nothing_stored(out)


def test_misspelt_hardware_key_with_units_is_an_unknown_parameter(inputs, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"name: bad\nworkloads: [{inputs['attention-1pass']}]\narchitectures: [{inputs['fusemax']}]\n"
                    "grid:\n  GLB.capacity_byte: [4 MiB]\n")
    rc, stdout, err = cli("sweep", "--spec", spec, "--out", tmp_path / "out", "-q")
    assert rc == 2
    assert "unknown parameter 'GLB.capacity_byte'" in err


def test_workloads_after_arch_are_named_in_the_error(inputs, tmp_path):
    out = tmp_path / "out"
    rc, stdout, err = cli("sweep", "--arch", inputs["fusemax"], inputs["attention-1pass"], "--grid", "seq=1K", "--out", out, "-q")
    assert_one_line_error(rc, err, f"--arch took '{inputs['attention-1pass']}'", "name the workloads before the options")
    assert_nothing_stored(out)


def test_a_listed_mapping_that_fits_no_pair_is_a_note_not_silence(inputs, tmp_path):
    sweep = resolve(load_spec(None, [str(inputs["attention-1pass"]), str(inputs["mamba1-scan"])], [str(inputs["fusemax"])],
                              [str(inputs["fusemax-attention"])], ["seq=1K"]))
    assert [(r.workload_name, r.mapping_name) for r in sweep.runs] == [("attention-1pass", "fusemax"), ("mamba1-scan", "auto")]
    assert sweep.notes == ["mamba1-scan on fusemax: none of the listed mappings is written for it; using the automatic mapping"]


# -- 3. the numbers equal einsumx.model.evaluate


def _evaluate_point(workload: str, arch: str, mapping: str | None, overrides: list[str]) -> dict:
    """``evaluate`` at one point, reduced to what the store holds (picklable)."""
    from einsumx.model import evaluate

    try:
        ev = evaluate(workload, arch, mapping, overrides=overrides)
    except EinsumxError as err:
        return {"error": err.message}
    res = ev.results
    return {"latency_s": res["latency_s"], "energy_pj": res["energy_pj"], "area_mm2": res["area_mm2"],
            "dram_bytes": res["dram_bytes"], "binding": binding_label(ev.model.mapping, ev.model),
            "choices": {map_column(s.name): int(ev.values[s]) for s in ev.model.choices}}


def _sample(df: pd.DataFrame, rng, extra: int) -> pd.DataFrame:
    """One row per (feasible, mapper choices) group of each run (every
    distinct tile choice, every kind of infeasible point), plus ``extra``
    random rows per run."""
    picked = []
    for _, g in df.groupby("run"):
        cols = ["feasible"] + [c for c in g.columns if c.startswith("map_") and g[c].notna().all()]
        for _, grp in g.groupby(cols):
            picked.append(grp.iloc[rng.integers(len(grp))])
        picked += [g.iloc[i] for i in rng.choice(len(g), extra, replace=False)]
    return pd.DataFrame(picked).drop_duplicates(subset=["run", "point"])


def test_sweep_numbers_equal_evaluate(inputs, tmp_path):
    sweeps = [
        ([inputs["attention-1pass"]], [inputs["fusemax"]], [inputs["fusemax-attention"]],
         ["seq=1K..64K*4", "batch=1,8", "GLB.capacity_bytes=64KiB,4MiB,16MiB"]),
        ([inputs["attention-3pass"]], [inputs["flat"]], [inputs["flat-attention"], inputs["unfused-attention"]],
         ["seq=1K..64K*4", "batch=1,8", "GLB.capacity_bytes=64KiB,4MiB,16MiB"]),
        ([inputs["attention-3pass"]], [inputs["flat"]], [inputs["flat-attention"]],
         ["seq=1K,16K", "PE2D.rows=64,256", "PE2D.cols=32,256", "GLB.capacity_bytes=64KiB,4MiB"]),
    ]
    rng = np.random.default_rng(7)
    jobs = []
    for i, (w, a, m, grid) in enumerate(sweeps):
        sweep = resolve(load_spec(None, [str(x) for x in w], [str(x) for x in a], [str(x) for x in m], grid))
        out = tmp_path / f"s{i}"
        res = run_sweep(sweep, out, workers=1, quiet=True)
        df = rows(out)
        assert len(df) == res.points == sum(r.points for r in sweep.runs) == (24 * len(m) if i < 2 else 16)
        # the grid columns hold the grid, whole numbers as integers
        assert sorted(df["seq"].unique()) == ([1024, 4096, 16384, 65536] if i < 2 else [1024, 16384])
        if i == 2:
            assert sorted(df["PE2D_rows"].unique()) == [64, 256] and sorted(df["PE2D_cols"].unique()) == [32, 256]
        else:
            assert sorted(df["GLB_capacity_bytes"].unique()) == [64 * KiB, 4 * MiB, 16 * MiB]
        for _, r in _sample(df, rng, extra=1).iterrows():
            run = sweep.runs[int(r["run"])]
            overrides = [f"{k.name}={int(r[k.column])}" for k in run.keys]
            jobs.append((r, (run.workload.path, run.architecture.path, run.mapping.path, overrides)))
    assert 15 <= len(jobs) <= 30
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(_evaluate_point, *zip(*[j for _, j in jobs])))
    infeasible = set()
    for (r, (w, a, m, overrides)), ev in zip(jobs, results):
        where = f"{Path(m).name} {overrides}"
        if "error" in ev:
            assert "does not fit" in ev["error"], (where, ev["error"])
            assert not r["feasible"], where
            infeasible.add(Path(m).name)
            continue
        assert r["feasible"], (where, "evaluate fits, the sweep says infeasible")
        for col in ("latency_s", "energy_pj", "area_mm2", "dram_bytes"):
            assert r[col] == pytest.approx(ev[col], rel=1e-9), (where, col)
        assert ev["choices"], where
        for col, v in ev["choices"].items():
            assert int(r[col]) == v, (where, col)
    assert infeasible == {"map-fusemax-attention.yaml", "map-unfused-attention.yaml"}  # were checked where they do not fit


def test_sweep_searches_the_binding_per_point_as_evaluate_does(inputs, tmp_path):
    """mamba-scan.yaml has 'bind: auto': with a 128-lane VPU the search moves
    work off the 8-row MXU that an 8-lane VPU keeps there. The sweep searches
    per combination of the keys the search depends on, so both points carry
    evaluate's binding and numbers."""
    sweep = resolve(load_spec(None, [str(inputs["mamba1-scan"])], [str(inputs["tpu"])], [str(inputs["mamba-scan"])],
                              ["MXU.rows=8", "VPU.lanes=8,128", "DRAM.bandwidth_bytes_per_s=100 GB/s,400 GB/s"]))
    (run,) = sweep.runs
    assert [run.keys[i].name for i in run.binding_keys] == ["MXU.rows", "VPU.lanes"]  # not the bandwidth
    assert len(run.bindings) == 2
    run_sweep(sweep, tmp_path / "s", workers=1, quiet=True)
    df = rows(tmp_path / "s")
    assert list(df["VPU_lanes"]) == [8, 8, 128, 128]
    assert df["binding"][0] == df["binding"][1] != df["binding"][2] == df["binding"][3]
    for r in df.itertuples():
        ev = _evaluate_point(str(inputs["mamba1-scan"]), str(inputs["tpu"]), str(inputs["mamba-scan"]),
                             ["MXU.rows=8", f"VPU.lanes={r.VPU_lanes}", f"DRAM.bandwidth_bytes_per_s={r.DRAM_bandwidth_bytes_per_s}"])
        assert r.binding == ev["binding"]
        assert r.latency_s == pytest.approx(ev["latency_s"], rel=1e-9)
        assert r.energy_pj == pytest.approx(ev["energy_pj"], rel=1e-9)


def test_sweep_places_intermediates_per_point_as_evaluate_does(inputs, tmp_path):
    """Whether an intermediate lives in a PE's registers is decided by
    comparing its per-PE slice with the register file: SPNV's slice is
    256 x embed / lanes = 64 words per 1D PE, so it moves from the global
    buffer to the registers once PE1D.rf.words reaches 64. The sweep builds
    one model per outcome and stores each point with its own; every point
    equals evaluate."""
    sweep = resolve(load_spec(None, [str(inputs["attention-1pass"])], [str(inputs["fusemax"])],
                              [str(inputs["fusemax-attention"])],
                              ["seq=4K", "PE1D.rf.words=4,16,64,512", "GLB.capacity_bytes=1MiB,16MiB"]))
    (run,) = sweep.runs
    assert [run.keys[i].name for i in run.binding_keys] == ["PE1D.rf.words"]
    assert len(run.bindings) == 2
    run_sweep(sweep, tmp_path / "s", workers=1, quiet=True)
    df = rows(tmp_path / "s")
    df["held"] = df["binding"].str.endswith(" SPNV")
    assert list(df.loc[df["held"], "PE1D_rf_words"].unique()) == [64, 512]
    # the buffer no longer holds SPNV's 256 x 64 words of 16 bits, at each buffer size (same tiles)
    for _, g in df.groupby("GLB_capacity_bytes"):
        assert set(g.loc[~g["held"], "buffer_GLB_required_bytes"] - 256 * 64 * 2) == set(g.loc[g["held"], "buffer_GLB_required_bytes"])
    for r in df.itertuples():
        ev = _evaluate_point(str(inputs["attention-1pass"]), str(inputs["fusemax"]), str(inputs["fusemax-attention"]),
                             ["seq=4096", f"PE1D.rf.words={r.PE1D_rf_words}", f"GLB.capacity_bytes={r.GLB_capacity_bytes}"])
        if "error" in ev:
            assert not r.feasible
            continue
        assert r.binding == ev["binding"]
        assert r.latency_s == pytest.approx(ev["latency_s"], rel=1e-9)
        assert r.energy_pj == pytest.approx(ev["energy_pj"], rel=1e-9)


# -- 4. resuming after a kill, Ctrl-C, stray temporary files


def _start_and_stop(argv: list[str], out: Path, sig: int, cwd: Path, at_least: int = 2) -> subprocess.Popen:
    """Start the sweep as a process and send ``sig`` once ``at_least`` chunk files exist."""
    # a shell that runs the tests in the background starts them with SIGINT ignored; the sweep must see Ctrl-C
    proc = subprocess.Popen([sys.executable, "-m", "einsumx.cli", *argv], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if len(chunk_files(out)) >= at_least:
                proc.send_signal(sig)
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc


def test_resume_after_sigkill_equals_an_uninterrupted_run(inputs, ref_store, tmp_path):
    out = tmp_path / "A"
    argv = ref_argv(inputs, out)
    proc = _start_and_stop(argv, out, signal.SIGKILL, tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    stored = chunk_files(out)
    assert 0 < len(stored) < REF_CHUNKS  # killed part way
    assert json.loads((out / "sweep.json").read_text())["status"] == "running"

    # a temporary chunk left by a kill (here: a copy of a real chunk, so reading it would duplicate rows)
    stray = out / "points" / "run=0" / ".chunk-000001.parquet.123.tmp"
    shutil.copy(stored[0], stray)
    partial = query(out, "SELECT count(*) AS n, count(DISTINCT (run, point)) AS d FROM points")
    assert partial["n"][0] == partial["d"][0] == 8 * len(stored)

    p = cli_process(*argv, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    computed = REF_POINTS - 8 * len(stored)
    assert f"{REF_POINTS} points in 2 runs stored in {out} ({computed} evaluated" in p.stdout
    assert not stray.exists()
    assert not list(out.rglob("*.tmp"))
    assert json.loads((out / "sweep.json").read_text())["status"] == "complete"
    assert len(chunk_files(out)) == REF_CHUNKS

    counts = query(out, "SELECT count(*) AS n, count(DISTINCT (run, point)) AS d FROM points")
    assert counts["n"][0] == counts["d"][0] == REF_POINTS
    a, b = rows(out), rows(ref_store)
    assert set(zip(a["run"], a["point"])) == {(r, p) for r in (0, 1) for p in range(128)}
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_exits_130_and_resumes(inputs, ref_store, tmp_path, workers):
    # with 2 workers, chunks under way when Ctrl-C comes finish before the count is printed
    out = tmp_path / "C"
    argv = ref_argv(inputs, out)
    argv[argv.index("--workers") + 1] = workers
    proc = _start_and_stop(argv, out, signal.SIGINT, tmp_path)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    stored = len(chunk_files(out))
    assert 0 < stored < REF_CHUNKS
    assert f"interrupted: {8 * stored} of {REF_POINTS} points stored in {out}; run the same command again to resume" in err

    p = cli_process(*argv, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert f"({REF_POINTS - 8 * stored} evaluated" in p.stdout
    pd.testing.assert_frame_equal(rows(out), rows(ref_store))


# -- 5. a finished sweep is recognised; another sweep is refused


def test_finished_sweep_is_not_recomputed_and_another_is_refused(inputs, ref_store, tmp_path):
    out = tmp_path / "B"
    shutil.copytree(ref_store, out)
    old = 1_000_000_000
    for f in chunk_files(out) + [out / "runs.parquet", out / "sweep.json"]:
        os.utime(f, (old, old))
    argv = ref_argv(inputs, out)
    rc, stdout, err = cli(*argv)
    assert rc == 0, err
    assert f"is already complete: {REF_POINTS} points in {out} (nothing recomputed)" in stdout
    stamps = {f.name: f.stat().st_mtime for f in chunk_files(out) + [out / "runs.parquet", out / "sweep.json"]}
    assert set(stamps.values()) == {old}, stamps

    # the same inputs named by relative paths from another directory: recognised before any model is built
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = [os.path.relpath(a, elsewhere) if os.path.isabs(a) else a for a in argv if a != "-q"]
    p = cli_process(*relative, cwd=elsewhere)
    assert p.returncode == 0, p.stderr
    assert f"is already complete: {REF_POINTS} points in" in p.stdout
    assert "checking" not in p.stderr, p.stderr
    assert {f.stat().st_mtime for f in chunk_files(out)} == {old}

    # a different grid: refused, the store untouched
    other = [a if a != "batch=1..8" else "batch=1..4" for a in argv]
    rc, stdout, err = cli(*other)
    line = assert_one_line_error(rc, err, f"{out} holds another sweep", "--overwrite")
    assert line.startswith(f"{out / 'sweep.json'}: ")
    assert {f.stat().st_mtime for f in chunk_files(out)} == {old}
    assert len(chunk_files(out)) == REF_CHUNKS

    # --overwrite replaces it: 128 points in 16 chunks, none of the old 32 chunk files left
    rc, stdout, err = cli(*other, "--overwrite")
    assert rc == 0, err
    assert "128 points in 2 runs" in stdout and "(128 evaluated" in stdout
    files = chunk_files(out)
    assert len(files) == 16 and all(f.stat().st_mtime > old for f in files)
    df = rows(out)
    assert len(df) == 128 and sorted(df["batch"].unique()) == [1, 2, 3, 4]
    assert json.loads((out / "sweep.json").read_text())["grid"]["batch"] == [1, 2, 3, 4]


# -- 6. Dask


def test_dask_local_cluster_equals_local_processes(inputs, tmp_path):
    from distributed import LocalCluster

    spec = load_spec(None, [str(inputs["attention-3pass"])], [str(inputs["flat"])], [str(inputs["flat-attention"])],
                     ["seq=1K..64K*4", "batch=1..4", "GLB.capacity_bytes=64KiB,16MiB"], chunk_points=4)
    sweep = resolve(spec)
    assert sweep.points == 32 and sweep.runs[0].chunks == 8
    one = run_sweep(sweep, tmp_path / "one", workers=1, quiet=True)
    two = run_sweep(sweep, tmp_path / "two", workers=2, quiet=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        dask = run_sweep(sweep, tmp_path / "dask", scheduler=cluster.scheduler_address, quiet=True)
    assert one.computed_points == two.computed_points == dask.computed_points == 32
    a = rows(tmp_path / "one")
    assert list(zip(a["run"], a["point"])) == [(0, p) for p in range(32)]
    pd.testing.assert_frame_equal(rows(tmp_path / "two"), a)
    pd.testing.assert_frame_equal(rows(tmp_path / "dask"), a)
    for d in ("one", "two", "dask"):
        assert len(chunk_files(tmp_path / d)) == 8
        assert json.loads((tmp_path / d / "sweep.json").read_text())["digest"] == sweep.digest


# -- 7. Pareto fronts


@st.composite
def objective_sets(draw):
    n = draw(st.integers(0, 300))
    d = draw(st.integers(1, 4))
    values = draw(st.lists(st.integers(0, 5), min_size=n * d, max_size=n * d))
    x = np.asarray(values, dtype=float).reshape(n, d)
    nan_rows = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=5)) if n else []
    for i in nan_rows:
        x[i, draw(st.integers(0, d - 1))] = np.nan
    maximize = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    return x, maximize


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objective_sets())
def test_nondominated_equals_brute_force(case):
    x, maximize = case
    got = nondominated(x, maximize)
    assert got.dtype == bool and got.shape == (len(x),)
    np.testing.assert_array_equal(got, brute_force(x, maximize))


def test_nondominated_examples():
    assert nondominated([[1, 4], [2, 2], [3, 3], [4, 1], [2, 2]]).tolist() == [True, True, False, True, True]
    assert nondominated([[1, 4], [2, 2]], maximize=[False, True]).tolist() == [True, False]
    assert nondominated([[1, np.nan], [2, 2], [3, 1]]).tolist() == [False, True, True]
    assert nondominated([[3], [1], [1], [2]]).tolist() == [False, True, True, False]
    assert nondominated(np.empty((0, 2))).tolist() == []


@pytest.mark.parametrize("d", [2, 3, 4])
def test_nondominated_large_with_prefilter(d):
    rng = np.random.default_rng(d)
    n = PREFILTER + 500
    x = rng.integers(0, 40, size=(n, d)).astype(float)
    x[rng.choice(n, 300)] = x[rng.choice(n, 300)]  # duplicate rows
    x[rng.choice(n, 20), 0] = np.nan
    maximize = [bool(j % 2) for j in range(d)]
    got = nondominated(x, maximize)
    want = brute_force(x, maximize)
    assert want.sum() >= 2  # a front, not a single point
    np.testing.assert_array_equal(got, want)


def test_nondominated_large_all_on_the_front():
    # 3 objectives on the plane x + y + z = 99: nothing dominates anything, so the
    # front is every point (more than one block of the sort-filter-skyline sweep)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 100, size=(10000, 2))
    a = a[a.sum(axis=1) <= 99]
    x = np.column_stack([a, 99 - a.sum(axis=1)]).astype(float)
    assert len(x) > PREFILTER
    np.testing.assert_array_equal(nondominated(x), brute_force(x))
    assert nondominated(x).all()


def _front_keys(df: pd.DataFrame, cols: list[str], maximize=None) -> set[tuple[int, int]]:
    keep = brute_force(df[cols].to_numpy(float), maximize)
    return set(zip(df["run"][keep].astype(int), df["point"][keep].astype(int)))


def _csv_keys(path: Path) -> set[tuple[int, int]]:
    f = pd.read_csv(path)
    assert f["feasible"].all()
    return set(zip(f["run"].astype(int), f["point"].astype(int)))


def test_pareto_command(ref_store, tmp_path):
    allrows = query(ref_store, "SELECT run, point, feasible, seq, GLB_capacity_bytes, mapping, latency_s, energy_pj, "
                               "utilization_PE2D FROM points")
    feas = allrows[allrows["feasible"]].reset_index(drop=True)
    assert len(feas) == 248  # 8 unfused points at 64 KiB and 64K tokens do not fit

    f = tmp_path / "f.csv"
    rc, stdout, err = cli("pareto", ref_store, "--objectives", "latency_s,energy_pj", "--by", "none", "--out", f)
    assert rc == 0, err
    want = _front_keys(feas, ["latency_s", "energy_pj"])
    assert _csv_keys(f) == want
    assert 2 <= len(want) < len(feas)
    assert re.search(rf"^{len(want)} Pareto designs \(latency_s min, energy_pj min\)$", err, re.M), err

    # --where filters (before the front is taken)
    rc, stdout, err = cli("pareto", ref_store, "--objectives", "latency_s,energy_pj", "--by", "none",
                          "--where", "seq = 16384 AND batch <= 2", "--out", f)
    assert rc == 0, err
    sub = query(ref_store, "SELECT run, point, latency_s, energy_pj FROM points "
                           "WHERE feasible AND seq = 16384 AND batch <= 2")
    assert len(sub) == 16
    assert _csv_keys(f) == _front_keys(sub, ["latency_s", "energy_pj"])
    assert set(pd.read_csv(f)["seq"]) == {16384}

    # infeasible points are never on a front: these 8 do not fit
    rc, stdout, err = cli("pareto", ref_store, "--by", "none", "--where",
                          "seq = 65536 AND GLB_capacity_bytes = 65536 AND mapping = 'unfused'")
    assert rc == 0, err
    gone = allrows.query("seq == 65536 and GLB_capacity_bytes == 65536 and mapping == 'unfused'")
    assert len(gone) == 8 and not gone["feasible"].any()
    assert re.search(r"^0 Pareto designs", err, re.M), err

    # :max, and fronts per mapping
    rc, stdout, err = cli("pareto", ref_store, "--objectives", "latency_s,utilization_PE2D:max", "--by", "mapping",
                          "--out", f)
    assert rc == 0, err
    want = set()
    for _, g in feas.groupby("mapping", observed=True):
        want |= _front_keys(g.reset_index(drop=True), ["latency_s", "utilization_PE2D"], [False, True])
    assert _csv_keys(f) == want
    assert want != _front_keys(feas, ["latency_s", "utilization_PE2D"], [False, True])

    # --limit prints that many rows and says how many more; a .parquet --out holds the same front, every column
    front = pd.read_csv(f)
    assert len(front) > 3
    pq_out = tmp_path / "f.parquet"
    rc, stdout, err = cli("pareto", ref_store, "--objectives", "latency_s,utilization_PE2D:max", "--by", "mapping",
                          "--limit", "3", "--out", pq_out)
    assert rc == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 1 + 3 + 1 and lines[-1] == f"... {len(front) - 3:,} more rows (--limit 0 prints all; --out FILE.csv writes every column)"
    table = pq.read_table(pq_out).to_pandas()
    assert list(table.columns) == list(front.columns)
    assert set(zip(table["run"], table["point"])) == set(zip(front["run"], front["point"]))

    # an unknown objective column
    rc, stdout, err = cli("pareto", ref_store, "--objectives", "latency_s,energy_pk", "--by", "none")
    assert_one_line_error(rc, err, "--objectives", "no column 'energy_pk'", "energy_pj")


# -- 8. einsumx query


def test_query_prints_a_table(ref_store):
    rc, stdout, err = cli("query", ref_store, "SELECT run, count(*) AS n, count(*) FILTER (WHERE feasible) AS ok "
                                              "FROM points GROUP BY run ORDER BY run")
    assert rc == 0, err
    lines = stdout.strip().splitlines()
    assert lines[0].split() == ["run", "n", "ok"]
    table = [tuple(int(v) for v in line.split()) for line in lines[1:]]
    # the same counts read straight from the Parquet files
    direct = pd.concat([pq.read_table(f, columns=["run", "feasible"]).to_pandas() for f in chunk_files(ref_store)])
    want = [(r, len(g), int(g["feasible"].sum())) for r, g in direct.groupby("run")]
    assert table == want == [(0, 128, 128), (1, 128, 120)]

    rc, stdout, err = cli("query", ref_store, "SELECT runs.mapping_file, count(*) AS n FROM runs JOIN points USING (run) "
                                              "GROUP BY ALL ORDER BY 1", "--format", "json")
    assert rc == 0, err
    assert sorted((Path(r["mapping_file"]).name, r["n"]) for r in json.loads(stdout)) == [
        ("map-flat-attention.yaml", 128), ("map-unfused-attention.yaml", 128)]


def test_query_errors(ref_store, tmp_path):
    rc, stdout, err = cli("query", ref_store, "SELECT nosuch FROM points")
    line = assert_one_line_error(rc, err, "query", "nosuch")
    assert line.startswith("query:1: ") and "query: query" not in line and len(err.strip().splitlines()) == 1  # no echo of the SQL
    assert stdout == ""

    empty = tmp_path / "empty"
    empty.mkdir()
    rc, stdout, err = cli("query", empty, "SELECT 1")
    assert_one_line_error(rc, err, f"no sweep here: {empty / 'sweep.json'} is missing")
    with pytest.raises(EinsumxError, match="no sweep here"):
        query(tmp_path / "nowhere", "SELECT 1")
