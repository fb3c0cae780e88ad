"""Timeloop v4 / Accelergy interoperation: read their YAML into einsumx's
loop-nest objects (``read``), write them back (``write``), print and parse
Timeloop's stats (``stats``), and run the real ``timeloop-model`` when it is
installed (``run``)."""

from .read import TimeloopSpec, read_timeloop

__all__ = ["TimeloopSpec", "read_timeloop"]
