"""Shared helpers for the einsumx tests.

Every helper takes paths relative to the repository root, so the suite runs
from any working directory.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding ``einsumx/`` and ``workloads/``)."""
WORKLOADS = ROOT / "workloads"

for _path in (ROOT, Path(__file__).resolve().parent):  # einsumx, and 'from conftest import'
    if str(_path) not in sys.path:  # from any cwd, without installing
        sys.path.insert(0, str(_path))

import einsumx  # noqa: E402
from einsumx import EinsumxError  # noqa: E402
from einsumx.ir.values import parse_overrides  # noqa: E402

# BERT-Base, as in the FuseMax evaluation (docs: reference/fusemax.md):
# batch 64, 12 heads, 64-wide heads, 1K tokens.
BATCH, HEADS, EMBED, SEQ = 64, 12, 64, 1024


def parse(text: str, name: str = "t.yaml"):
    """A validated cascade from YAML text (dedented, so tests can indent it)."""
    return einsumx.parse_workload(textwrap.dedent(text).lstrip("\n"), name)


def parse_error(text: str, name: str = "t.yaml") -> EinsumxError:
    """The ``EinsumxError`` that loading ``text`` raises (fails if none)."""
    with pytest.raises(EinsumxError) as info:
        parse(text, name)
    return info.value


def workload_path(name: str) -> Path:
    """``workloads/<name>.yaml`` as an absolute path."""
    return WORKLOADS / f"{name}.yaml"


def load(name: str):
    """A shipped workload by its stem, e.g. ``load("attention-3pass")``."""
    return einsumx.load_workload(workload_path(name))


def analyze(name: str, *sets: str, model: str | None = None):
    """Analyse a shipped workload with ``--set``-style overrides and/or a
    model preset: ``analyze("attention-3pass", "seq=4096")``."""
    return einsumx.analyze(load(name), overrides=parse_overrides(list(sets)), model=model)


def points(an, label: str) -> int:
    """Iteration points of the Einsum labelled ``label`` (its output)."""
    matches = [r for r in an.einsums if r.einsum.label == label]
    assert len(matches) == 1, [r.einsum.label for r in an.einsums]
    return matches[0].points_value


def einsum_result(an, label: str):
    matches = [r for r in an.einsums if r.einsum.label == label]
    assert len(matches) == 1, [r.einsum.label for r in an.einsums]
    return matches[0]


@pytest.fixture
def root() -> Path:
    return ROOT
