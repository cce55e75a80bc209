"""DynamoDB wire JSON page bodies → typed Arrow columns, in native code; and Arrow → pandas.

Parsing
    Each Scan/Query response body (``{"Items": [...], "Count": .., "LastEvaluatedKey": ..}``) is
    handed whole to ``pyarrow.json.read_json`` as one record: ``Items`` comes out as a list of
    structs, each attribute a struct of its type tags (``struct<S: string, N: string, ...>``). No
    Python object is made per attribute value. DynamoDB sends numbers as strings, so ``N`` stays
    exact text. Arrow's reader would turn date-like strings into ``timestamp[s]`` (losing their
    exact text), so every page is parsed with the schema seen so far, timestamps replaced by
    strings, and a page that still infers a timestamp for a new attribute is parsed again with
    the corrected schema (once per new date-like attribute, not per page).

Columns (:func:`pages_to_arrow`): every attribute of any item, key attributes first (present
even when no item has them), then in order of first appearance. Types are decided over all
rows of all pages, so pages always agree:

    ========================  ====================================================================
    wire                      Arrow
    ========================  ====================================================================
    ``S``                     ``string``
    ``N``, integers in int64  ``int64``
    other ``N``               ``decimal128(38, s)``, ``s`` the largest scale of the column, when
                              every value fits 38 digits; else the exact number text
                              (``string``, metadata ``xacct.number=text``) — never a float
    ``BOOL``                  ``bool``
    ``B``                     ``binary``
    ``SS``/``NS``/``BS``      ``list`` of string/number/binary, metadata ``xacct.set=SS|NS|BS``
    ``M``                     ``struct`` of its keys (union over all maps), converted the same way
    ``L``                     ``list`` of the elements' common type (``list<null>`` when every
                              list is empty)
    several types, or a list  exact DynamoDB JSON text of each value (``string``, metadata
    of mixed elements         ``xacct.encoding=dynamodb-json``): Parquet has no union type
    ``NULL`` / absent         null; only-NULL columns are of Arrow's ``null`` type
    ========================  ====================================================================

Number fields also record ``xacct.number`` (``int``/``decimal``/``text``), ``xacct.integers``
(every value an integer literal) and ``xacct.float_exact`` (every value survives float64 by
:mod:`xacct_nb.dynamo.frame`'s rule), which the pandas conversion uses. ``explicit_nulls=True`` adds,
after each top-level column that has an explicit ``NULL``, a ``bool`` column ``"<name>/NULL"``
that is true exactly where the item had ``{"NULL": true}`` (the column itself is null there and
where the attribute is absent). Inside maps and lists NULL and absent are both null.

pandas (:func:`arrow_to_pandas`): ``dtype_backend=None`` gives :mod:`xacct_nb.dynamo.frame`'s
dtypes and values (except inside maps, where a NULL is an absent key, and nested numbers, which
keep no written form: ``"1E+2"`` → ``100``); ``"numpy_nullable"`` pandas' nullable dtypes;
``"pyarrow"`` ``ArrowDtype`` columns, zero-copy from the table.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import chain, repeat
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from xacct_nb.atomicfile import atomic_path
from xacct_nb.dynamo.convert import _MAX_RECORD_WIDTH, Numbers, Sets, _records_maker, deserialize_value  # same package
from xacct_nb.dynamo.gcpause import gc_paused

__all__ = [
    "ArrowItems",
    "ArrowPages",
    "arrow_to_pandas",
    "pages_to_arrow",
    "pandas_options_problem",
    "read_stats",
    "with_read_stats",
    "write_parquet",
]

DtypeBackend = Literal["numpy_nullable", "pyarrow"]

# Field metadata keys (bytes, as Arrow stores them).
NUMBER = b"xacct.number"  # int | decimal | text
INTEGERS = b"xacct.integers"  # "true" when every value is an integer literal
FLOAT_EXACT = b"xacct.float_exact"  # "true" when every value survives float64
SET = b"xacct.set"  # SS | NS | BS
ENCODING = b"xacct.encoding"  # dynamodb-json
NULL_OF = b"xacct.null_of"  # on a "<name>/NULL" column: the column it marks
DYNAMODB_JSON = b"dynamodb-json"
NULL_SUFFIX = "/NULL"

_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype
_MAX_EXACT_INT = 2**53
_SHORT_DECIMAL = 15  # a literal this long has <= 15 significant digits: it survives float64
_DECIMAL_DIGITS = 38
_NUMBER_PARTS = (
    r"^-?(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[-+]?[0-9]+))?$"
)
_BASE64 = np.full(256, 255, dtype=np.uint8)
_BASE64[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                      np.uint8)] = np.arange(64, dtype=np.uint8)
_PAD = ord("=")


# ---------------------------------------------------------------------------------------------
# parsing page bodies


class ArrowItems(Sequence[dict]):
    """One page's items as Arrow parses them: a length, slices, and one item's wire form.

    What the reader needs of a page besides its columns: how many items, the first N of them
    (a read cut at ``max_items``), and the last kept item's key attributes to resume after.
    Built from a parsed array, or from a parser and the page's ``Count``: then the body is
    parsed on first use of :attr:`array` — on the caller's thread, while the fetching thread
    already asks for the next page (``len()`` needs no parse).
    """

    def __init__(self, source: pa.StructArray | Callable[[], pa.StructArray],
                 count: int | None = None):
        self._source = source
        self._count = count

    @property
    def array(self) -> pa.StructArray:
        if callable(self._source):
            array = self._source()
            if self._count is not None and len(array) != self._count:
                raise ValueError(f"not a DynamoDB Scan/Query response body: Count says "
                                 f"{self._count}, Items holds {len(array)}")
            self._source = array
        return self._source

    def __len__(self) -> int:
        return self._count if callable(self._source) and self._count is not None \
            else len(self.array)

    @overload
    def __getitem__(self, index: int) -> dict: ...

    @overload
    def __getitem__(self, index: slice) -> ArrowItems: ...

    def __getitem__(self, index: int | slice) -> dict | ArrowItems:
        if isinstance(index, slice):
            return ArrowItems(self.array[index])
        item = self.array[index].as_py()  # absent attributes and tags are None here
        return {name: _wire_value(tags) for name, tags in item.items() if tags is not None}


class ArrowPages:
    """Parses page bodies as they arrive; :meth:`table` converts them all at the end.

    Only the parsed Arrow pages are kept (not the bodies): the final types are decided once,
    over every row, so a column's numbers, maps and lists get one type for the whole read.
    :meth:`parse` may run on fetching threads while :meth:`add_items` runs on the caller's.
    """

    def __init__(self) -> None:
        self._items: list[pa.StructArray] = []
        # attributes seen so far, without timestamp/null types: the next page's parse schema
        self._schema: pa.StructType | None = None
        self.rows = 0

    def add(self, body: bytes) -> dict[str, Any]:
        """:meth:`parse` one body and keep all its items."""
        page = self.parse(body)
        self.add_items(page["Items"])
        return page

    def parse(self, body: bytes) -> dict[str, Any]:
        """One Scan/Query response body → the page as :mod:`xacct_nb.rawpages` gives it.

        ``Items`` is an :class:`ArrowItems`; ``Count``, ``ScannedCount``,
        ``LastEvaluatedKey`` (in the client's input form: B as bytes) and
        ``ConsumedCapacity`` are there when the server sent them.
        """
        found = _envelope(body)
        if found is not None and isinstance(found[0].get("Count"), int):
            envelope = found[0]
            return {"Items": ArrowItems(lambda: self._items_of(self._parse(body)),
                                        envelope["Count"]),
                    **_page_fields(envelope)}
        parsed = self._parse(body)  # an unusual layout: everything from Arrow's parse
        return {"Items": ArrowItems(self._items_of(parsed)),
                **_page_fields({name: parsed.column(name)[0].as_py()
                                for name in _ENVELOPE if parsed.schema.get_field_index(name) >= 0})}

    @staticmethod
    def _items_of(parsed: pa.Table) -> pa.StructArray:
        items = parsed.column("Items").chunk(0)
        if isinstance(items.type, pa.ListType) and pa.types.is_struct(items.type.value_type):
            return items.flatten()
        return pa.array([], pa.struct([]))  # an empty page: Arrow saw no item to type

    def add_items(self, items: ArrowItems) -> None:
        """Keep these items (a parsed page, or the first part of one)."""
        if len(items):
            self._items.append(items.array)
            self.rows += len(items)

    def _parse(self, body: bytes) -> pa.Table:
        if self._schema is None and len(body) > 2 * SCHEMA_SAMPLE_BYTES:
            self._learn_schema(body)
        return self._parse_with_schema(body)

    def _parse_with_schema(self, body: bytes) -> pa.Table:
        page = _read_json(body, self._schema)
        item_type = _item_type(page)
        if item_type is not None and _has_timestamp(item_type):
            page = _read_json(body, _sanitized(item_type))
            item_type = _item_type(page)
        if item_type is not None:
            self._schema = _sanitized(item_type)
        return page

    def _learn_schema(self, body: bytes) -> None:
        """The schema of the first items of a large first page: should one of them look like a
        date, only this sample is parsed twice, not the whole page (a date-like attribute seen
        first further on still costs its page a second parse)."""
        found = _envelope(body)
        if found is None:
            return
        start, end = found[1]
        cut = _ITEM_START.search(body, start + SCHEMA_SAMPLE_BYTES, end)
        if cut is None:
            return
        try:
            self._parse_with_schema(b'{"Items":[' + body[start:cut.start() + 1] + b"]}")
        except ValueError:  # the cut was inside an item: learn from the whole page instead
            return

    def table(self, *, key_names: Iterable[str] = (), explicit_nulls: bool = False) -> pa.Table:
        """The typed table of every item added so far (see the module docstring)."""
        raw = _concat(self._items)
        self._items = [raw] if len(raw) else []  # the pages' own arrays are freed now
        attributes = _tags(raw)
        names = list(dict.fromkeys([*key_names, *attributes]))
        columns: list[pa.Array] = []
        fields: list[pa.Field] = []
        for name in names:
            wire = attributes.get(name)
            if wire is None:
                columns.append(pa.nulls(len(raw)))
                fields.append(pa.field(name, pa.null()))
                continue
            typed, field = _typed(wire, name)
            columns.append(typed)
            fields.append(field)
            if explicit_nulls and "NULL" in (f.name for f in wire.type):
                marker = pc.fill_null(_tags(wire)["NULL"], False)
                if pc.any(marker).as_py():
                    columns.append(marker)
                    fields.append(pa.field(name + NULL_SUFFIX, pa.bool_(), nullable=False,
                                           metadata={NULL_OF: name.encode()}))
        return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def pages_to_arrow(
    bodies: Iterable[bytes], *, key_names: Iterable[str] = (), explicit_nulls: bool = False
) -> pa.Table:
    """Scan/Query response bodies (raw JSON bytes) → one typed ``pyarrow.Table``."""
    pages = ArrowPages()
    for body in bodies:
        pages.add(body)
    return pages.table(key_names=key_names, explicit_nulls=explicit_nulls)


def _read_json(body: bytes, item_schema: pa.StructType | None) -> pa.Table:
    # Raw newlines can only be whitespace between tokens (JSON escapes them inside strings),
    # and the reader splits records at newlines: one page must stay one record.
    if b"\n" in body:
        body = body.replace(b"\n", b" ")
    parse = None
    if item_schema is not None:
        parse = pj.ParseOptions(
            explicit_schema=pa.schema([pa.field("Items", pa.list_(item_schema))]),
            unexpected_field_behavior="infer",
        )
    read = pj.ReadOptions(use_threads=False, block_size=len(body) + 1)
    try:
        return pj.read_json(io.BytesIO(body), read_options=read, parse_options=parse)
    except pa.ArrowInvalid as err:
        raise ValueError(f"not a DynamoDB Scan/Query response body: {err}") from None


def _item_type(page: pa.Table) -> pa.StructType | None:
    if page.schema.get_field_index("Items") < 0:
        raise ValueError("not a DynamoDB Scan/Query response body: it has no Items")
    items = page.schema.field("Items").type
    if isinstance(items, pa.ListType) and pa.types.is_struct(items.value_type):
        return items.value_type
    return None


def _has_timestamp(type_: pa.DataType) -> bool:
    if pa.types.is_timestamp(type_):
        return True
    if pa.types.is_struct(type_):
        return any(_has_timestamp(f.type) for f in type_)
    if pa.types.is_list(type_):
        return _has_timestamp(type_.value_type)
    return False


def _sanitized(type_: pa.DataType) -> pa.DataType | None:
    """The type to parse later pages with: strings for timestamps; null types left to inference."""
    if pa.types.is_timestamp(type_):
        return pa.string()
    if pa.types.is_null(type_):
        return None
    if pa.types.is_struct(type_):
        fields = [pa.field(f.name, t) for f in type_ if (t := _sanitized(f.type)) is not None]
        return pa.struct(fields) if fields else None
    if pa.types.is_list(type_):
        value = _sanitized(type_.value_type)
        return pa.list_(value) if value is not None else None
    return type_


_ENVELOPE = ("Count", "ScannedCount", "LastEvaluatedKey", "ConsumedCapacity")
_ITEMS_START = re.compile(rb'"Items"\s*:\s*\[')
_TAIL_CANDIDATES = 32
# The first page's schema is inferred from about this much of it (see ArrowPages._learn_schema).
SCHEMA_SAMPLE_BYTES = 64 * 1024
# "}" "," then an object whose first member is a name and a type-tag object: how an item follows
# another in Items. It cannot start inside a string (after a string's closing quote comes ":",
# ",", "}" or "]", never a tag's letter); inside an item it matches only a list of maps whose
# first key is named like a type tag, and the sample then ends inside an item: it fails to parse.
_ITEM_START = re.compile(
    rb'\}\s*,\s*\{\s*"(?:[^"\\]|\\.)*"\s*:\s*\{\s*"(?:S|N|B|BOOL|NULL|M|L|SS|NS|BS)"\s*:')


def _envelope(body: bytes) -> tuple[dict[str, Any], tuple[int, int]] | None:
    """The page's fields besides ``Items``, read without parsing the items, and where the inside
    of the ``Items`` array starts and ends in ``body`` (None if unsure).

    ``"Items":[`` can only be the top-level key (an attribute value is an object, and quotes
    inside strings are escaped). Its array ends at the last ``]`` after which the rest is a
    valid JSON object tail of envelope keys only: a ``]`` inside a later string cannot be
    followed by one (the string's own closing quote comes first).
    """
    start = _ITEMS_START.search(body)
    if start is None:
        return None
    try:
        head = json.loads(body[: start.start()].rstrip().rstrip(b",") + b"}")
    except ValueError:
        return None
    end = len(body)
    for _ in range(_TAIL_CANDIDATES):
        end = body.rfind(b"]", start.end() - 1, end)
        if end < 0:
            return None
        rest = body[end + 1:].strip()
        try:
            if rest == b"}":
                tail: Any = {}
            elif rest.startswith(b","):
                tail = json.loads(b"{" + rest[1:])
            else:
                continue
        except ValueError:
            continue
        if isinstance(head, dict) and isinstance(tail, dict) and set(head) | set(tail) <= \
                set(_ENVELOPE):
            return {**head, **tail}, (start.end(), end)
    return None


def _page_fields(envelope: Mapping[str, Any]) -> dict[str, Any]:
    fields = {}
    for name in _ENVELOPE:
        value = envelope.get(name)
        if value is not None:
            fields[name] = _strip_nones(value)
    if fields.get("LastEvaluatedKey"):  # the client's input form: B as bytes (botocore encodes)
        fields["LastEvaluatedKey"] = {
            name: _key_value(value) for name, value in fields["LastEvaluatedKey"].items()}
    return fields


def _key_value(value: Mapping[str, Any]) -> dict[str, Any]:
    ((tag, payload),) = value.items()
    if tag == "B":
        return {"B": base64.b64decode(payload)}
    return {tag: payload}


def _strip_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nones(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# unifying pages


def _concat(pages: list[pa.StructArray]) -> pa.StructArray:
    """One struct array of all items; each page cast to the union of the pages' types."""
    if not pages:
        return pa.array([], pa.struct([]))
    unified = pages[0].type
    for page in pages[1:]:
        unified = _union(unified, page.type)
    return pa.concat_arrays([p if p.type == unified else p.cast(unified) for p in pages])


def _union(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {f.name: f.type for f in a}
        for f in b:
            fields[f.name] = _union(fields[f.name], f.type) if f.name in fields else f.type
        return pa.struct(list(fields.items()))
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(_union(a.value_type, b.value_type))
    raise ValueError(f"pages disagree on a wire type: {a} vs {b}")


def _tags(struct: pa.StructArray) -> dict[str, pa.Array]:
    """A struct's children by name, null wherever the struct itself is (unlike ``.field()``)."""
    return dict(zip((f.name for f in struct.type), struct.flatten()))


# ---------------------------------------------------------------------------------------------
# wire tag structs → typed arrays


def _typed(wire: pa.Array, name: str) -> tuple[pa.Array, pa.Field]:
    """One column of tag structs → (typed array, its field with metadata)."""
    if pa.types.is_null(wire.type):  # the elements of lists that are all empty: no tag to read
        return pa.nulls(len(wire)), pa.field(name, pa.null())
    if not pa.types.is_struct(wire.type):
        raise ValueError(f"{name}: not DynamoDB wire format (found {wire.type})")
    tags = _tags(wire)
    unknown = set(tags) - {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}
    if unknown:
        raise ValueError(f"{name}: not a DynamoDB type tag: {sorted(unknown)[0]!r}")
    present = {t: a for t, a in tags.items() if t != "NULL" and a.null_count < len(a)}
    if not present:
        return pa.nulls(len(wire)), pa.field(name, pa.null())
    if len(present) > 1:
        return _as_dynamodb_json(wire, name)
    ((tag, payload),) = present.items()
    if tag in ("S", "BOOL"):
        return payload, pa.field(name, payload.type)
    if tag == "N":
        numbers, metadata = _numbers(payload)
        return numbers, pa.field(name, numbers.type, metadata=metadata)
    if tag == "B":
        return _decode_base64(payload), pa.field(name, pa.binary())
    if tag in ("SS", "NS", "BS"):
        return _set(tag, payload, name)
    if tag == "M":
        return _map(payload, wire, name)
    return _list(payload, wire, name)


def _set(tag: str, lists: pa.ListArray, name: str) -> tuple[pa.Array, pa.Field]:
    values = lists.flatten()
    metadata: dict[bytes, bytes] = {}
    if tag == "NS":
        values, metadata = _numbers(values)
    elif tag == "BS":
        values = _decode_base64(values)
    element = pa.field("element", values.type, metadata=metadata or None)
    array = pa.ListArray.from_arrays(_rebased_offsets(lists), values, pa.list_(element),
                                     mask=lists.is_null())
    return array, pa.field(name, array.type, metadata={SET: tag.encode()})


def _map(structs: pa.StructArray, wire: pa.Array, name: str) -> tuple[pa.Array, pa.Field]:
    if not structs.type.num_fields:  # only empty maps: Parquet cannot store an empty struct
        return _as_dynamodb_json(wire, name)
    children, fields = [], []
    for key, wire_values in _tags(structs).items():
        child, field = _typed(wire_values, key)
        children.append(child)
        fields.append(field)
    array = pa.StructArray.from_arrays(children, fields=fields, mask=structs.is_null())
    return array, pa.field(name, array.type)


def _list(lists: pa.ListArray, wire: pa.Array, name: str) -> tuple[pa.Array, pa.Field]:
    elements, element = _typed(lists.flatten(), "element")
    if element.metadata and element.metadata.get(ENCODING) == DYNAMODB_JSON:
        return _as_dynamodb_json(wire, name)  # no common element type: the whole list as text
    array = pa.ListArray.from_arrays(_rebased_offsets(lists), elements, pa.list_(element),
                                     mask=lists.is_null())
    return array, pa.field(name, array.type)


def _rebased_offsets(lists: pa.ListArray) -> pa.Array:
    offsets = lists.offsets
    first = offsets[0].as_py()
    return pc.subtract(offsets, first) if first else offsets


def _as_dynamodb_json(wire: pa.Array, name: str) -> tuple[pa.Array, pa.Field]:
    """Each value as its exact DynamoDB JSON text (B stays base64, as on the wire); NULL → null."""
    texts = [
        None if value is None or value.get("NULL") else json.dumps(
            _wire_value(value), ensure_ascii=False, separators=(",", ":"))
        for value in wire.to_pylist()
    ]
    return pa.array(texts, pa.string()), pa.field(name, pa.string(),
                                                   metadata={ENCODING: DYNAMODB_JSON})


def _wire_value(tags: Mapping[str, Any]) -> dict[str, Any]:
    """A parsed tag struct (absent tags as None) back to its wire form."""
    tag, payload = next((t, v) for t, v in tags.items() if v is not None)
    if tag == "M":
        return {"M": {k: _wire_value(v) for k, v in payload.items() if v is not None}}
    if tag == "L":
        return {"L": [_wire_value(v) for v in payload]}
    return {tag: payload}


# ---------------------------------------------------------------------------------------------
# numbers and binary


def _numbers(texts: pa.Array) -> tuple[pa.Array, dict[bytes, bytes]]:
    """Number texts → int64, decimal128(38, s) or exact text; metadata says which (docstring)."""
    texts = texts.cast(pa.string()) if texts.type != pa.string() else texts
    parts = pc.extract_regex(texts, _NUMBER_PARTS)
    if parts.null_count > texts.null_count:
        bad = pc.filter(texts, pc.and_(parts.is_null(), texts.is_valid()))[0].as_py()
        raise ValueError(f"not a DynamoDB number: {bad!r}")
    integers = pc.all(pc.match_substring_regex(texts, r"^-?[0-9]+$")).as_py() is not False
    metadata = {INTEGERS: _flag(integers), FLOAT_EXACT: _flag(_survive_float(texts))}
    if integers:
        try:
            return pc.cast(texts, pa.int64()), {NUMBER: b"int", **metadata}
        except (pa.ArrowInvalid, OverflowError):
            pass  # beyond int64: decimal128(38, 0) when it fits
    decimal_type = _decimal_type(parts)
    if decimal_type is not None:
        try:
            return pc.cast(texts, decimal_type), {NUMBER: b"decimal", **metadata}
        except pa.ArrowInvalid:
            pass
    return texts, {NUMBER: b"text", **metadata}


def _decimal_type(parts: pa.StructArray) -> pa.Decimal128Type | None:
    whole, fraction, exponent = (parts.field(i) for i in range(3))
    exponent = pc.utf8_ltrim(exponent, "+")  # Arrow's integer parser takes no "+"
    exponent = pc.cast(pc.if_else(pc.equal(exponent, ""), "0", exponent), pa.int64())
    whole_digits = pc.utf8_length(pc.utf8_ltrim(whole, "0"))
    scale = pc.max(pc.subtract(pc.utf8_length(fraction), exponent)).as_py() or 0
    scale = max(scale, 0)
    widest = pc.max(pc.add(whole_digits, exponent)).as_py() or 0
    if max(widest, 0) + scale > _DECIMAL_DIGITS:
        return None
    return pa.decimal128(_DECIMAL_DIGITS, scale)


def _survive_float(texts: pa.Array) -> bool:
    """frame.py's rule: a literal of <= 15 characters survives; longer ones are checked."""
    long = pc.filter(texts, pc.greater(pc.utf8_length(texts), _SHORT_DECIMAL))
    return all(_survives_float(t) for t in long.to_pylist())


def _survives_float(text: str) -> bool:
    try:
        return abs(int(text)) <= _MAX_EXACT_INT
    except ValueError:
        return Decimal(repr(float(text))) == Decimal(text)


def _flag(value: bool) -> bytes:
    return b"true" if value else b"false"


def _decode_base64(texts: pa.Array) -> pa.Array:
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


# ---------------------------------------------------------------------------------------------
# Arrow → pandas


def arrow_to_pandas(
    table: pa.Table,
    *,
    dtype_backend: DtypeBackend | None = None,
    numbers: Numbers = "float",
    sets: Sets = "set",
) -> pd.DataFrame:
    """A typed table from :func:`pages_to_arrow` → DataFrame.

    ``dtype_backend=None``: :mod:`xacct_nb.dynamo.frame`'s dtypes (``str``, ``Int64``, ``boolean``,
    ``float64`` when exact, else ``Decimal``/``int`` objects; binary, sets, maps and lists as
    Python objects). ``"numpy_nullable"``: pandas' nullable dtypes (``string``, ``Int64``,
    ``boolean``, ``Float64`` when exact) and the same objects otherwise. ``"pyarrow"``: every
    column ``pd.ArrowDtype`` of its Arrow type, zero-copy.
    """
    problem = pandas_options_problem(dtype_backend, numbers, sets)
    if problem:
        raise ValueError(problem)
    if dtype_backend == "pyarrow":
        return table.to_pandas(types_mapper=pd.ArrowDtype)
    data = {
        field.name: _pandas_column(table.column(i), field, dtype_backend, numbers, sets)
        for i, field in enumerate(table.schema)
    }
    return pd.DataFrame(data, index=pd.RangeIndex(table.num_rows), columns=table.column_names,
                        copy=False)


def pandas_options_problem(dtype_backend: Any, numbers: Any, sets: Any) -> str | None:
    """What is wrong with :func:`arrow_to_pandas`'s options, in one line (None when nothing):
    callers check before reading a whole table."""
    if dtype_backend not in (None, "numpy_nullable", "pyarrow"):
        return (f"dtype_backend: {dtype_backend!r} is not a backend — use 'numpy_nullable' or "
                "'pyarrow' (or leave it unset)")
    if numbers not in ("float", "decimal"):
        return f"numbers must be 'float' or 'decimal', not {numbers!r}"
    if sets not in ("set", "list"):
        return f"sets must be 'set' or 'list', not {sets!r}"
    return None


def _pandas_column(
    column: pa.ChunkedArray, field: pa.Field, backend: str | None, numbers: Numbers, sets: Sets
) -> Any:
    metadata = field.metadata or {}
    type_ = field.type
    length = len(column)
    if NUMBER in metadata:
        return _pandas_numbers(column, metadata, backend, numbers)
    if pa.types.is_string(type_) and ENCODING not in metadata:
        dtype = pd.StringDtype("pyarrow") if backend == "numpy_nullable" else _STR_DTYPE
        return pd.arrays.ArrowStringArray(  # type: ignore[call-arg]  # pandas-stubs lag: dtype= exists
            column.cast(pa.large_string()), dtype=dtype)
    if pa.types.is_boolean(type_):
        values, mask = _masked(column, False)
        return pd.arrays.BooleanArray(values, mask)
    with gc_paused():  # many containers, no cycles: see gcpause.gc_paused
        natural = list(chain.from_iterable(
            _natural_values(chunk, field, sets) for chunk in column.chunks))
    return _object_column(natural, length)


def _pandas_numbers(
    column: pa.ChunkedArray, metadata: Mapping[bytes, bytes], backend: str | None,
    numbers: Numbers,
) -> Any:
    if metadata[NUMBER] == b"int":
        return pd.arrays.IntegerArray(*_masked(column, 0))
    texts = _number_texts(column, metadata)
    if metadata[INTEGERS] == b"true":
        return _object_column((None if t is None else int(t) for t in texts.to_pylist()),
                              len(column))
    if numbers == "float" and metadata[FLOAT_EXACT] == b"true":
        floats = pc.cast(texts, pa.float64())
        if backend == "numpy_nullable":
            return pd.arrays.FloatingArray(*_masked(floats, 0.0))
        return floats.to_numpy()
    return _object_column((None if t is None else Decimal(t) for t in texts.to_pylist()),
                          len(column))


def _number_texts(column: pa.ChunkedArray | pa.Array, metadata: Mapping[bytes, bytes]) -> Any:
    """Exact number text; a decimal column's trailing zeros (from the common scale) removed."""
    if metadata[NUMBER] != b"decimal":
        return column.cast(pa.string())
    texts = pc.cast(column, pa.string())
    if column.type.scale == 0:
        return texts
    return pc.replace_substring_regex(texts, r"\.?0+$|(\.[0-9]*?)0+$", r"\1")


def _masked(column: pa.ChunkedArray | pa.Array, fill: Any) -> tuple[np.ndarray, np.ndarray]:
    """Values (missing replaced by ``fill``) and the missing mask, for pandas' masked arrays."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    mask = array.is_null().to_numpy(zero_copy_only=False)
    return array.fill_null(fill).to_numpy(zero_copy_only=False), mask


def _object_column(values: Iterable, length: int) -> pd.Series:
    return pd.Series(np.fromiter(values, dtype=object, count=length), dtype=object, copy=False)


def _natural_values(array: pa.Array, field: pa.Field, sets: Sets) -> list:
    """:mod:`xacct_nb.dynamo.frame`'s natural Python values of one array (None for nulls).

    Column-wise like the converter: a struct's fields and a list's elements are converted as
    whole columns, then put together into dicts and lists.
    """
    metadata = field.metadata or {}
    type_ = field.type
    if metadata.get(ENCODING) == DYNAMODB_JSON:
        return [None if text is None else deserialize_value(json.loads(text), sets=sets)
                for text in array.to_pylist()]
    if NUMBER in metadata and metadata[NUMBER] != b"int":
        return [None if text is None else _natural_number(text)
                for text in _number_texts(array, metadata).to_pylist()]
    if pa.types.is_struct(type_):
        return _records(array, [_natural_values(child, f, sets)
                                for child, f in zip(array.flatten(), type_)])
    if pa.types.is_list(type_):
        return _lists(array, _natural_values(array.flatten(), type_.value_field, sets),
                      (set if sets == "set" else sorted) if SET in metadata else None)
    return array.to_pylist()


def _records(structs: pa.StructArray, columns: list[list]) -> list[Any]:
    names = tuple(f.name for f in structs.type)
    rows = zip(*columns)
    if not structs.null_count and not any(None in column for column in columns):
        if len(names) <= _MAX_RECORD_WIDTH:  # the usual case, full records: dict displays
            return _records_maker(len(names))(names, columns)
        return list(map(dict, map(zip, repeat(names), rows)))
    valid = structs.is_valid().to_pylist()
    # NULL and absent keys are both null in a struct: left out, as absent keys were
    return [{n: v for n, v in zip(names, row) if v is not None} if ok else None
            for ok, row in zip(valid, rows)]


def _lists(lists: pa.ListArray, elements: list, make: Any) -> list:
    ends = _rebased_offsets(lists).to_pylist()
    pieces = map(elements.__getitem__, map(slice, ends[:-1], ends[1:]))
    if make is not None:
        pieces = map(make, pieces)
    if not lists.null_count:
        return list(pieces)
    return [piece if ok else None for ok, piece in zip(lists.is_valid().to_pylist(), pieces)]


def _natural_number(text: str) -> int | Decimal:
    if "." in text or "e" in text or "E" in text:
        return Decimal(text)
    return int(text)


# ---------------------------------------------------------------------------------------------
# read stats and Parquet

READ_STATS = b"xacct.read"  # schema metadata: the read's stats, as df.attrs["xacct"] of a frame


def with_read_stats(table: pa.Table, stats: Mapping[str, Any]) -> pa.Table:
    """The table with a read's stats (partial, reason, pages, resume key...) in its metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[READ_STATS] = json.dumps(stats).encode()
    return table.replace_schema_metadata(metadata)


def read_stats(table: pa.Table) -> dict[str, Any]:
    """The stats :func:`with_read_stats` attached ({} when there are none)."""
    text = (table.schema.metadata or {}).get(READ_STATS)
    return json.loads(text) if text else {}


def write_parquet(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Parquet with the table's Arrow types (nested columns stay nested; field metadata kept).

    The read's stats are left out: they describe the read, not the data.
    """
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != READ_STATS}
    with atomic_path(path) as temp:
        pq.write_table(table.replace_schema_metadata(metadata or None), temp)
    return Path(path)
