"""Write a frame to a file: CSV, Parquet or JSON Lines, chosen by the file name."""

from __future__ import annotations

import base64
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomicfile import atomic_path, atomic_write
from ..errors import InputError
from .convert import frame_for_export

__all__ = ["EXPORT_FORMATS", "export_format", "to_csv", "to_jsonl", "to_parquet", "write_frame"]

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
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")

