"""Model presets (BERT, TrXL, T5, XLM) selectable by name."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from importlib import resources

import yaml

from ..errors import EinsumxError, Origin
from ..lang import ast


@lru_cache(maxsize=1)
def models() -> dict[str, dict]:
    """All presets: key -> {label, params}."""
    text = resources.files(__package__).joinpath("models.yaml").read_text()
    return yaml.safe_load(text)


def find_model(name: str) -> tuple[str, dict]:
    """Look a preset up by key or label, ignoring case ('bert', 'BERT-Base')."""
    wanted = name.strip().lower()
    for key, preset in models().items():
        if wanted in (key, preset["label"].lower()):
            return key, preset
    known = ", ".join(f"{k} ({p['label']})" for k, p in models().items())
    raise EinsumxError(f"unknown model '{name}' (known: {known})", Origin("--model"))


def model_overrides(name: str, params) -> dict[str, tuple[ast.Expr, str, Origin]]:
    """Overrides (as ``--set`` would give them) for the parameters of
    preset ``name`` that the workload declares."""
    key, preset = find_model(name)
    out = {}
    for pname, value in preset["params"].items():
        if pname in params:
            out[pname] = (ast.Num(Fraction(value), 0), str(value), Origin("--model", None, None))
    if not out:
        raise EinsumxError(
            f"model '{key}' sets none of this workload's parameters ({', '.join(params) or 'none'}); "
            f"it sets {', '.join(preset['params'])}",
            Origin("--model"),
        )
    return out
