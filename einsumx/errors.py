"""The one error type einsumx raises for a user's mistake, and warnings.

Every error carries where it happened (file, line, column, all 1-based) and
the offending source line, so the command line can print it the way compilers
do::

    workloads/bad.yaml:12:24: unknown tensor 'Kx'
        QK[m,p] = Q[e,p] * Kx[e,m]
                           ^
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """A position in a source file (1-based line and column)."""

    file: str | None = None
    line: int | None = None
    col: int | None = None
    source_line: str | None = None
    """The whole text of the line, for the caret display."""

    def shifted(self, offset: int) -> "Origin":
        """The origin ``offset`` characters further along the same line."""
        if self.col is None:
            return self
        return Origin(self.file, self.line, self.col + offset, self.source_line)

    def prefix(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


class EinsumxError(Exception):
    """A mistake in a user's input: a workload, an option, a value.

    ``message`` is the bare explanation (tests compare it exactly);
    ``str(error)`` is ``file:line:col: message`` followed by the source line
    and a caret under the offending text when the position is known.
    """

    def __init__(self, message: str, origin: Origin | None = None):
        super().__init__(message)
        self.message = message
        self.origin = origin or Origin()

    def __str__(self) -> str:
        return format_diagnostic(self.message, self.origin)


def format_diagnostic(message: str, origin: Origin, kind: str = "") -> str:
    head = f"{origin.prefix()}: {kind}{message}"
    if origin.source_line is None or origin.col is None:
        return head
    text = origin.source_line.rstrip("\n")
    caret = " " * (origin.col - 1) + "^"
    return f"{head}\n    {text}\n    {caret}"


@dataclass(frozen=True)
class Warning_:
    """A suspicious but legal construct (for example an unused output)."""

    message: str
    origin: Origin

    def __str__(self) -> str:
        return format_diagnostic(self.message, self.origin, kind="warning: ")
