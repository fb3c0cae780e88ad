"""Plots for reports: what extra passes cost as the sequence grows.

matplotlib is imported inside the functions (Agg canvas, no pyplot), so
``einsumx analyze`` does not pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..analysis import Analysis
from ..errors import EinsumxError
from .text import human_bytes

SEQS: tuple[int, ...] = tuple(2**k for k in range(10, 21, 2))
"""Sequence lengths swept: 1K, 4K, 16K, 64K, 256K, 1M tokens."""


@dataclass
class SeqSeries:
    """The numbers of the sequence-length plot, one entry per valid ``seq``."""

    seqs: list[int] = field(default_factory=list)
    footprint: dict[str, list[int]] = field(default_factory=dict)
    """Rank (with more than one pass) -> live-footprint lower bound per fiber, bytes."""
    spill: dict[str, list[int]] = field(default_factory=dict)
    """Rank -> traffic of spilling the live tensors instead, bytes."""
    compulsory: list[int] = field(default_factory=list)
    """Compulsory traffic, bytes."""
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """``seq`` values the workload rejects, with the reason."""


def footprint_series(an: Analysis, seqs=SEQS) -> SeqSeries | None:
    r"""Live footprint, spill and compulsory traffic of ``an`` at each ``seq``.

    Everything but ``seq`` stays as ``an`` was analysed (model, ``--set``). Returns None if the workload
    has no ``seq`` parameter. Two passes over K: one 16-bit A fiber is live.

    >>> from einsumx import analyze, parse_workload
    >>> an = analyze(parse_workload("params: {seq: 1024}\nranks: {K: seq}\ntensors: {A: [K], B: [K]}\n"
    ...     "einsums: |\n  Y = A[k] * B[k]\n  Z[k] = Y * A[k]\noutputs: [Z]\n"))
    >>> footprint_series(an, [1024, 4096]).footprint["K"]
    [2048, 8192]
    """
    if "seq" not in an.cascade.params:
        return None
    ranks = [r for r, info in an.pass_info.items() if info.passes > 1]
    series = SeqSeries(footprint={r: [] for r in ranks}, spill={r: [] for r in ranks})
    for n in seqs:
        try:
            point = an.point_at(seq=n)
        except EinsumxError as err:
            series.skipped.append((n, err.message))
            continue
        series.seqs.append(n)
        for r in ranks:
            series.footprint[r].append(point.value(an.footprints[r].bytes))
            series.spill[r].append(point.value(an.footprints[r].spill_bytes))
        series.compulsory.append(point.value(an.compulsory))
    return series


def plot_seq_sweep(an: Analysis, series: SeqSeries, path: str | Path) -> Path:
    """Plot ``series`` (from ``footprint_series(an)``, at least one valid
    ``seq``) log-log in two panels to a PNG at ``path``; return the path.

    >>> plot_seq_sweep(an, footprint_series(an), "out/attention-3pass.png")  # doctest: +SKIP
    PosixPath('out/attention-3pass.png')
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for rank, values in series.footprint.items():
        left.plot(series.seqs, values, marker="o", label=f"{rank} ({an.pass_info[rank].passes} passes)")
    for rank, values in series.spill.items():
        right.plot(series.seqs, values, marker="o", label=f"spill over {rank}")
    right.plot(series.seqs, series.compulsory, marker="s", color="black", linestyle="--", label="compulsory")
    left.set_title("Live-footprint lower bound per fiber")
    left.set_ylabel("live footprint per fiber (bytes)")
    right.set_title("Traffic")
    right.set_ylabel("traffic (bytes)")
    analysed = an.point.params["seq"]
    for ax in (left, right):
        _log_axes(ax, series.seqs)
        if series.seqs and min(series.seqs) <= analysed <= max(series.seqs):
            ax.axvline(float(analysed), color="grey", linestyle=":", linewidth=1, label=f"analysed (seq={analysed})")
        ax.grid(True, which="major", alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize="small")
    if not series.footprint:
        left.text(0.5, 0.5, "no rank needs more than one pass", ha="center", va="center", transform=left.transAxes)
        left.set_xlim(right.get_xlim())
        left.set_yticks([])
    fig.suptitle(f"{an.cascade.name}: cost of the extra passes vs sequence length")
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _log_axes(ax, seqs) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("sequence length (tokens)")
    ax.xaxis.set_major_locator(FixedLocator(list(seqs)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _tokens(int(x))))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_locator(LogLocator(base=2, numticks=9))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: human_bytes(int(y)) if y >= 1 else ""))
    ax.yaxis.set_minor_locator(NullLocator())


def _tokens(n: int) -> str:
    """1024 -> '1K', 2**20 -> '1M'."""
    for unit, size in (("M", 2**20), ("K", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)
