"""Reproducing a published study from shipped YAML files only.

A study file (``architectures/studies/*.yaml``) names the models, sequence
lengths and configurations (workload, architecture, mapping) of a paper's
evaluation, and the paper's headline numbers. ``run_study`` builds and
compiles each configuration's model once, then evaluates every (model,
length) point, letting the mapper pick tile sizes and reuse per point;
``headline`` averages the ratios the way the paper does (arithmetic means
over models and lengths) and puts them beside the paper's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .arch import ROOT, load_architecture
from .errors import EinsumxError, Origin
from .ir.build import load_workload
from .ir.values import parse_overrides
from .lang.yamlsrc import expect_keys, expect_list, expect_mapping, load_yaml, read_source
from .mapping.spec import load_mapping
from .model import choose, compile_model, default_values
from .model.build import build_model

STUDY_KEYS = ("name", "description", "models", "seq_lens", "baseline", "target", "configs", "end2end", "paper")


@dataclass
class Config:
    name: str
    workload: Path
    architecture: Path
    mapping: Path


@dataclass
class Study:
    name: str
    description: str
    file: str
    models: list[str]
    seq_lens: list[int]
    baseline: str
    target: str
    configs: list[Config]
    end2end: tuple[Path, Path] | None
    paper: dict[str, dict[str, float]]


def find_study(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    shipped = ROOT / "architectures" / "studies" / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    known = ", ".join(sorted(q.stem for q in (ROOT / "architectures" / "studies").glob("*.yaml")))
    raise EinsumxError(f"unknown study '{name_or_path}' (shipped: {known})", Origin(name_or_path))


def load_study(name_or_path: str) -> Study:
    path = find_study(name_or_path)
    root, _ = load_yaml(read_source(path, "study"), str(path), what="study file")
    top = expect_mapping(root, "the study")
    expect_keys(root, STUDY_KEYS, "study")
    base = path.parent.parent  # paths are relative to architectures/

    def rel(node, what) -> Path:
        v = str(node.value)
        for cand in (base / v, base.parent / "workloads" / f"{v}.yaml", base / f"{v}.yaml"):
            if cand.exists():
                return cand
        raise EinsumxError(f"{what}: no file '{v}'", node.origin)

    configs = []
    for name, node in expect_mapping(top["configs"], "configs").items():
        c = expect_mapping(node, f"config '{name}'")
        expect_keys(node, ("workload", "architecture", "mapping"), f"config '{name}'")
        configs.append(Config(name, rel(c["workload"], "workload"), rel(c["architecture"], "architecture"),
                              rel(c["mapping"], "mapping")))
    names = [c.name for c in configs]
    for key in ("baseline", "target"):
        if str(top[key].value) not in names:
            raise EinsumxError(f"{key} '{top[key].value}' is not one of the configs ({', '.join(names)})", top[key].origin)
    end2end = None
    if "end2end" in top:
        e = expect_mapping(top["end2end"], "end2end")
        end2end = (rel(e["workload"], "workload"), rel(e["mapping"], "mapping"))
    paper = {}
    if "paper" in top:
        for scope, node in expect_mapping(top["paper"], "paper").items():
            paper[scope] = {k: float(v.value) for k, v in expect_mapping(node, f"paper: {scope}").items()}
    return Study(
        name=str(top["name"].value), description=" ".join(str(top.get("description", root).value).split()) if "description" in top else "",
        file=str(path), models=[str(n.value) for n in expect_list(top["models"], "models")],
        seq_lens=[int(n.value) for n in expect_list(top["seq_lens"], "seq_lens")],
        baseline=str(top["baseline"].value), target=str(top["target"].value), configs=configs, end2end=end2end, paper=paper,
    )


class _Compiled:
    """One configuration's model, built and compiled once."""

    def __init__(self, workload: Path, arch, mapping: Path):
        self.cascade = load_workload(workload)
        self.arch = arch
        self.mapping = load_mapping(mapping)
        values, _ = default_values(self.cascade, arch, self.mapping)
        self.model = build_model(self.cascade, arch, self.mapping, values)
        self.compiled = compile_model(self.model)

    def at(self, model: str, seq: int) -> dict[str, float]:
        values, _ = default_values(self.cascade, self.arch, self.mapping, parse_overrides([f"seq={seq}"]), None, model)
        picked, _, feasible = choose(self.model, self.compiled, values)
        if not feasible:
            raise EinsumxError(f"{self.mapping.name} does not fit {self.arch.name} for {model} at seq={seq}", Origin(self.mapping.file))
        values.update(picked)
        return {k: float(v) for k, v in self.compiled(values).items()}


def _array_roles(arch) -> tuple[str | None, str | None]:
    two = next((n for n, a in arch.arrays.items() if len(a.axes) == 2), None)
    one = next((n for n, a in arch.arrays.items() if len(a.axes) == 1), None)
    return two, one


