"""DynamoDB wire-format values ↔ Python values, and frames ready for export.

One value (:func:`deserialize_value`): ``str``, ``bool``, ``None``, ``bytes``, ``int`` for
integer literals and ``Decimal`` for other numbers (unlike boto3's TypeDeserializer, which makes
every number a ``Decimal`` and binary a ``Binary`` wrapper), sets as ``set`` (or sorted ``list``),
maps and lists recursively. :func:`to_wire` / :func:`key_to_wire` go the other way, for the
low-level client's input. Whole pages become frames in :mod:`.frame` (parsed by Arrow, converted
column by column); :func:`frame_for_export` makes a frame's object columns writable as text.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "Numbers",
    "Sets",
    "deserialize_value",
    "frame_for_export",
    "key_to_wire",
    "to_wire",
]

Numbers = Literal["float", "decimal"]
Sets = Literal["set", "list"]

# ---------------------------------------------------------------------------------------------
# single values


def deserialize_value(av: Mapping[str, Any], *, sets: Sets = "set") -> Any:
    """One wire-format value (``{"N": "1.5"}``) → its natural Python value.

    ``N`` → ``int`` for integer literals, else ``Decimal``; ``B`` → ``bytes``; sets → ``set``
    (or sorted ``list`` with ``sets="list"``); ``M``/``L`` recursively; ``NULL`` → ``None``.
    """
    try:
        ((tag, value),) = av.items()
    except (AttributeError, ValueError):
        raise ValueError(f"not a DynamoDB attribute value: {av!r}") from None
    return _deserialize(tag, value, sets)


def _deserialize(tag: str, value: Any, sets: Sets) -> Any:
    if tag == "S" or tag == "BOOL":
        return value
    if tag == "N":
        return _number(value)
    if tag == "M":
        return {k: deserialize_value(v, sets=sets) for k, v in value.items()}
    if tag == "L":
        return [deserialize_value(v, sets=sets) for v in value]
    if tag == "NULL":
        return None
    if tag == "B":
        return _binary(value)
    if tag == "SS":
        return _make_set(value, sets)
    if tag == "NS":
        return _make_set(map(_number, value), sets)
    if tag == "BS":
        return _make_set(map(_binary, value), sets)
    raise ValueError(f"not a DynamoDB type tag: {tag!r}")


def _number(text: str) -> int | Decimal:
    if _is_decimal_text(text):  # int() would fail: skip its costly exception
        return Decimal(text)
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def _is_decimal_text(text: Any) -> bool:
    """True for number texts that surely are no integer literal (has a point or an exponent)."""
    try:
        return "." in text or "e" in text or "E" in text
    except TypeError:  # not text: let int() decide, as before
        return False


def _binary(value: str | bytes) -> bytes:
    # Raw pages carry base64 text; botocore's parsed responses carry bytes already.
    return base64.b64decode(value) if isinstance(value, str) else bytes(value)


def _make_set(values: Iterable, sets: Sets) -> set | list:
    return set(values) if sets == "set" else sorted(values)


def to_wire(value: Any) -> dict[str, Any]:
    """A Python value → wire format for the low-level client's *input* (``B`` as bytes).

    The inverse of :func:`deserialize_value`; floats are sent as their shortest repr. Used for
    key conditions and ``ExclusiveStartKey``; speed does not matter there.
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": _number_text(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_wire(v) for k, v in value.items()}}
    if isinstance(value, (set, frozenset)):
        return _set_to_wire(value)
    if isinstance(value, (list, tuple)):
        return {"L": [to_wire(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB: {value!r}")


def _number_text(value: int | float | Decimal) -> str:
    if isinstance(value, float) and not np.isfinite(value):
        raise ValueError(f"DynamoDB numbers must be finite, got {value!r}")
    return str(value) if not isinstance(value, float) else repr(value)


def _set_to_wire(values: set | frozenset) -> dict[str, list]:
    if not values:
        raise ValueError("DynamoDB sets cannot be empty")
    if all(isinstance(v, str) for v in values):
        return {"SS": sorted(values)}
    if all(isinstance(v, (bytes, bytearray)) for v in values):
        return {"BS": sorted(bytes(v) for v in values)}
    if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in values):
        return {"NS": [_number_text(v) for v in sorted(values)]}
    raise TypeError(f"a DynamoDB set holds only strings, only numbers or only bytes: {values!r}")


def key_to_wire(key: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"pk": "a", "sk": 3}`` → ``{"pk": {"S": "a"}, "sk": {"N": "3"}}``."""
    return {name: to_wire(value) for name, value in key.items()}



# ---------------------------------------------------------------------------------------------
# records: one dict per row, fast

_MAX_RECORD_WIDTH = 16


@functools.cache
def _records_maker(width: int) -> Callable[[tuple, list], list[dict]]:
    """``make(names, columns)`` → one dict per row, ``{names[0]: columns[0][i], ...}``.

    A dict display with ``width`` entries builds each record ~2x faster than ``dict(zip(..))``.
    The generated source depends on ``width`` (an int) only; the names are arguments.
    """
    keys = ", ".join(f"k{i}" for i in range(width))
    values = ", ".join(f"v{i}" for i in range(width))
    pairs = ", ".join(f"k{i}: v{i}" for i in range(width))
    source = (
        f"def make(names, columns):\n"
        f"    {keys}, = names\n"
        f"    return [{{{pairs}}} for {values}, in zip(*columns)]\n"
    )
    namespace: dict = {}
    exec(source, namespace)  # the source is built from integers only
    return namespace["make"]


# ---------------------------------------------------------------------------------------------
# export


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
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)
