"""The options of one read, checked once: :class:`ReadOptions`, shared by ``scan``, ``query``,
``iter_pages``, ``to_arrow`` and ``to_dask``; and how a projected name no item had is reported.

``RemoteTable.scan``/``query`` keep their keyword arguments (the public signatures); each builds
one frozen :class:`ReadOptions` and everything below works on that, so a new option is added in
one place and cannot be dropped on the way to the reader, the converter or a Dask worker.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, ProjectionWarning
from ..grammar import AttributePath
from .convert import Numbers, Sets
from .expressions import projection_missing
from .to_pandas import DtypeBackend, pandas_options_problem

__all__ = ["CONVERTER_OPTIONS", "MAX_SEGMENTS", "ProjectionWarning", "ReadOptions",
           "check_segments", "report_projection", "warn_missing"]

MAX_SEGMENTS = 64  # one thread each; beyond this threads only contend for the GIL
# The options that choose how pages become a frame (the rest choose what is read).
CONVERTER_OPTIONS = ("numbers", "sets", "flatten_maps", "dtype_backend")


@dataclass(frozen=True)
class ReadOptions:
    """What to read and how to convert it; the meaning of each is in :meth:`RemoteTable.scan`'s
    docstring. ``descending`` is a query's only (``ScanIndexForward=False``)."""

    index: str | None = None
    filter: Mapping[AttributePath, Any] | str | None = None
    projection: Iterable[AttributePath] | str | None = None
    max_items: int | None = None
    max_rcu: float | None = None
    segments: int = 1
    allow_full_scan: bool = False
    consistent: bool = False
    names: Mapping[str, str] | None = None
    values: Mapping[str, Any] | None = None
    page_size: int | None = None
    start_key: Any = None
    descending: bool = False
    numbers: Numbers = "float"
    sets: Sets = "set"
    flatten_maps: bool = False
    dtype_backend: DtypeBackend | None = None

    def check(self) -> None:
        """Budgets, segments and converter options: one-line InputErrors, before any call."""
        for name, value in (("max_items", self.max_items), ("page_size", self.page_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise InputError(f"{name} must be a whole number ≥ 1, not {value!r}")
        max_rcu = self.max_rcu
        if max_rcu is not None and (isinstance(max_rcu, bool)
                                    or not isinstance(max_rcu, (int, float)) or max_rcu <= 0):
            raise InputError(f"max_rcu must be a number > 0, not {max_rcu!r}")
        check_segments(self.segments)
        problem = pandas_options_problem(self.dtype_backend, self.numbers, self.sets)
        if problem:
            raise InputError(problem)

    def replace(self, **changes: Any) -> ReadOptions:
        return dataclasses.replace(self, **changes)

    def given(self) -> dict[str, Any]:
        """The options that differ from their defaults, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != f.default}

    def refuse(self, caller: str, names: Iterable[str], why: str) -> None:
        """An InputError naming the first of ``names`` that was given (not left at its default)."""
        given = self.given()
        for name in names:
            if name in given:
                raise InputError(f"{caller} takes no {name}=: {why}")


def check_segments(segments: Any) -> None:
    if isinstance(segments, bool) or not isinstance(segments, int) \
            or not 1 <= segments <= MAX_SEGMENTS:
        raise InputError(f"segments must be a whole number from 1 to {MAX_SEGMENTS}, "
                         f"not {segments!r}")


def report_projection(df: Any, projection: Any, *, flatten_maps: bool = False) -> Any:
    """Never drop a projected name silently: the names no returned item had go in
    ``df.attrs["xacct"]["projection_missing"]`` and a :class:`ProjectionWarning` (only when
    rows came back: an empty result says nothing of the attributes)."""
    if projection is None:
        return df
    columns = [str(c) for c in df.columns]
    if flatten_maps:
        columns += [c.split(".", 1)[0] for c in columns]
    missing = warn_missing(projection, columns) if len(df) else []
    df.attrs.setdefault("xacct", {})["projection_missing"] = missing
    return df


def warn_missing(projection: Any, columns: Iterable[str], *, stacklevel: int = 3) -> list[str]:
    missing = projection_missing(projection, columns)
    if missing:
        warnings.warn(f"projection: no item returned {', '.join(missing)} — check the name; a str "
                      "is ONE attribute name (\"a.b\" is not a path): spell a nested path as a "
                      "tuple ('a', 'b'), or a.b in the CLI/panel grammar", ProjectionWarning,
                      stacklevel=stacklevel)
    return missing
