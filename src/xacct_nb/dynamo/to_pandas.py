"""THE converter to pandas: typed Arrow tables → one DataFrame, converted page by page.

Every frame the package makes comes from here — ``scan``/``query``/``get`` (each
``dtype_backend``), ``iter_pages``, the Dask partitions and their meta, export reads — so they
all have the same dtypes and values. ``dtype_backend="numpy_nullable"`` is this frame with
nullable dtypes (:func:`with_nullable_dtypes`); ``"pyarrow"`` is the typed Arrow table
(:mod:`.arrow_types`) as ``pd.ArrowDtype`` columns, zero-copy (:func:`arrow_dtype_frame`).

Each page's body is parsed by ``pyarrow.json`` (:class:`.arrow_parse.ArrowPages`): every attribute is
a column of type-tag structs (``struct<S: string, N: string, M: struct<..>, ...>``). As each
page arrives, :class:`FrameBuilder` has it typed — :func:`.arrow_types.typed_table` with
``lossless=True``: int64, bool, string, binary, structs, lists, exact number text, and a
``"<key>/NULL"`` marker next to each map member that has an explicit NULL — and turns every typed
column into a *chunk*, while the next page downloads; :meth:`FrameBuilder.to_frame` only decides
each column's final dtype from its chunks' kinds and joins them. Typed Arrow is the only
intermediate: apart from ``flatten_maps`` (a reshape of the parsed items before typing), this
module never reads a type tag.

Columns
    Every attribute that appears in any item becomes a column: key attributes first (in
    ``key_names`` order, present even when no item has them), then in order of first appearance.
    An absent attribute and ``NULL`` are both missing values.

Types, per column (decided over ALL rows, so every page of a read agrees)
    * ``S`` → pandas' default ``str`` dtype (pyarrow-backed; missing is NaN), straight from
      Arrow's parse.
    * ``BOOL`` → nullable ``boolean``.
    * ``N``, integer literals only, all within int64 → nullable ``Int64``. Any integer outside
      int64 → object column of Python ``int``.
    * ``N`` with decimal literals (``"1.5"``, ``"1E+2"``), ``numbers="float"`` (default) →
      ``float64`` (missing is NaN) **only if no value changes**: each integer literal has
      ``|x| <= 2**53`` and each decimal literal prints back as the same number after the trip
      through float (``Decimal(repr(float(s))) == Decimal(s)``; always true for up to 15
      significant digits). Otherwise, and always with ``numbers="decimal"``, the column holds
      exact ``decimal.Decimal`` objects (integers included, as ``Decimal``). So precision is
      never lost silently, and numbers whose precision varies between pages always load.
    * ``B`` → ``bytes``. ``SS``/``NS``/``BS`` → ``set`` (``sets="set"``) or sorted ``list``
      (``sets="list"``). ``M``/``L`` → ``dict``/``list``, converted recursively; a ``NULL``
      inside a map is a key whose value is ``None`` (an absent key stays absent).
    * A column whose values have different DynamoDB types → object column of each value's natural
      Python type (see :func:`.convert.deserialize_value`).
    * Object columns hold ``None`` for missing values; a column with no values at all is object.

Nested values are converted column-wise too: a map attribute's keys are struct children, a list
attribute's elements one array, each converted as a whole and put back together (a member is in
a row's dict where its child is valid or its NULL marker is true); nested numbers keep their
written form (``"1E+2"`` → ``Decimal("1E+2")``, ``"7"`` → ``int``).

``flatten_maps=True`` spreads map values into dotted columns (``address.city``), recursively; a
non-map value of the same attribute stays in the column named after it, an empty or NULL map
contributes nothing, and if an item has both an attribute literally named ``a.b`` and a map
``a`` with key ``b``, the literal attribute's value is kept. Dotted columns follow their map's
column in order of first appearance, page by page (a key first seen in a later page comes after
the columns of earlier pages). Flattening reshapes the parsed tag structs, before typing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import chain
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._wire import (
    MAX_RECORD_WIDTH,
    STR_DTYPE,
    ints_survive_float,
    number,
    object_column,
    records_maker,
    split_lists,
    tags,
    union,
)
from .arrow_parse import ArrowItems, ArrowPages
from .arrow_types import DYNAMODB_JSON, ENCODING, FLOAT_EXACT, INTEGERS, NULL_OF, NUMBER, SET, typed_table
from .convert import Numbers, Sets, deserialize_value
from .gcpause import gc_paused

__all__ = ["DtypeBackend", "FrameBuilder", "arrow_dtype_frame", "items_to_frame",
           "pandas_options_problem", "with_nullable_dtypes"]

DtypeBackend = Literal["numpy_nullable", "pyarrow"]


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
# one page's typed column (arrow_types, lossless) → a chunk


def _to_chunk(typed: pa.Array, field: pa.Field, numbers: Numbers, sets: Sets) -> _Chunk:
    kind = _kind(typed, field)
    if kind == "null":
        return _Null(len(typed))
    if kind == "str":
        return _Str(typed.cast(pa.large_string()))
    if kind == "int":
        return _Int(*_masked_numpy(typed, 0))
    if kind == "bool":
        return _Bool(*_masked_numpy(typed, False))
    if kind == "number":
        return _number_chunk(typed, field.metadata, numbers)
    return _Objects("object", _values(typed, field, sets, kind))


def _kind(typed: pa.Array, field: pa.Field) -> str:
    """What a typed column holds: null, str, int, bool, number (exact text), json (DynamoDB
    JSON text of values of several types), binary, set, list or map."""
    type_ = typed.type
    metadata = field.metadata or {}
    if pa.types.is_null(type_):
        return "null"
    if pa.types.is_string(type_):
        if metadata.get(ENCODING) == DYNAMODB_JSON:
            return "json"
        return "number" if metadata.get(NUMBER) == b"text" else "str"
    if pa.types.is_int64(type_):
        return "int"
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_binary(type_):
        return "binary"
    if pa.types.is_list(type_):
        return "set" if SET in metadata else "list"
    if pa.types.is_struct(type_):
        return "map"
    if pa.types.is_union(type_):
        return "union"
    raise ValueError(f"{field.name}: no pandas conversion for the Arrow type {type_}")


def _number_chunk(texts: pa.Array, metadata: Mapping[bytes, bytes], numbers: Numbers) -> _Chunk:
    """Exact number texts (those not all int64 integers) → bigint, float or decimal chunk."""
    if metadata.get(INTEGERS) == b"true":  # integers beyond int64
        return _Objects("bigint", [None if t is None else int(t) for t in texts.to_pylist()])
    if numbers == "float" and metadata.get(FLOAT_EXACT) == b"true":
        # nulls become NaN; every value survives the trip (the flag's rule, in _wire)
        return _Float(pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False), None)
    return _Objects("decimal", [None if t is None else Decimal(t) for t in texts.to_pylist()])


def _masked_numpy(arrow: pa.Array, fill: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (missing replaced by ``fill``) and the missing mask (None if nothing is missing)."""
    if not arrow.null_count:
        return arrow.to_numpy(zero_copy_only=False), None
    mask = arrow.is_null().to_numpy(zero_copy_only=False)
    return arrow.fill_null(fill).to_numpy(zero_copy_only=False), mask


