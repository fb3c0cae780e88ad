"""einsumx: an analytical design-space explorer for AI accelerators, driven
by cascades of extended Einsums.

>>> import einsumx
>>> cascade = einsumx.load_workload("workloads/attention-3pass.yaml")  # doctest: +SKIP
>>> einsumx.analyze(cascade).passes["M"]                               # doctest: +SKIP
3
"""

from .errors import EinsumxError, Origin
from .ir.build import load_workload, parse_workload

__all__ = ["EinsumxError", "Origin", "load_workload", "parse_workload", "analyze"]
__version__ = "0.1.0"


def analyze(cascade, overrides=None, model=None):
    """Static analysis of a cascade at one point (see einsumx.analysis)."""
    from .analysis import analyze as _analyze

    return _analyze(cascade, overrides=overrides, model=model)
