"""The converter to pandas as it was before issue 22 made typed Arrow the only intermediate —
kept as a TEST ORACLE only: it converts the parsed *tag structs* page by page, without the typed
table. tests/test_frame_oracle.py checks that the package's converter (typed table → pandas)
gives the same frames, value for value, on random items.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from xacct_nb.dynamo._wire import (
    INT64_SAFE,
    INTEGER,
    MAX_RECORD_WIDTH,
    STR_DTYPE,
    all_survive_float,
    decode_base64,
    ints_survive_float,
    number,
    object_column,
    records_maker,
    split_lists,
    tags,
    union,
    unknown_tag,
)
from xacct_nb.dynamo.arrow_parse import ArrowItems, ArrowPages
from xacct_nb.dynamo.convert import Numbers, Sets
from xacct_nb.dynamo.gcpause import gc_paused

__all__ = ["FrameBuilder", "items_to_frame"]


# ---------------------------------------------------------------------------------------------
# column chunks: one page's values of one column, typed as far as that page allows.
# The final dtype is decided in _build_column, once every page is in.


class _Chunk:
    kind = ""

    def __len__(self) -> int:
        raise NotImplementedError

    def objects(self) -> list:
        """Natural Python values, None for missing."""
        raise NotImplementedError


class _Null(_Chunk):
    kind = "null"

    def __init__(self, length: int):
        self.length = length

    def __len__(self) -> int:
        return self.length

    def objects(self) -> list:
        return [None] * self.length


class _Str(_Chunk):
    kind = "str"

    def __init__(self, array: pa.Array):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def objects(self) -> list:
        return self.array.to_pylist()


class _Masked(_Chunk):
    """A numpy array plus a missing-value mask (None when nothing is missing)."""

    def __init__(self, values: np.ndarray, mask: np.ndarray | None):
        self.values = values
        self.mask = mask

    def __len__(self) -> int:
        return len(self.values)

    def full_mask(self) -> np.ndarray:
        return self.mask if self.mask is not None else np.zeros(len(self.values), dtype=bool)

    def objects(self) -> list:
        out = self.values.tolist()
        if self.mask is not None:
            for i in np.flatnonzero(self.mask).tolist():
                out[i] = None
        return out


class _Int(_Masked):
    kind = "int"

    def fits_float(self) -> bool:
        return ints_survive_float(self.values if self.mask is None else self.values[~self.mask])


class _Bool(_Masked):
    kind = "bool"


class _Float(_Masked):
    """Numbers that all survive float64 exactly (see the module docstring); NaN = missing."""

    kind = "float"

    def objects(self) -> list:
        # Every value printed back as it was written, so repr() recovers the exact number.
        return [None if v != v else Decimal(repr(v)) for v in self.values.tolist()]


class _Objects(_Chunk):
    """Python objects; kind says what they are: "bigint", "decimal" or "object" (anything)."""

    def __init__(self, kind: str, values: list):
        self.kind = kind
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def objects(self) -> list:
        return self.values


# ---------------------------------------------------------------------------------------------
# one page's column of tag structs → a chunk


def _present_tags(wire: pa.Array) -> dict[str, pa.Array]:
    """The column's type tags that hold a value somewhere (NULL left out), checked."""
    if not pa.types.is_struct(wire.type):
        raise ValueError(
            "items must be DynamoDB wire format ({'attr': {'S': 'x'}}), as from the low-level "
            f"client; found values of type {wire.type}")
    tag_arrays = tags(wire)
    unknown = unknown_tag(tag_arrays)
    if unknown:
        raise ValueError(f"not a DynamoDB type tag: {unknown!r}")
    return {t: a for t, a in tag_arrays.items() if t != "NULL" and a.null_count < len(a)}


def _to_chunk(wire: pa.Array, numbers: Numbers, sets: Sets) -> _Chunk:
    present = _present_tags(wire)
    if not present:
        return _Null(len(wire))
    if len(present) > 1:
        return _Objects("object", _mixed_values(wire, present, sets))
    ((tag, payload),) = present.items()
    if tag == "S":
        return _Str(payload.cast(pa.large_string()))
    if tag == "N":
        return _number_chunk(_texts(payload), numbers)
    if tag == "BOOL":
        return _Bool(*_masked_numpy(payload, False))
    return _Objects("object", _payload_values(tag, payload, sets))


def _texts(payload: pa.Array) -> pa.Array:
    return payload if payload.type == pa.string() else payload.cast(pa.string())


