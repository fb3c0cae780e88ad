"""Running the real ``timeloop-model`` on exported files, when installed.

einsumx never imitates Timeloop's output: without the binary on PATH,
``run_timeloop`` raises one clear error and the tests that need it skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ...errors import EinsumxError, Origin
from .stats import parse_stats
from .write import FILES

BINARY = "timeloop-model"


def find_timeloop() -> str | None:
    """The path of ``timeloop-model``, or None when it is not installed."""
    return shutil.which(BINARY)


def run_timeloop(directory: str | Path, timeout_s: float = 600) -> dict:
    """Run ``timeloop-model`` on the five files ``write_timeloop`` wrote in
    ``directory``; its stats, parsed (``stats.parse_stats``)."""
    binary = find_timeloop()
    if binary is None:
        raise EinsumxError(f"{BINARY} is not on PATH: install Timeloop to compare with it "
                           "(einsumx's own numbers need no install)", Origin("--backend timeloop"))
    directory = Path(directory)
    proc = subprocess.run([binary, *FILES], cwd=directory, capture_output=True, text=True, timeout=timeout_s)
    stats = directory / f"{BINARY}.stats.txt"
    if proc.returncode != 0 or not stats.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise EinsumxError(f"{BINARY} failed in {directory} (exit {proc.returncode}): " + " | ".join(tail),
                           Origin(str(directory)))
    return parse_stats(stats.read_text())
