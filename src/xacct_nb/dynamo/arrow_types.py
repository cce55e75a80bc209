"""Parsed tag structs → the typed Arrow table (the types every reader output is made from).

:func:`typed_table` turns one struct array of parsed items (each attribute a struct of its type
tags, ``struct<S: string, N: string, ...>``, as :mod:`.arrow_parse` gives them) into a typed
``pyarrow.Table``: every attribute of any item, key attributes first (present even when no item
has them), then in order of first appearance. Types are decided over all rows, so pages always
agree:

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
(every value an integer literal) and ``xacct.float_exact`` (every value survives float64 by the
one rule in :mod:`._wire`); :mod:`.distributed` merges them across a dataset's partitions.
``explicit_nulls=True`` adds, after each top-level column that has an explicit ``NULL``, a
``bool`` column ``"<name>/NULL"`` that is true exactly where the item had ``{"NULL": true}``
(the column itself is null there and where the attribute is absent). Inside maps and lists NULL
and absent are both null.

``lossless=True`` is the table the pandas converter (:mod:`.to_pandas`) reads, one page at a
time: every DataFrame value can be recovered from it. Inside maps — at any depth, lists of maps
included — a member that has an explicit ``NULL`` gets a ``bool`` child ``"<member>/NULL"``
right after it (metadata ``xacct.null_of``), true exactly where the map had ``{"NULL": true}``;
a null member without a true marker is absent. Numbers that are not all int64 integers stay
their exact text (``xacct.number=text``, no ``decimal128``), so nested numbers keep their
written form (``"1E+2"``). Values of several types are a sparse union with one typed child per
type tag (named by the tag) instead of DynamoDB JSON text. Top-level columns get no markers
(an absent attribute and NULL are both missing in a frame).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._wire import (
    INT64_SAFE,
    INTEGER,
    MAX_EXACT_INT,
    all_survive_float,
    decode_base64,
    rebased_offsets,
    tags,
    union,
    unknown_tag,
    wire_value,
)

__all__ = ["DYNAMODB_JSON", "ENCODING", "FLOAT_EXACT", "INTEGERS", "NULL_OF", "NULL_SUFFIX",
           "NUMBER", "SET", "concat_items", "typed_table"]

# Field metadata keys (bytes, as Arrow stores them).
NUMBER = b"xacct.number"  # int | decimal | text
INTEGERS = b"xacct.integers"  # "true" when every value is an integer literal
FLOAT_EXACT = b"xacct.float_exact"  # "true" when every value survives float64
SET = b"xacct.set"  # SS | NS | BS
ENCODING = b"xacct.encoding"  # dynamodb-json
NULL_OF = b"xacct.null_of"  # on a "<name>/NULL" column: the column it marks
DYNAMODB_JSON = b"dynamodb-json"
NULL_SUFFIX = "/NULL"

_DECIMAL_DIGITS = 38
# a digit before or after the point, an optional exponent ("", ".", "NaN", "+1" are no numbers)
_NUMBER_LITERAL = r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
_NUMBER_PARTS = (
    r"^-?(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[-+]?[0-9]+))?$"
)


def typed_table(raw: pa.StructArray, *, key_names: Iterable[str] = (),
                explicit_nulls: bool = False, lossless: bool = False) -> pa.Table:
    """Parsed items (one struct array) → the typed table (see the module docstring)."""
    attributes = tags(raw)
    names = list(dict.fromkeys([*key_names, *attributes]))
    columns: list[pa.Array] = []
    fields: list[pa.Field] = []
    for name in names:
        wire = attributes.get(name)
        if wire is None:
            columns.append(pa.nulls(len(raw)))
            fields.append(pa.field(name, pa.null()))
            continue
        typed, field = _typed(wire, name, lossless)
        columns.append(typed)
        fields.append(field)
        if explicit_nulls:
            _add_null_marker(wire, name, columns, fields)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _add_null_marker(wire: pa.Array, name: str, arrays: list[pa.Array],
                     fields: list[pa.Field]) -> None:
    """Append ``"<name>/NULL"`` (true where the value was ``{"NULL": true}``) if there is one."""
    if not pa.types.is_struct(wire.type) or "NULL" not in (f.name for f in wire.type):
        return
    marker = pc.fill_null(tags(wire)["NULL"], False)
    if pc.any(marker).as_py():
        arrays.append(marker)
        fields.append(pa.field(name + NULL_SUFFIX, pa.bool_(), nullable=False,
                               metadata={NULL_OF: name.encode()}))


def concat_items(pages: list[pa.StructArray]) -> pa.StructArray:
    """One struct array of all items (parsed pages); each page cast to the union of the pages' types."""
    if not pages:
        return pa.array([], pa.struct([]))
    unified = pages[0].type
    for page in pages[1:]:
        unified = union(unified, page.type)
    return pa.concat_arrays([p if p.type == unified else p.cast(unified) for p in pages])