def _number_chunk(texts: pa.Array, numbers: Numbers) -> _Chunk:
    # Up to 18 digits always fits int64: Arrow then parses in C.
    if pc.all(pc.match_substring_regex(texts, INT64_SAFE)).as_py():
        return _Int(*_masked_numpy(pc.cast(texts, pa.int64()), 0))
    if pc.all(pc.match_substring_regex(texts, INTEGER)).as_py():
        try:  # 19-digit values within int64
            return _Int(*_masked_numpy(pc.cast(texts, pa.int64()), 0))
        except pa.ArrowInvalid:
            return _Objects("bigint", [None if t is None else int(t) for t in texts.to_pylist()])
    if numbers == "float" and all_survive_float(texts):
        try:
            floats = pc.cast(texts, pa.float64())
        except pa.ArrowInvalid:
            raise ValueError(f"not a DynamoDB number among {texts.to_pylist()[:5]!r}…") from None
        return _Float(floats.to_numpy(zero_copy_only=False), None)  # nulls become NaN
    return _Objects("decimal", [None if t is None else Decimal(t) for t in texts.to_pylist()])


def _masked_numpy(arrow: pa.Array, fill: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (missing replaced by ``fill``) and the missing mask (None if nothing is missing)."""
    if not arrow.null_count:
        return arrow.to_numpy(zero_copy_only=False), None
    mask = arrow.is_null().to_numpy(zero_copy_only=False)
    return arrow.fill_null(fill).to_numpy(zero_copy_only=False), mask


# ---------------------------------------------------------------------------------------------
# natural Python values of tag structs, column-wise


def _natural_values(wire: pa.Array, sets: Sets) -> list:
    """Natural Python values of a column of tag structs (None for NULL and absent)."""
    if pa.types.is_null(wire.type):  # e.g. the elements of lists that are all empty
        return [None] * len(wire)
    present = _present_tags(wire)
    if not present:
        return [None] * len(wire)
    if len(present) > 1:
        return _mixed_values(wire, present, sets)
    ((tag, payload),) = present.items()
    return _payload_values(tag, payload, sets)


def _mixed_values(wire: pa.Array, present: Mapping[str, pa.Array], sets: Sets) -> list:
    """A column of several types: each tag's values converted together, then put in place."""
    values: list = [None] * len(wire)
    for tag, payload in present.items():
        converted = _payload_values(tag, payload, sets)
        for row in np.flatnonzero(payload.is_valid().to_numpy(zero_copy_only=False)).tolist():
            values[row] = converted[row]
    return values


def _payload_values(tag: str, payload: pa.Array, sets: Sets) -> list:
    """The values under one type tag (None where a row has another tag, NULL or nothing)."""
    if tag in ("S", "BOOL"):
        return payload.to_pylist()
    if tag == "N":
        return _numbers(_texts(payload))
    if tag == "B":
        return decode_base64(payload).to_pylist()
    if tag == "M":
        return _maps(payload, sets)
    if tag == "L":
        return split_lists(payload, _natural_values(payload.flatten(), sets), None)
    elements = payload.flatten()  # a set: SS, NS or BS
    if tag == "NS":
        members = _numbers(_texts(elements))
    elif tag == "BS":
        members = decode_base64(elements).to_pylist()
    else:
        members = elements.to_pylist()
    return split_lists(payload, members, set if sets == "set" else sorted)


def _numbers(texts: pa.Array) -> list:
    """``int`` for integer literals, ``Decimal`` for the others (their written form kept)."""
    if pc.all(pc.match_substring_regex(texts, INT64_SAFE)).as_py() is not False:
        return pc.cast(texts, pa.int64()).to_pylist()
    return [None if t is None else number(t) for t in texts.to_pylist()]


def _maps(structs: pa.StructArray, sets: Sets) -> list:
    """dicts; a key is in a row's dict exactly when that map had it (a NULL value → None)."""
    values = tags(structs)  # per key, a column of tag structs: null where the key is absent
    if not values:  # only empty maps
        return [{} if ok else None for ok in structs.is_valid().to_pylist()]
    columns = [_natural_values(wire, sets) for wire in values.values()]
    names = tuple(values)
    if not structs.null_count and not any(wire.null_count for wire in values.values()):
        if len(names) <= MAX_RECORD_WIDTH:  # every map has every key: dict displays
            return records_maker(len(names))(names, columns)
        return [dict(zip(names, row)) for row in zip(*columns)]
    has = [wire.is_valid().to_pylist() for wire in values.values()]
    return [
        {n: v for n, v, here in zip(names, row, keys) if here} if ok else None
        for ok, row, keys in zip(structs.is_valid().to_pylist(), zip(*columns), zip(*has))
    ]


# ---------------------------------------------------------------------------------------------
# flattening maps into dotted columns (on the tag structs, before typing)


def _flatten(columns: Mapping[str, pa.Array]) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    flattened: set[str] = set()  # names that came from inside a map (literal names win)
    for name, wire in columns.items():
        tag_arrays = tags(wire) if pa.types.is_struct(wire.type) else {}
        maps = tag_arrays.get("M")
        if maps is None or maps.null_count == len(maps):
            _put(out, flattened, name, wire, literal=True)
            continue
        # Values that are not maps stay under the attribute's own name; a NULL map is just
        # missing in every dotted column.
        map_or_null = maps.is_valid()
        if "NULL" in tag_arrays:
            map_or_null = pc.or_(map_or_null, tag_arrays["NULL"].is_valid())
        rest = pa.StructArray.from_arrays(wire.flatten(), fields=list(wire.type),
                                          mask=pc.or_(map_or_null, wire.is_null()))
        if rest.null_count < len(rest):
            _put(out, flattened, name, rest, literal=True)
        if pa.types.is_struct(maps.type):
            for sub, sub_wire in _flatten(tags(maps)).items():
                _put(out, flattened, f"{name}.{sub}", sub_wire, literal=False)
    return out


def _put(out: dict[str, pa.Array], flattened: set[str], name: str, wire: pa.Array, *,
         literal: bool) -> None:
    if name not in out:
        out[name] = wire
        if not literal:
            flattened.add(name)
        return
    first, second = (wire, out[name]) if literal and name in flattened else (out[name], wire)
    common = union(first.type, second.type)
    out[name] = pc.if_else(first.is_valid(), first.cast(common), second.cast(common))
    if literal:
        flattened.discard(name)


# ---------------------------------------------------------------------------------------------
# chunks of all pages → one pandas column


def _build_column(
    chunks: list[_Chunk], length: int
) -> pd.Series | pd.api.extensions.ExtensionArray | np.ndarray:
    """The column's dtype from the kinds of its page chunks, by the module docstring's rules."""
    kinds = {c.kind for c in chunks} - {"null"}
    if kinds == {"str"}:
        arrays = [
            c.array if isinstance(c, _Str) else pa.nulls(len(c), pa.large_string()) for c in chunks
        ]
        return pd.arrays.ArrowStringArray(  # type: ignore[call-arg]  # pandas-stubs lag: dtype= exists
            pa.chunked_array(arrays, type=pa.large_string()), dtype=STR_DTYPE
        )
    if kinds == {"int"}:
        return pd.arrays.IntegerArray(*_concat_masked(chunks, np.int64))
    if kinds == {"bool"}:
        return pd.arrays.BooleanArray(*_concat_masked(chunks, bool))
    if kinds == {"float"} or (kinds == {"int", "float"} and _ints_fit_float(chunks)):
        return np.concatenate([_as_float(c) for c in chunks])
    if kinds and kinds <= {"int", "bigint"}:
        return object_column(chain.from_iterable(c.objects() for c in chunks), length)
    if kinds and kinds <= {"int", "bigint", "float", "decimal"}:
        return object_column(
            (None if v is None else Decimal(v) for c in chunks for v in c.objects()), length
        )
    return object_column(chain.from_iterable(c.objects() for c in chunks), length)


def _concat_masked(chunks: list[_Chunk], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    values = [c.values if isinstance(c, _Masked) else np.zeros(len(c), dtype) for c in chunks]
    masks = [c.full_mask() if isinstance(c, _Masked) else np.ones(len(c), bool) for c in chunks]
    return np.concatenate(values), np.concatenate(masks)


def _ints_fit_float(chunks: list[_Chunk]) -> bool:
    return all(c.fits_float() for c in chunks if isinstance(c, _Int))


def _as_float(chunk: _Chunk) -> np.ndarray:
    if isinstance(chunk, _Float):
        return chunk.values
    if isinstance(chunk, _Int):
        values = chunk.values.astype(np.float64)
        if chunk.mask is not None:
            values[chunk.mask] = np.nan
        return values
    return np.full(len(chunk), np.nan)


# ---------------------------------------------------------------------------------------------
# public: accumulator and one-shot conversion


class FrameBuilder:
    """Turns pages into typed column chunks as they arrive; :meth:`to_frame` at the end.

    Feed it page by page (``add_items`` with a parsed page's :class:`.arrow_parse.ArrowItems`, or
    ``add_page`` / ``add_items`` with wire-format dicts, which are parsed the same way) and drop
    each page afterwards: only the converted columns are kept (ints as int64, strings in Arrow),
    and the final frame is built once, without concatenating per-page DataFrames.
    """

    def __init__(
        self,
        *,
        key_names: Iterable[str] = (),
        numbers: Numbers = "float",
        sets: Sets = "set",
        flatten_maps: bool = False,
    ):
        if numbers not in ("float", "decimal"):
            raise ValueError(f"numbers must be 'float' or 'decimal', not {numbers!r}")
        if sets not in ("set", "list"):
            raise ValueError(f"sets must be 'set' or 'list', not {sets!r}")
        self.key_names = tuple(key_names)
        self.numbers = numbers
        self.sets = sets
        self.flatten_maps = flatten_maps
        self.rows = 0
        self._chunks: dict[str, list[_Chunk]] = {}
        self._parser = ArrowPages()  # for wire dicts: remembers the schema between pages

    def add_page(self, page: Mapping[str, Any]) -> None:
        """Add a Scan/Query response page (its ``Items``)."""
        self.add_items(page.get("Items") or [])

    def add_items(self, items: ArrowItems | Sequence[Mapping[str, Any]]) -> None:
        """Add one page's items: parsed by Arrow, or wire-format dicts (B as base64 or bytes)."""
        if not isinstance(items, ArrowItems):
            items = self._parsed(items)
        n = len(items)
        if not n:
            return
        with gc_paused():  # many containers, no cycles: see gcpause.gc_paused
            columns = tags(items.array)
            if self.flatten_maps:
                columns = _flatten(columns)
            for name, wire in columns.items():
                chunks = self._chunks.get(name)
                if chunks is None:
                    chunks = self._chunks[name] = [_Null(self.rows)] if self.rows else []
                chunks.append(_to_chunk(wire, self.numbers, self.sets))
        for name, chunks in self._chunks.items():
            if name not in columns:
                chunks.append(_Null(n))
        self.rows += n

    def _parsed(self, items: Sequence[Mapping[str, Any]]) -> ArrowItems:
        body = json.dumps({"Items": list(items), "Count": len(items)}, default=_json_bytes,
                          ensure_ascii=False).encode()
        return self._parser.parse(body)["Items"]

    def to_frame(self) -> pd.DataFrame:
        names = list(dict.fromkeys(chain(self.key_names, self._chunks)))
        data = {
            name: _build_column(self._chunks.get(name, [_Null(self.rows)]), self.rows)
            for name in names
        }
        return pd.DataFrame(data, index=pd.RangeIndex(self.rows), columns=names, copy=False)


def _json_bytes(value: Any) -> str:
    """botocore's parsed items carry B values as bytes: base64 text, as on the wire."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    raise ValueError(
        "items must be DynamoDB wire format ({'attr': {'S': 'x'}}), as from the low-level "
        f"client; found a {type(value).__name__}: {value!r}")


def items_to_frame(
    items_or_pages: Iterable[Mapping[str, Any]],
    *,
    key_names: Iterable[str] = (),
    numbers: Numbers = "float",
    sets: Sets = "set",
    flatten_maps: bool = False,
) -> pd.DataFrame:
    """Wire-format items, or pages of them, → a DataFrame.

    A page is a Scan/Query response (a dict with an ``Items`` list) or a list of items; items
    and pages may be mixed. Column order, dtypes and the ``numbers``/``sets``/``flatten_maps``
    options are described in this module's docstring.
    """
    builder = FrameBuilder(
        key_names=key_names, numbers=numbers, sets=sets, flatten_maps=flatten_maps
    )
    batch: list = []
    for element in items_or_pages:
        # An item's values are dicts, so an "Items" list marks a response page.
        if isinstance(element, list) or isinstance(element.get("Items"), list):
            builder.add_items(batch)
            batch = []
            builder.add_items(element if isinstance(element, list) else element["Items"])
        else:
            batch.append(element)
    builder.add_items(batch)
    return builder.to_frame()
