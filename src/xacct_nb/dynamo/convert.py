"""DynamoDB wire-format values ↔ Python values, and frames ready for export.

One value (:func:`deserialize_value`): ``str``, ``bool``, ``None``, ``bytes``, ``int`` for
integer literals and ``Decimal`` for other numbers (unlike boto3's TypeDeserializer, which makes
every number a ``Decimal`` and binary a ``Binary`` wrapper), sets as ``set`` (or sorted ``list``),
maps and lists recursively. :func:`to_wire` / :func:`key_to_wire` go the other way, for the
low-level client's input. Whole pages become frames in :mod:`.to_pandas` (parsed by Arrow,
converted column by column).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from ._wire import number

__all__ = [
    "Numbers",
    "Sets",
    "deserialize_value",
    "key_to_wire",
    "to_wire",
    "wire_json",
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
        return number(value)
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
        return _make_set(map(number, value), sets)
    if tag == "BS":
        return _make_set(map(_binary, value), sets)
    raise ValueError(f"not a DynamoDB type tag: {tag!r}")


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


def wire_json(value: Any) -> Any:
    """Wire values in the client's input form (``B`` as bytes) as DynamoDB JSON writes them:
    binary as base64 text — what the AWS CLI takes and prints, and what a response body holds."""
    if isinstance(value, Mapping):
        return {k: wire_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_json(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def key_to_wire(key: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"pk": "a", "sk": 3}`` → ``{"pk": {"S": "a"}, "sk": {"N": "3"}}``."""
    return {name: to_wire(value) for name, value in key.items()}
