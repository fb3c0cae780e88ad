"""The results store: Parquet files under one directory, queried with DuckDB.

    DIR/sweep.json                       the sweep: spec, digest, status, command
    DIR/runs.parquet                     the runs manifest: one row per run
    DIR/points/run=R/chunk-K.parquet     one row per design point

A chunk file appears only whole (written under a temporary name, then
renamed), and its name is its (run, chunk): after an interruption the
stored chunks are exactly the finished ones, so resuming computes the
missing ones and no row is lost or stored twice. ``sweep.json`` holds the
sweep's digest (inputs' hashes, grids, objective, chunking, version): the
same sweep in the same directory resumes, or is recognised as complete; a
different one is refused rather than mixed in.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import EinsumxError, Origin
from .spec import Sweep

_CHUNK = re.compile(r"^chunk-(\d+)\.parquet$")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_meta(out: str | Path) -> dict:
    path = Path(out) / "sweep.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EinsumxError(f"no sweep here: {path} is missing (run `einsumx sweep ... --out {out}` first)", Origin(str(out))) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise EinsumxError(f"cannot read {path}: {exc}", Origin(str(path))) from None


def stored_chunks(out: str | Path) -> set[tuple[int, int]]:
    """(run, chunk) of every complete chunk file; stray temporary files are removed."""
    done = set()
    root = Path(out) / "points"
    if not root.exists():
        return done
    for d in root.iterdir():
        if not d.name.startswith("run="):
            continue
        run = int(d.name[4:])
        for f in d.iterdir():
            m = _CHUNK.match(f.name)
            if m:
                done.add((run, int(m.group(1))))
            elif f.name.endswith(".tmp"):
                f.unlink(missing_ok=True)  # a chunk interrupted while being written
    return done


def open_store(out: str | Path, sweep: Sweep, command: str, overwrite: bool = False) -> tuple[dict, set[tuple[int, int]]]:
    """Create or reopen ``out`` for ``sweep``: (its metadata, the chunks already stored)."""
    out = Path(out)
    meta_path = out / "sweep.json"
    if meta_path.exists() and not overwrite:
        meta = read_meta(out)
        if meta.get("digest") != sweep.digest:
            raise EinsumxError(
                f"{out} holds another sweep ('{meta.get('name')}', digest {meta.get('digest')}; this one is {sweep.digest}): "
                f"choose another --out, or pass --overwrite to replace it", Origin(str(meta_path)))
        return meta, stored_chunks(out)
    if overwrite and out.exists():
        import shutil

        for name in ("points", "runs.parquet", "sweep.json"):
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / "points").mkdir(exist_ok=True)
    rows = [r.manifest() for r in sweep.runs]
    pq.write_table(pa.Table.from_pylist(rows), out / "runs.parquet")
    spec = sweep.spec
    meta = {
        "name": spec.name,
        "description": spec.description,
        "spec_file": spec.file,
        "digest": sweep.digest,
        "status": "running",
        "points": sweep.points,
        "runs": len(sweep.runs),
        "grid": {k.name: k.values for k in spec.grid},
        "workload_keys": sweep.workload_keys,
        "objective": spec.objective,
        "chunk_points": spec.chunk_points,
        "skipped": sweep.skipped,
        "command": command,
        "einsumx_version": rows[0]["einsumx_version"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json(meta_path, meta)
    return meta, set()


def mark_complete(out: str | Path, meta: dict, elapsed_s: float) -> dict:
    meta = dict(meta, status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                compute_s=round(meta.get("compute_s", 0.0) + elapsed_s, 3))
    _write_json(Path(out) / "sweep.json", meta)
    return meta


def connect(out: str | Path):
    """A DuckDB connection with the views ``points`` and ``runs`` over the store."""
    import duckdb

    out = Path(out)
    read_meta(out)
    con = duckdb.connect()
    files = sorted((out / "points").glob("run=*/chunk-*.parquet"))
    if files:
        glob = str(out / "points" / "run=*" / "chunk-*.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW points AS SELECT * FROM read_parquet('{glob}', union_by_name=true, hive_partitioning=false)")
    else:
        con.execute("CREATE VIEW points AS SELECT NULL::INTEGER AS run, NULL::BIGINT AS point WHERE false")
    runs = str(out / "runs.parquet").replace("'", "''")
    con.execute(f"CREATE VIEW runs AS SELECT * FROM read_parquet('{runs}')")
    return con


def query(out: str | Path, sql: str):
    """A pandas DataFrame of ``sql`` over the store (views ``points``, ``runs``);
    a SQL mistake is one error quoting DuckDB's message."""
    import duckdb

    con = connect(out)
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()
        raise EinsumxError(f"{first[0] if first else exc}", Origin("query", 1, None, sql)) from None