# ---------------------------------------------------------------------------------------------
# natural Python values of typed arrays, column-wise


def _values(typed: pa.Array, field: pa.Field, sets: Sets, kind: str | None = None) -> list:
    """Natural Python values of a typed column (None for NULL and absent)."""
    kind = kind or _kind(typed, field)
    if kind == "null":
        return [None] * len(typed)
    if kind in ("str", "int", "bool", "binary"):
        return typed.to_pylist()
    if kind == "number":
        return [None if t is None else number(t) for t in typed.to_pylist()]
    if kind == "json":
        return [None if t is None else deserialize_value(json.loads(t), sets=sets)
                for t in typed.to_pylist()]
    if kind == "map":
        return _maps(typed, sets)
    if kind == "union":  # values of several types: each type's values converted together
        values: list = [None] * len(typed)
        for position, field in enumerate(typed.type):
            child = typed.field(position)
            converted = _values(child, field, sets)
            for row in np.flatnonzero(child.is_valid().to_numpy(zero_copy_only=False)).tolist():
                values[row] = converted[row]
        return values
    element = typed.type.value_field
    members = _values(typed.flatten(), element, sets)
    if kind == "list":
        return split_lists(typed, members, None)
    return split_lists(typed, members, set if sets == "set" else sorted)


def _valid(typed: pa.Array) -> pa.BooleanArray:
    """Where a typed array holds a value (a union: where one of its children does)."""
    if not pa.types.is_union(typed.type):
        return typed.is_valid()
    valid = typed.field(0).is_valid()
    for position in range(1, typed.type.num_fields):
        valid = pc.or_(valid, typed.field(position).is_valid())
    return valid