def run_study(study: Study, progress=None) -> list[dict[str, Any]]:
    """One row per (model, length, configuration, scope)."""
    rows = []
    archs = {}
    proj: dict[Path, _Compiled] = {}
    total = len(study.configs)
    for k, cfg in enumerate(study.configs):
        if progress:
            progress(f"[{k + 1}/{total}] {cfg.name}: {cfg.workload.stem} on {cfg.architecture.stem}")
        arch = archs.setdefault(cfg.architecture, load_architecture(cfg.architecture))
        att = _Compiled(cfg.workload, arch, cfg.mapping)
        if study.end2end and cfg.architecture not in proj:
            proj[cfg.architecture] = _Compiled(study.end2end[0], arch, study.end2end[1])
        two, one = _array_roles(arch)
        for model in study.models:
            for seq in study.seq_lens:
                a = att.at(model, seq)
                scopes = [("attention", [a])]
                if study.end2end:
                    scopes.append(("end2end", [a, proj[cfg.architecture].at(model, seq)]))
                for scope, parts in scopes:
                    cycles = sum(p["cycles"] for p in parts)
                    rows.append({
                        "model": model, "seq_len": seq, "config": cfg.name, "scope": scope,
                        "latency_s": sum(p["latency_s"] for p in parts),
                        "energy_pj": sum(p["energy_pj"] for p in parts),
                        "util_2d": sum(p.get(f"busy_cycles.{two}", 0.0) for p in parts) / cycles if two else 0.0,
                        "util_1d": sum(p.get(f"busy_cycles.{one}", 0.0) for p in parts) / cycles if one else 0.0,
                        "dram_bytes": sum(p["dram_bytes"] for p in parts),
                        "spill_fraction": max(p["spill_fraction"] for p in parts),
                    })
    return rows


def headline(study: Study, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Arithmetic means over (model, length) of the target's speedup and
    energy ratio against each other configuration, beside the paper's."""
    index = {(r["model"], r["seq_len"], r["config"], r["scope"]): r for r in rows}
    out: dict[str, Any] = {}
    for scope in sorted({r["scope"] for r in rows}):
        res = {}
        for cfg in study.configs:
            if cfg.name == study.target:
                continue
            sp, en = [], []
            for m in study.models:
                for s in study.seq_lens:
                    base, tgt = index[(m, s, cfg.name, scope)], index[(m, s, study.target, scope)]
                    sp.append(base["latency_s"] / tgt["latency_s"])
                    en.append(tgt["energy_pj"] / base["energy_pj"])
            key = cfg.name.lstrip("+")
            res[f"speedup_vs_{key}"] = sum(sp) / len(sp)
            res[f"energy_vs_{key}"] = sum(en) / len(en)
        paper = study.paper.get(scope, {})
        res["paper"] = paper
        res["relative_error"] = {k: res[k] / v - 1 for k, v in paper.items() if k in res}
        out[scope] = res
    return out


def print_table(study: Study, rows, head, file=sys.stdout) -> None:
    configs = [c.name for c in study.configs]
    for scope in ("attention", "end2end"):
        sel = [r for r in rows if r["scope"] == scope]
        if not sel:
            continue
        print(f"\n{scope}: latency_s, energy_pj, util_2d / util_1d, dram_bytes per configuration", file=file)
        print(f"{'model':<5} {'seq':>8}  {'config':<14} {'latency_s':>11} {'energy_pj':>11} {'util_2d':>7} {'util_1d':>7} {'dram_bytes':>11}", file=file)
        for m in study.models:
            for s in study.seq_lens:
                for c in configs:
                    r = next(x for x in sel if x["model"] == m and x["seq_len"] == s and x["config"] == c)
                    print(f"{m:<5} {s:>8}  {c:<14} {r['latency_s']:>11.4g} {r['energy_pj']:>11.4g} "
                          f"{r['util_2d']:>7.3f} {r['util_1d']:>7.3f} {r['dram_bytes']:>11.4g}", file=file)
    print("\nheadline (arithmetic means over models x lengths): einsumx vs paper", file=file)
    for scope, res in head.items():
        for k, v in res["paper"].items():
            print(f"  {scope:<9} {k:<20} {res[k]:7.3f}   paper {v:6.2f}   error {res['relative_error'][k]:+6.1%}", file=file)


def write_figures(study: Study, rows, out: Path) -> list[Path]:
    """The paper's figure equivalents as PNG: speedup and energy vs the
    baseline per length, and each array's utilization per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    index = {(r["model"], r["seq_len"], r["config"], r["scope"]): r for r in rows}
    scopes = sorted({r["scope"] for r in rows})
    paths = []
    for metric, label, fname in (("speedup", f"speedup vs {study.baseline}", "speedup.png"),
                                 ("energy", f"energy / {study.baseline} energy", "energy.png")):
        fig, axes = plt.subplots(1, len(scopes), figsize=(5.5 * len(scopes), 4), squeeze=False)
        for ax, scope in zip(axes[0], scopes):
            for m in study.models:
                ys = []
                for s in study.seq_lens:
                    b, t = index[(m, s, study.baseline, scope)], index[(m, s, study.target, scope)]
                    ys.append(b["latency_s"] / t["latency_s"] if metric == "speedup" else t["energy_pj"] / b["energy_pj"])
                ax.plot(study.seq_lens, ys, marker="o", label=m)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("sequence length (tokens)")
            ax.set_ylabel(label)
            ax.set_title(f"{study.target}: {scope}")
            ax.grid(True, alpha=0.3)
            ax.legend()
        fig.tight_layout()
        paths.append(out / fname)
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    fig, axes = plt.subplots(1, len(study.models), figsize=(4.2 * len(study.models), 3.8), squeeze=False, sharey=True)
    configs = [c.name for c in study.configs]
    for ax, m in zip(axes[0], study.models):
        for k, key in enumerate(("util_2d", "util_1d")):
            vals = [sum(index[(m, s, c, "attention")][key] for s in study.seq_lens) / len(study.seq_lens) for c in configs]
            ax.bar([i + 0.4 * k for i in range(len(configs))], vals, width=0.4, label=key)
        ax.set_xticks([i + 0.2 for i in range(len(configs))], configs, rotation=30, ha="right")
        ax.set_title(f"{m}: attention, mean over lengths")
        ax.set_ylim(0, 1.05)
        ax.legend()
    fig.tight_layout()
    paths.append(out / "utilization.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