def _typed(wire: pa.Array, name: str, lossless: bool) -> tuple[pa.Array, pa.Field]:
    """One column of tag structs → (typed array, its field with metadata)."""
    if pa.types.is_null(wire.type):  # the elements of lists that are all empty: no tag to read
        return pa.nulls(len(wire)), pa.field(name, pa.null())
    if not pa.types.is_struct(wire.type):
        raise ValueError(f"{name}: not DynamoDB wire format (found {wire.type})")
    tag_arrays = tags(wire)
    unknown = unknown_tag(tag_arrays)
    if unknown:
        raise ValueError(f"{name}: not a DynamoDB type tag: {unknown!r}")
    present = {t: a for t, a in tag_arrays.items() if t != "NULL" and a.null_count < len(a)}
    if not present:
        return pa.nulls(len(wire)), pa.field(name, pa.null())
    if len(present) > 1:
        return _union(present, name, len(wire)) if lossless else _as_dynamodb_json(wire, name)
    ((tag, payload),) = present.items()
    if tag in ("S", "BOOL"):
        return payload, pa.field(name, payload.type)
    if tag == "N":
        numbers, metadata = _numbers(payload, lossless)
        return numbers, pa.field(name, numbers.type, metadata=metadata)
    if tag == "B":
        return decode_base64(payload), pa.field(name, pa.binary())
    if tag in ("SS", "NS", "BS"):
        return _set(tag, payload, name, lossless)
    if tag == "M":
        return _map(payload, wire, name, lossless)
    return _list(payload, wire, name, lossless)


def _set(tag: str, lists: pa.ListArray, name: str, lossless: bool) -> tuple[pa.Array, pa.Field]:
    values = lists.flatten()
    metadata: dict[bytes, bytes] = {}
    if tag == "NS":
        values, metadata = _numbers(values, lossless)
    elif tag == "BS":
        values = decode_base64(values)
    element = pa.field("element", values.type, metadata=metadata or None)
    array = pa.ListArray.from_arrays(rebased_offsets(lists), values, pa.list_(element),
                                     mask=lists.is_null())
    return array, pa.field(name, array.type, metadata={SET: tag.encode()})


def _map(structs: pa.StructArray, wire: pa.Array, name: str,
         lossless: bool) -> tuple[pa.Array, pa.Field]:
    if not structs.type.num_fields:  # only empty maps: Parquet cannot store an empty struct
        return _as_dynamodb_json(wire, name)
    children: list[pa.Array] = []
    fields: list[pa.Field] = []
    for key, wire_values in tags(structs).items():
        child, field = _typed(wire_values, key, lossless)
        children.append(child)
        fields.append(field)
        if lossless:
            _add_null_marker(wire_values, key, children, fields)
    array = pa.StructArray.from_arrays(children, fields=fields, mask=structs.is_null())
    return array, pa.field(name, array.type)


def _list(lists: pa.ListArray, wire: pa.Array, name: str,
          lossless: bool) -> tuple[pa.Array, pa.Field]:
    elements, element = _typed(lists.flatten(), "element", lossless)
    if element.metadata and element.metadata.get(ENCODING) == DYNAMODB_JSON:
        return _as_dynamodb_json(wire, name)  # no common element type: the whole list as text
    array = pa.ListArray.from_arrays(rebased_offsets(lists), elements, pa.list_(element),
                                     mask=lists.is_null())
    return array, pa.field(name, array.type)



