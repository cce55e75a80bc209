"""The DynamoDB wire format's facts and the number rules, once (private to :mod:`xacct_nb.dynamo`).

Every module that reads wire values — parsing (:mod:`.arrow_parse`), typing (:mod:`.arrow_types`),
the pandas converter (:mod:`.to_pandas`), single values (:mod:`.convert`), the Dask meta
(:mod:`.distributed`) and export reading (:mod:`.export_reader`) — takes them from here, so
``scan``, ``to_arrow``, ``to_dask`` and exports cannot disagree on a tag or on when a number is
allowed to become a float. Names here have no leading underscore: the *module* is private, its
names are shared inside the package (no private name crosses a module boundary).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# ---------------------------------------------------------------------------------------------
# the wire format

TYPE_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L"})
SET_TAGS = frozenset({"SS", "NS", "BS"})
# A regex alternative of every tag (for the parser's item-boundary sniffing).
TAG_PATTERN = "|".join(sorted(TYPE_TAGS, key=lambda t: (-len(t), t)))


def tags(struct: pa.StructArray) -> dict[str, pa.Array]:
    """A struct's children by name, null wherever the struct itself is (unlike ``.field()``)."""
    return dict(zip((f.name for f in struct.type), struct.flatten()))


def unknown_tag(names: Iterable[str]) -> str | None:
    """The first name (sorted) that is not a DynamoDB type tag, else None."""
    unknown = set(names) - TYPE_TAGS
    return sorted(unknown)[0] if unknown else None


def union(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The parsed (tag struct) type that holds both: structs by field, lists by element."""
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {f.name: f.type for f in a}
        for f in b:
            fields[f.name] = union(fields[f.name], f.type) if f.name in fields else f.type
        return pa.struct(list(fields.items()))
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(union(a.value_type, b.value_type))
    raise ValueError(f"pages disagree on a wire type: {a} vs {b}")


def wire_value(tag_struct: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed tag struct as Python (absent tags as None) back to its wire form."""
    tag, payload = next((t, v) for t, v in tag_struct.items() if v is not None)
    if tag == "M":
        return {"M": {k: wire_value(v) for k, v in payload.items() if v is not None}}
    if tag == "L":
        return {"L": [wire_value(v) for v in payload]}
    return {tag: payload}


# ---------------------------------------------------------------------------------------------
# numbers: when may a DynamoDB number become a float64?

MAX_EXACT_INT = 2**53  # larger integers are not all representable in float64
SHORT_DECIMAL = 15  # a literal this long has <= 15 significant digits: it survives float64
INT64_SAFE = r"^-?[0-9]{1,18}$"  # any integer literal of up to 18 digits fits int64
INTEGER = r"^-?[0-9]+$"


def survives_float(text: str) -> bool:
    """THE rule: an integer literal survives float64 when ``|x| <= 2**53``; any other literal
    when it prints back as the same number after the trip (``Decimal(repr(float(s))) ==
    Decimal(s)``; always true for up to 15 significant digits)."""
    try:
        return abs(int(text)) <= MAX_EXACT_INT
    except ValueError:
        return Decimal(repr(float(text))) == Decimal(text)


def all_survive_float(texts: pa.Array) -> bool:
    """:func:`survives_float` for a column of number texts (short literals need no check)."""
    long = pc.filter(texts, pc.greater(pc.utf8_length(texts), SHORT_DECIMAL))
    return all(survives_float(t) for t in long.to_pylist())


def ints_survive_float(values: np.ndarray) -> bool:
    """:func:`survives_float` for int64 values."""
    return not values.size or bool(values.min() >= -MAX_EXACT_INT and values.max() <= MAX_EXACT_INT)


def number(text: str) -> int | Decimal:
    """A number literal as Python: ``int`` for integer literals, else ``Decimal`` (its written
    form kept)."""
    if is_decimal_text(text):  # int() would fail: skip its costly exception
        return Decimal(text)
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def is_decimal_text(text: Any) -> bool:
    """True for number texts that surely are no integer literal (has a point or an exponent)."""
    try:
        return "." in text or "e" in text or "E" in text
    except TypeError:  # not text: let int() decide, as before
        return False


# ---------------------------------------------------------------------------------------------
# pandas columns

# pandas' default "str" dtype (NaN for missing), built directly on Arrow's string chunks.
STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def object_column(values: Iterable, length: int) -> pd.Series:
    """An object column of exactly these values.

    fromiter keeps lists/sets as single elements (np.array would try to nest them), and the
    explicit object Series stops pandas from re-inferring a str dtype."""
    return pd.Series(np.fromiter(values, dtype=object, count=length), dtype=object, copy=False)


MAX_RECORD_WIDTH = 16


@functools.cache
def records_maker(width: int) -> Callable[[tuple, list], list[dict]]:
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
# lists and binary, column-wise


def rebased_offsets(lists: pa.ListArray) -> pa.Array:
    """A (possibly sliced) list array's offsets, starting at 0."""
    offsets = lists.offsets
    first = offsets[0].as_py()
    return pc.subtract(offsets, first) if first else offsets


def split_lists(lists: pa.ListArray, elements: list, make: Any) -> list:
    """Converted ``elements`` (of ``lists.flatten()``) cut back into one list per row (``make``
    applied to each, e.g. ``set``); None for a null list."""
    ends = rebased_offsets(lists).to_pylist()
    pieces = map(elements.__getitem__, map(slice, ends[:-1], ends[1:]))
    if make is not None:
        pieces = map(make, pieces)
    if not lists.null_count:
        return list(pieces)
    return [piece if ok else None for ok, piece in zip(lists.is_valid().to_pylist(), pieces)]


_BASE64 = np.full(256, 255, dtype=np.uint8)
_BASE64[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                      np.uint8)] = np.arange(64, dtype=np.uint8)
_PAD = ord("=")


