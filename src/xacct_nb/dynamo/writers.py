"""Write a frame to a file: CSV, Parquet or JSON Lines, chosen by the file name.

:func:`frame_for_export` makes a frame's object columns writable as text (CSV, Parquet); JSON
Lines keeps maps and lists as JSON. Numbers stay numbers in JSON where that is exact (the rule of
:mod:`._wire`), else they become strings. (A read's typed Arrow table, nested columns and all,
is written by :func:`.parquet.write_parquet`.)"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomicfile import atomic_path, atomic_write
from ..errors import InputError
from ._wire import survives_float

__all__ = ["EXPORT_FORMATS", "export_format", "frame_for_export", "to_csv", "to_jsonl",
           "to_parquet", "write_frame"]

EXPORT_FORMATS = (".csv", ".parquet", ".jsonl")



def to_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """CSV: sets/maps/lists as JSON text, bytes as base64, big ints and decimals exact."""
    out = frame_for_export(df)
    with atomic_write(path, newline="") as fh:
        out.to_csv(fh, index=False)
    return Path(path)


def to_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Parquet: typed columns stay typed; object columns become text as in :func:`to_csv`."""
    out = frame_for_export(df)
    out.attrs = {}  # read stats are not data; pyarrow would store them as file metadata
    with atomic_path(path) as temp:
        out.to_parquet(temp, index=False)
    return Path(path)


def to_jsonl(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """JSON Lines, one object per row, missing attributes left out. Maps and lists stay JSON
    objects and arrays, sets become sorted arrays, bytes base64, numbers stay numbers where
    that is exact (ints of any size; decimals that survive float) and become strings otherwise."""
    with atomic_write(path) as fh:
        for row in df.to_dict("records"):
            obj = {k: v for k, v in row.items() if not _missing(v)}
            fh.write(json.dumps(obj, ensure_ascii=False, default=_json_default) + "\n")
    return Path(path)


def write_frame(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write by extension: .csv, .parquet or .jsonl."""
    writer = {".csv": to_csv, ".parquet": to_parquet, ".jsonl": to_jsonl}[export_format(path)]
    return writer(df, path)


def export_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise InputError(f"cannot write {os.fspath(path)!r}: use a file name ending in "
                         f"{', '.join(EXPORT_FORMATS)}")
    return suffix


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return _json_number(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def frame_for_export(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` that CSV, Parquet and JSON Lines writers take as is.

    Typed columns (``Int64``, ``float64``, ``boolean``, ``str``, ...) are kept. Every object
    column becomes a ``str`` column (missing stays missing): text as is; ``int``/``Decimal`` as
    their exact digits (``str()``); ``bytes`` as base64; sets as JSON lists, sorted; dicts and
    lists as JSON text; ``bool`` as ``true``/``false``. Inside JSON, numbers stay numbers where
    that is exact (ints; decimals that survive float) and become strings otherwise, bytes
    become base64 strings.
    """
    out = df.copy(deep=False)
    for position, dtype in enumerate(df.dtypes):
        if dtype == object:  # noqa: E721 (a numpy dtype compares equal to the type object)
            values = [_export_text(v) for v in df.iloc[:, position].tolist()]
            out.isetitem(position, pd.Series(values, index=df.index, dtype="str"))  # type: ignore[arg-type]
    return out


def _export_text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (bool, dict, list, tuple, set, frozenset)):
        return json.dumps(_jsonable(value), ensure_ascii=False)
    return str(value)  # int, Decimal, float, and anything else printable


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return [_jsonable(v) for v in sorted(value)]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return _json_number(value)
    return value


def _json_number(value: Decimal) -> int | float | str:
    """Exact in JSON: an int, a float when the number survives float64 (the one rule), else text."""
    if value == value.to_integral_value():
        return int(value)
    return float(value) if survives_float(str(value)) else str(value)