def _union(present: dict[str, pa.Array], name: str, length: int) -> tuple[pa.Array, pa.Field]:
    """Values of several types (lossless): a sparse union with one typed child per type tag,
    named by its tag; a child is null wherever the row has another type (or NULL, or nothing)."""
    codes = np.zeros(length, np.int8)
    children: list[pa.Array] = []
    fields: list[pa.Field] = []
    for code, (tag, payload) in enumerate(present.items()):
        here = payload.is_valid()
        codes[here.to_numpy(zero_copy_only=False)] = code
        alone = pa.StructArray.from_arrays([payload], names=[tag], mask=pc.invert(here))
        child, field = _typed(alone, tag, True)
        children.append(child)
        fields.append(field)
    union = pa.sparse_union(fields, list(range(len(fields))))
    array = pa.UnionArray.from_buffers(union, length, [None, pa.py_buffer(codes)],
                                       children=children)
    return array, pa.field(name, union)


def _as_dynamodb_json(wire: pa.Array, name: str) -> tuple[pa.Array, pa.Field]:
    """Each value as its exact DynamoDB JSON text (B stays base64, as on the wire); NULL → null."""
    texts = [
        None if value is None or value.get("NULL") else json.dumps(
            wire_value(value), ensure_ascii=False, separators=(",", ":"))
        for value in wire.to_pylist()
    ]
    return pa.array(texts, pa.string()), pa.field(name, pa.string(),
                                                   metadata={ENCODING: DYNAMODB_JSON})




def _numbers(texts: pa.Array, lossless: bool) -> tuple[pa.Array, dict[bytes, bytes]]:
    """Number texts → int64, decimal128(38, s) or exact text; metadata says which (docstring).
    ``lossless``: never decimal128 (the text keeps each number's written form)."""
    texts = texts.cast(pa.string()) if texts.type != pa.string() else texts
    if pc.all(pc.match_substring_regex(texts, INT64_SAFE)).as_py() is not False:
        # up to 18 digits: surely an int64 integer, no need to check the number's form; the
        # float rule for integers (|x| <= 2**53) on the values, one pass
        ints = pc.cast(texts, pa.int64())
        low, high = pc.min_max(ints).values()
        exact = low.as_py() is None or -MAX_EXACT_INT <= low.as_py() and high.as_py() <= MAX_EXACT_INT
        return ints, {NUMBER: b"int", INTEGERS: b"true", FLOAT_EXACT: _flag(exact)}
    _check_numbers(texts)
    # Some text is no integer of up to 18 digits: unless one is longer, some is no integer.
    longest = pc.max(pc.utf8_length(texts)).as_py() or 0
    integers = longest > 18 and pc.all(pc.match_substring_regex(texts, INTEGER)).as_py() is not False
    metadata = {INTEGERS: _flag(integers), FLOAT_EXACT: _flag(all_survive_float(texts))}
    if integers:
        try:
            return pc.cast(texts, pa.int64()), {NUMBER: b"int", **metadata}
        except (pa.ArrowInvalid, OverflowError):
            pass  # beyond int64: decimal128(38, 0) when it fits
    if lossless:
        return texts, {NUMBER: b"text", **metadata}
    decimal_type = _decimal_type(pc.extract_regex(texts, _NUMBER_PARTS))
    if decimal_type is not None:
        try:
            return pc.cast(texts, decimal_type), {NUMBER: b"decimal", **metadata}
        except pa.ArrowInvalid:
            pass
    return texts, {NUMBER: b"text", **metadata}


def _check_numbers(texts: pa.Array) -> None:
    """Every text a number literal (:data:`_NUMBER_LITERAL`), else ValueError naming one that is
    not. Arrow's float parser takes exactly those, plus a leading "+" and NaN/infinities (which it
    makes non-finite): a few times cheaper than the regex, which names the culprit."""
    try:
        floats = pc.cast(texts, pa.float64())
        valid = pc.and_(pc.is_finite(floats), pc.invert(pc.starts_with(texts, "+")))
    except pa.ArrowInvalid:
        valid = pc.match_substring_regex(texts, _NUMBER_LITERAL)
    if pc.all(valid).as_py() is False:
        bad = pc.filter(texts, pc.invert(valid))[0].as_py()
        raise ValueError(f"not a DynamoDB number: {bad!r}")


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


def _flag(value: bool) -> bytes:
    return b"true" if value else b"false"