def _maps(structs: pa.StructArray, sets: Sets) -> list:
    """dicts; a key is in a row's dict exactly when that map had it (a NULL value → None): a
    member is there where it is valid or its ``"<key>/NULL"`` marker (the child after it) is
    true."""
    # The lossless table's members are null wherever their map is (typed from the flattened tag
    # structs); flatten() would also abort on a union member, which has no validity bitmap.
    children = [structs.field(position) for position in range(structs.type.num_fields)]
    names: list[str] = []
    columns: list[list] = []
    present: list[pa.Array] = []
    for field, child in zip(structs.type, children):
        if field.metadata and NULL_OF in field.metadata:
            present[-1] = pc.or_(present[-1], child)  # the marker follows its member
            continue
        names.append(field.name)
        columns.append(_values(child, field, sets))
        present.append(_valid(child))
    if not structs.null_count and not any(here.false_count for here in present):
        if len(names) <= MAX_RECORD_WIDTH:  # every map has every key: dict displays
            return records_maker(len(names))(tuple(names), columns)
        return [dict(zip(names, row)) for row in zip(*columns)]
    has = [here.to_pylist() for here in present]
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
    """Types pages as they arrive (the lossless typed table) and turns them into column chunks;
    :meth:`to_frame` at the end.

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
            parsed = items.array
            if self.flatten_maps:
                columns = _flatten(tags(parsed))
                parsed = pa.StructArray.from_arrays(list(columns.values()), names=list(columns))
            for field in parsed.type:
                if not pa.types.is_struct(field.type):
                    raise ValueError(
                        "items must be DynamoDB wire format ({'attr': {'S': 'x'}}), as from the "
                        f"low-level client; found values of type {field.type}")
            typed = typed_table(parsed, lossless=True)
            for field, column in zip(typed.schema, typed.columns):
                chunks = self._chunks.get(field.name)
                if chunks is None:
                    chunks = self._chunks[field.name] = [_Null(self.rows)] if self.rows else []
                chunks.append(_to_chunk(column.chunk(0), field, self.numbers, self.sets))
        here = set(typed.schema.names)
        for name, chunks in self._chunks.items():
            if name not in here:
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


def with_nullable_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """The frame in pandas' ``dtype_backend="numpy_nullable"`` dtypes: ``str`` → ``string``,
    ``float64`` → ``Float64`` (NaN → missing); ``Int64``, ``boolean`` and object columns as they
    are. ``attrs`` are kept."""
    out = df.copy(deep=False)
    for position, dtype in enumerate(df.dtypes):
        if dtype == STR_DTYPE:
            out.isetitem(position, df.iloc[:, position].astype(pd.StringDtype("pyarrow")).array)
        elif dtype == np.float64:
            out.isetitem(position, df.iloc[:, position].astype("Float64").array)
    return out


def pandas_options_problem(dtype_backend: Any, numbers: Any, sets: Any) -> str | None:
    """What is wrong with the converter's options, in one line (None when nothing): callers
    check before reading a whole table."""
    if dtype_backend not in (None, "numpy_nullable", "pyarrow"):
        return (f"dtype_backend: {dtype_backend!r} is not a backend — use 'numpy_nullable' or "
                "'pyarrow' (or leave it unset)")
    if numbers not in ("float", "decimal"):
        return f"numbers must be 'float' or 'decimal', not {numbers!r}"
    if sets not in ("set", "list"):
        return f"sets must be 'set' or 'list', not {sets!r}"
    return None


def arrow_dtype_frame(table: pa.Table) -> pd.DataFrame:
    """``dtype_backend="pyarrow"``: the typed table's columns as ``pd.ArrowDtype``, zero-copy."""
    return table.to_pandas(types_mapper=pd.ArrowDtype)