def decode_base64(texts: pa.Array) -> pa.Array:
    """Base64 text → binary, vectorised: every 4 characters give 3 bytes, padding dropped."""
    texts = texts.cast(pa.large_string())
    filled = pc.fill_null(texts, "") if texts.null_count else texts
    start = filled.offset
    offsets = np.frombuffer(filled.buffers()[1], np.int64)[start: start + len(filled) + 1]
    data = np.frombuffer(filled.buffers()[2], np.uint8)[offsets[0]: offsets[-1]]
    offsets = offsets - offsets[0]
    lengths = np.diff(offsets)
    sextets = _BASE64[data]
    if (lengths % 4).any() or (sextets == 255).any() and not _only_padding(data, sextets, offsets):
        raise ValueError("binary values must be base64 text")
    sextets[data == _PAD] = 0
    quads = sextets.reshape(-1, 4).astype(np.uint32)
    word = quads[:, 0] << 18 | quads[:, 1] << 12 | quads[:, 2] << 6 | quads[:, 3]
    decoded = np.stack([word >> 16, word >> 8, word], axis=1).astype(np.uint8).ravel()
    ends = offsets[1:]
    padding = np.zeros(len(lengths), np.int64)
    nonempty = lengths > 0
    padding[nonempty] = (data[ends[nonempty] - 1] == _PAD).astype(np.int64) + (
        data[ends[nonempty] - 2] == _PAD
    )
    sizes = lengths // 4 * 3 - padding
    starts = offsets[:-1] // 4 * 3
    position = np.arange(len(decoded)) - np.repeat(starts, lengths // 4 * 3)
    kept = decoded[position < np.repeat(sizes, lengths // 4 * 3)]
    new_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(filled), [None, pa.py_buffer(new_offsets), pa.py_buffer(kept)]
    ).cast(pa.binary())
    if texts.null_count:
        binary = pc.if_else(texts.is_valid(), binary, pa.scalar(None, pa.binary()))
    return binary


def _only_padding(data: np.ndarray, sextets: np.ndarray, offsets: np.ndarray) -> bool:
    """True when every non-base64 byte is an '=' in one of the last two places of its value."""
    bad = np.flatnonzero(sextets == 255)
    if (data[bad] != _PAD).any():
        return False
    ends = np.repeat(offsets[1:], np.diff(offsets))
    return bool((ends[bad] - bad <= 2).all())
