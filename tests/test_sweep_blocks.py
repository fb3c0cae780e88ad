"""The sweep's mapper by blocks of the grid (``einsumx.sweep.engine``).

``blocks(shape, start, stop, budget)`` cuts points [start, stop) of a
C-order grid into blocks ``(prefix, axis, lo, hi)``: the keys before
``axis`` fixed at ``prefix``, key ``axis`` over [lo, hi), every later key
whole. ``block_indices`` gives each key's index over a block, shaped to
broadcast. These tests check

1. the blocks themselves: they cover [start, stop) exactly and in order,
   keep to the budget, and ``block_indices`` enumerates the same points
   (a property test, plus examples worked out by hand);
2. the stored rows do not depend on how the grid is cut into chunks;
3. nor on the order of the grid keys;
4. nor on the block budget (``engine.BUDGET``);
5. the mapper's choices equal ``einsumx evaluate``'s at every point when an
   automatic tile's valid sizes differ between points of one block;
6. nor on what the process compiled before it compiled the run (sympy's
   Dummy counter, which once named the compiled code's variables and so
   ordered the terms of its sums).

The sweeps run attention-1pass on fusemax with the FuseMax mapping (one
automatic tile, ``rows``, of P = seq in steps of 256 queries, and reuse
choices for Q, K and V) on copies of the shipped files, as tests/test_sweep.py does.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from einsumx.sweep import engine, load_spec, resolve, run_sweep
from test_sweep import _evaluate_point, rows

# -- 1. blocks and block_indices


def expand(shape: tuple[int, ...], block) -> np.ndarray:
    """The flat (C-order) point indices of a block, from its definition:
    the prefix, then [lo, hi) of ``axis``, then every later key whole."""
    prefix, axis, lo, hi = block
    if not shape:
        return np.array([0])
    axes = [np.array([i]) for i in prefix] + [np.arange(lo, hi)] + [np.arange(n) for n in shape[axis + 1:]]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.ravel_multi_index([m.reshape(-1) for m in mesh], shape)


def within_budget(shape: tuple[int, ...], block, budget: int) -> bool:
    """The budget rule: at most ``budget`` points, unless the block is a single
    index of its axis whose later keys alone are more than ``budget`` points
    and there is no later key left to cut (with budget >= 1 that cannot happen:
    a single index of the last key is one point)."""
    prefix, axis, lo, hi = block
    trailing = int(np.prod(shape[axis + 1:], dtype=np.int64))
    size = (hi - lo) * trailing
    return size <= budget or (hi - lo == 1 and trailing > budget and axis == len(shape) - 1)


def check_blocks(shape: tuple[int, ...], start: int, stop: int, budget: int) -> list:
    got = list(engine.blocks(shape, start, stop, budget))
    flat = []
    for block in got:
        prefix, axis, lo, hi = block
        if shape:
            assert len(prefix) == axis < len(shape), block
            assert all(0 <= i < n for i, n in zip(prefix, shape)), block
            assert 0 <= lo < hi <= shape[axis], block
        assert within_budget(shape, block, budget), (block, budget)
        want = expand(shape, block)
        flat.extend(want.tolist())
        # block_indices: the same points, in C order over the block's shape
        sub, dims = engine.block_indices(shape, prefix, axis, lo, hi)
        assert int(np.prod(dims)) == len(want), (block, dims)
        if shape:
            arrays = np.broadcast_arrays(*[np.asarray(s) for s in sub])
            assert arrays[0].shape == tuple(dims) + (1,), (block, arrays[0].shape, dims)
            np.testing.assert_array_equal(np.ravel_multi_index([a.reshape(-1) for a in arrays], shape), want)
        else:
            assert sub == [] and tuple(dims) == (1,)
    assert flat == list(range(start, stop)), (shape, start, stop, budget, got)  # no gap, no overlap, in order
    return got


@st.composite
def block_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=0, max_size=5)))
    total = int(np.prod(shape, dtype=np.int64))
    start = draw(st.integers(0, total - 1))
    stop = draw(st.integers(start + 1, total))
    return shape, start, stop, draw(st.integers(1, 60))


@settings(max_examples=200, deadline=None)
@given(block_cases())
def test_blocks_cover_the_range_in_order_within_budget(case):
    check_blocks(*case)


@pytest.mark.parametrize("shape, start, stop, budget, want", [
    # (3, 4) has rows of 4 points. Points 2..10 are: the end of row 0 (2, 3),
    # row 1 whole (4..7: one index of key 0 is 4 points <= budget 4), and the
    # start of row 2 (8, 9, 10).
    ((3, 4), 2, 11, 4, [((0,), 1, 2, 4), ((), 0, 1, 2), ((2,), 1, 0, 3)]),
    # the same with budget 3: row 1 (4 points) is more than 3, so it is cut
    # along key 1 into 3 + 1 points; the partial rows stay whole pieces (2 and 3 points)
    ((3, 4), 2, 11, 3, [((0,), 1, 2, 4), ((1,), 1, 0, 3), ((1,), 1, 3, 4), ((2,), 1, 0, 3)]),
    # whole rows: 3 rows of 4 in one block when the budget holds them all
    ((3, 4), 0, 12, 12, [((), 0, 0, 3)]),
    # budget 8 holds two rows at a time: rows 0-1, then row 2
    ((3, 4), 0, 12, 8, [((), 0, 0, 2), ((), 0, 2, 3)]),
    # inside one row: points 5 and 6 are row 1, columns 1..2
    ((3, 4), 5, 7, 100, [((1,), 1, 1, 3)]),
    # (2, 3, 4): one index of key 0 is 12 points > 5, so key 1 is cut; one
    # index of key 1 is 4 points <= 5, one at a time (5 // 4 = 1)
    ((2, 3, 4), 0, 24, 5, [((0,), 1, 0, 1), ((0,), 1, 1, 2), ((0,), 1, 2, 3),
                           ((1,), 1, 0, 1), ((1,), 1, 1, 2), ((1,), 1, 2, 3)]),
    # (2, 3, 4), points 5..22 (trailing sizes 12, 4, 1): point 5 = (0, 1, 1), so
    # (0, 1) columns 1..3 = points 5..7; (0, 2) whole = 8..11; (1, 0..1) whole =
    # 12..19; (1, 2) columns 0..2 = 20..22
    ((2, 3, 4), 5, 23, 60, [((0, 1), 2, 1, 4), ((0,), 1, 2, 3), ((1,), 1, 0, 2), ((1, 2), 2, 0, 3)]),
    # budget 1: every point its own block
    ((2, 2), 1, 4, 1, [((0,), 1, 1, 2), ((1,), 1, 0, 1), ((1,), 1, 1, 2)]),
    # no keys: the one point
    ((), 0, 1, 7, [((), 0, 0, 1)]),
])
def test_blocks_examples(shape, start, stop, budget, want):
    assert check_blocks(shape, start, stop, budget) == want


def test_block_indices_example():
    # (3, 4, 2), block: key 0 at 1, key 1 over [1, 3), key 2 whole
    sub, dims = engine.block_indices((3, 4, 2), (1,), 1, 1, 3)
    assert dims == (2, 2)
    assert sub[0] == 1
    assert sub[1].shape == (2, 1, 1) and sub[1].reshape(-1).tolist() == [1, 2]
    assert sub[2].shape == (1, 2, 1) and sub[2].reshape(-1).tolist() == [0, 1]
    # points (1,1,0) (1,1,1) (1,2,0) (1,2,1) = 10, 11, 12, 13
    flat = np.ravel_multi_index([a.reshape(-1) for a in np.broadcast_arrays(*sub)], (3, 4, 2))
    assert flat.tolist() == [10, 11, 12, 13]


# -- sweeps


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Copies of the shipped inputs (a concurrent edit of architectures/ cannot change them)."""
    d = tmp_path_factory.mktemp("inputs")
    return {
        "workload": str(shutil.copy(ROOT / "workloads" / "attention-1pass.yaml", d / "attention-1pass.yaml")),
        "arch": str(shutil.copy(ROOT / "architectures" / "fusemax.yaml", d / "fusemax.yaml")),
        "mapping": str(shutil.copy(ROOT / "architectures" / "mappings" / "fusemax-attention.yaml", d / "map.yaml")),
    }


