"""Write a frame to a file: CSV, Parquet or JSON Lines, chosen by the file name.

:func:`frame_for_export` makes a frame's object columns writable as text (CSV); JSON Lines keeps
maps and lists as JSON. Numbers stay numbers in JSON where that is exact (the rule of
:mod:`._wire`), else they become strings. Parquet is typed as ``scan --out x.parquet`` writes it:
:func:`frame_to_arrow` turns the frame's object columns back into DynamoDB values and types them
with the one typing of :mod:`.arrow_types` (maps as structs, lists as lists, sets as lists,
numbers as int64/decimal128, binary as binary), so a frame written by ``to_parquet`` and a read
written by :func:`.parquet.write_parquet` agree."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..atomicfile import atomic_write
from ..errors import InputError
from ._wire import survives_float
from .convert import to_wire, wire_json

__all__ = ["EXPORT_FORMATS", "export_format", "frame_for_export", "frame_to_arrow", "to_csv",
           "to_jsonl", "to_parquet", "write_frame"]

EXPORT_FORMATS = (".csv", ".parquet", ".jsonl")



def to_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """CSV: sets/maps/lists as JSON text, bytes as base64, big ints and decimals exact."""
    out = frame_for_export(df)
    with atomic_write(path, newline="") as fh:
        out.to_csv(fh, index=False)
    return Path(path)


def to_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Parquet typed as ``scan --out x.parquet`` writes it (:func:`frame_to_arrow`); the read's
    stats (``df.attrs``) are left out: they describe the read, not the data."""
    from .parquet import write_parquet

    return write_parquet(frame_to_arrow(df), path)


def frame_to_arrow(df: pd.DataFrame) -> pa.Table:
    """The frame as a typed Arrow table: typed columns as they are (``Int64``, ``float64``,
    ``boolean``, strings, Arrow dtypes); each object column's values turned back into DynamoDB
    values (:func:`.convert.to_wire`) and typed by :func:`.arrow_types.typed_table` — the typing
    every read's ``to_arrow``/Parquet has. A missing value (None, NaN, NA) is null."""
    from .arrow_parse import ArrowPages

    if not df.columns.is_unique:
        raise InputError("cannot write a frame with duplicate column names to Parquet — rename them")
    names = [str(name) for name in df.columns]
    objects = [n for n, dtype in zip(names, df.dtypes) if dtype == object]  # noqa: E721
    typed: dict[str, tuple[pa.Array, pa.Field]] = {}
    if objects:
        items = [{name: _wire_json(value) for name, value in zip(objects, row) if not _missing(value)}
                 for row in df[objects].itertuples(index=False, name=None)]
        pages = ArrowPages()
        pages.add(json.dumps({"Count": len(items), "Items": items}, ensure_ascii=False).encode())
        table = pages.table()
        for name in objects:
            if name in table.column_names:
                position = table.schema.get_field_index(name)
                typed[name] = (table.column(position).combine_chunks(), table.schema.field(position))
            else:  # missing in every row
                typed[name] = (pa.nulls(len(df)), pa.field(name, pa.null()))
    # pandas' own metadata for the typed columns: read back with pandas, Int64/boolean/str
    # columns come back as they were (a nullable int as float64 would lose digits past 2**53)
    plain = [original for name, original in zip(names, df.columns) if name not in typed]
    metadata = pa.Schema.from_pandas(df[plain], preserve_index=False).metadata if plain else None
    arrays, fields = [], []
    for name, original in zip(names, df.columns):
        if name in typed:
            array, field = typed[name]
        else:
            array = pa.Array.from_pandas(df[original])
            if pa.types.is_large_string(array.type):  # pandas' str dtype; reads type text as string
                array = array.cast(pa.string())
            field = pa.field(name, array.type)
        arrays.append(array)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def _wire_json(value: Any) -> dict[str, Any]:
    """A Python value as DynamoDB JSON as a Scan response writes it (binary as base64)."""
    return wire_json(to_wire(_plain_value(value)))


def _plain_value(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (bytes, str)):  # numpy scalars
        return value.item()
    return value



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
