"""Progress: one callback type for every long-running step (reads, apply, verification, waits).

A callback receives a :class:`ProgressEvent` — a ``str`` (the line a person reads, so ``print``
works as a callback) that also carries the step's numbers in ``.stats`` (for a read: pages,
items, consumed RCU, seconds…). Diagnostics go to :mod:`logging` under ``xacct_nb.*`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Progress", "ProgressCallback", "ProgressEvent", "report"]


class ProgressEvent(str):
    """One progress line; ``stats`` holds its numbers (empty for plain messages)."""

    stats: Mapping[str, Any]

    def __new__(cls, message: str, stats: Mapping[str, Any] | None = None) -> ProgressEvent:
        event = super().__new__(cls, message)
        event.stats = dict(stats or {})
        return event


ProgressCallback = Callable[[ProgressEvent], None]
# Reads also accept True (a tqdm bar), False (silent) or None (decide: bar in Jupyter/terminal).
Progress = bool | ProgressCallback | None


def report(callback: ProgressCallback | None, message: str, logger: logging.Logger,
           stats: Mapping[str, Any] | None = None) -> None:
    """Send one line to `callback` (if any) and to `logger` at INFO."""
    logger.info("%s", message)
    if callback is not None:
        callback(ProgressEvent(message, stats))