# 3 x 3 x 3 x 2 = 54 points; a point of key 0 (seq) is 18 points, of key 1 6, of key 2 2.
# 64 KiB holds nothing (infeasible points: the least overflow is kept), 1 MiB
# holds some tiles, 16 MiB all; the bandwidths move the compute/memory balance.
GRID = ["seq=1K,4K,16K", "GLB.capacity_bytes=64KiB,1MiB,16MiB", "DRAM.bandwidth_bytes_per_s=100 GB/s,400 GB/s,1600 GB/s",
        "PE2D.rows=128,256"]
KEYS = ["seq", "GLB_capacity_bytes", "DRAM_bandwidth_bytes_per_s", "PE2D_rows"]


def sweep(files, out: Path, grid: list[str], chunk_points: int | None = None) -> pd.DataFrame:
    s = resolve(load_spec(None, [files["workload"]], [files["arch"]], [files["mapping"]], grid, chunk_points=chunk_points))
    run_sweep(s, out, workers=1, quiet=True)
    return rows(out)


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every column of every (run, point), exactly (NaN equals NaN)."""
    assert list(a.columns) == list(b.columns)
    a, b = a.set_index(["run", "point"]), b.set_index(["run", "point"])
    assert list(a.index) == list(b.index)
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f":
            same = (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            same = x == y
        bad = np.flatnonzero(~same)
        assert not len(bad), f"{col}: {len(bad)} rows differ, first at {a.index[bad[0]]}: {x[bad[0]]!r} != {y[bad[0]]!r}"


@pytest.fixture(scope="module")
def reference(files, tmp_path_factory) -> pd.DataFrame:
    """GRID in one chunk (the default chunk size), the default budget."""
    df = sweep(files, tmp_path_factory.mktemp("ref") / "s", GRID)
    assert len(df) == 54
    assert list(df["point"]) == list(range(54))
    # the grid is not trivial: the mapper's choices vary and some points do not fit
    assert df["map_phase_1_rows"].nunique() > 1 and df["map_phase_1_reuse_K"].nunique() > 1
    assert 0 < df["feasible"].sum() < 54
    return df


# -- 2. chunking


@pytest.mark.parametrize("chunk_points", [1, 5, 7])
def test_rows_do_not_depend_on_the_chunk_size(files, reference, tmp_path, chunk_points):
    # 5 and 7 cut chunks inside rows of every key (18, 6 and 2 points)
    out = tmp_path / "s"
    df = sweep(files, out, GRID, chunk_points)
    assert len(list((out / "points").glob("run=*/chunk-*.parquet"))) == -(-54 // chunk_points)
    assert_same_rows(df, reference)


def test_rows_do_not_depend_on_what_the_process_compiled_before(files, tmp_path, monkeypatch):
    # What a fresh worker process, or one that compiled other runs first, does:
    # the same sweep, its compiled model not cached, compiled after a different
    # number of sympy Dummies were made (the counter only moves forward). When
    # lambdify named the symbols _Dummy_<n>, a compile whose names crossed a
    # power of ten ordered sums differently: energy_pj at point 9 (seq=1024,
    # 1 MiB, 400 GB/s, 256 rows) was 1934255488140.9023 or ...9026.
    s = resolve(load_spec(None, [files["workload"]], [files["arch"]], [files["mapping"]], GRID))
    p = 10 ** len(str(sympy.Dummy._count + 1000))
    got = []
    for name, start in (("across", p - 13), ("away", 3 * p)):
        monkeypatch.setattr(engine, "_CACHE", {})
        sympy.Dummy._count = start
        run_sweep(s, tmp_path / name, workers=1, quiet=True)
        got.append(rows(tmp_path / name))
    assert_same_rows(got[0], got[1])


# -- 3. key order


def test_numbers_do_not_depend_on_the_order_of_the_grid_keys(files, reference, tmp_path):
    order = [GRID[3], GRID[1], GRID[0], GRID[2]]  # seq no longer the slowest key, nor the fastest
    df = sweep(files, tmp_path / "s", order)
    assert list(df["point"]) == list(range(54))
    assert list(df[KEYS[3]][:2]) == [128, 128] and list(df[KEYS[2]][:3]) == [100 * 10**9, 400 * 10**9, 1600 * 10**9]
    a = reference.set_index(KEYS).sort_index()
    b = df.set_index(KEYS).sort_index()
    assert list(a.index) == list(b.index)  # the same 54 designs
    choices = [c for c in a.columns if c.startswith("map_")]
    assert len(choices) == 4
    for c in choices + ["feasible"]:
        assert list(b[c]) == list(a[c]), c
    numbers = ["latency_s", "energy_pj"] + [c for c in a.columns if c.startswith(("buffer_", "utilization_"))]
    assert len(numbers) >= 6
    for c in numbers:
        np.testing.assert_allclose(b[c].to_numpy(float), a[c].to_numpy(float), rtol=1e-12, atol=0, err_msg=c)


# -- 4. the block budget


@pytest.mark.parametrize("budget, per_block, axes", [(64, 1, {3}), (720, 5, {2}), (2880, 20, {0})])
def test_rows_do_not_depend_on_the_block_budget(files, reference, tmp_path, monkeypatch, budget, per_block, axes):
    # 144 candidates per point (8 tile sizes of rows at seq=16K (256..16K and the
    # whole extent), 2 x 3 x 3 reuse choices): the blocks get BUDGET // 144 points
    # (at least 1). A point of the keys is 18, 6, 2, 1 points: 1 point per block
    # cuts the last key; 5 cuts the third (2 of its values, 4 points, then 1);
    # 20 takes one seq at a time (18 points). The default budget: one block.
    seen = []
    real = engine.blocks

    def spy(shape, start, stop, b):
        for block in real(shape, start, stop, b):
            seen.append((b, block))
            yield block

    monkeypatch.setattr(engine, "BUDGET", budget)
    monkeypatch.setattr(engine, "blocks", spy)
    df = sweep(files, tmp_path / "s", GRID)
    assert {b for b, _ in seen} == {per_block}
    sizes = [(hi - lo) * int(np.prod((3, 3, 3, 2)[axis + 1:])) for _, (prefix, axis, lo, hi) in seen]
    assert sum(sizes) == 54 and max(sizes) <= per_block
    assert {axis for _, (prefix, axis, lo, hi) in seen} == axes
    assert_same_rows(df, reference)


# -- 5. valid tile sizes differ inside a block


def test_choices_equal_evaluate_when_tile_candidates_differ_in_a_block(files, tmp_path):
    # seq fastest: one block holds seq = 1K, 5K, 16K, and rows must divide P = seq in
    # steps of 256 queries: 256..1K at 1K; 256, 512, 1K at 5K (= 20 x 256); 256..16K
    # at 16K. With 1 MiB, 2048 is the best tile at 16K (K and V do not stay in the
    # buffer: the larger the tile, the fewer times they are read); at 5K it does not
    # divide P, so the mapper must settle for 1024, as evaluate does.
    grid = ["GLB.capacity_bytes=64KiB,1MiB,16MiB", "seq=1K,5K,16K"]
    seen = []
    real = engine.blocks

    def spy(shape, start, stop, b):
        for block in real(shape, start, stop, b):
            seen.append(block)
            yield block

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "blocks", spy)
        df = sweep(files, tmp_path / "s", grid)
    assert len(df) == 9
    assert seen == [((), 0, 0, 3)]  # one block: every point
    tile = {(r.GLB_capacity_bytes, r.seq): r.map_phase_1_rows for r in df.itertuples()}
    assert tile[(1 << 20, 16384)] == 2048 and tile[(1 << 20, 5120)] == 1024
    # 64 KiB holds no tiles: those points are infeasible (the least overflow is kept);
    # evaluate (about a second a point) is asked about every feasible point and one of those
    assert sorted(df.loc[~df["feasible"], "GLB_capacity_bytes"]) == [65536] * 3
    check = df[df["feasible"] | (df["seq"] == 16384)]
    assert len(check) == 7
    points = [[f"seq={r.seq}", f"GLB.capacity_bytes={r.GLB_capacity_bytes}"] for r in check.itertuples()]
    n = len(points)
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(_evaluate_point, [files["workload"]] * n, [files["arch"]] * n, [files["mapping"]] * n, points))
    for r, ev in zip(check.itertuples(), results):
        where = f"seq={r.seq} GLB.capacity_bytes={r.GLB_capacity_bytes}"
        if not r.feasible:  # evaluate refuses a mapping that does not fit
            assert "does not fit" in ev.get("error", ""), (where, ev)
            continue
        assert "error" not in ev, (where, ev)
        assert len(ev["choices"]) == 4
        assert {c: getattr(r, c) for c in ev["choices"]} == ev["choices"], where
        assert r.latency_s == pytest.approx(ev["latency_s"], rel=1e-9), where
        assert r.energy_pj == pytest.approx(ev["energy_pj"], rel=1e-9), where
