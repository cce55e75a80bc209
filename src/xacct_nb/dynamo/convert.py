"""DynamoDB wire-format items → pandas DataFrames, column by column and fast.

Input items are the raw wire format, ``{"attr": {"S": "x"}, "n": {"N": "12"}}``, as returned by
the low-level client or by :mod:`xacct_nb.rawpages` (where ``B`` values are still base64 text;
both base64 text and bytes are accepted).

Columns
    Every attribute that appears in any item becomes a column: key attributes first (in
    ``key_names`` order, present even when no item has them), then in order of first appearance.
    An absent attribute and ``NULL`` are both missing values.

Types, per column (decided over ALL rows, so every page of a read agrees)
    * ``S`` → pandas' default ``str`` dtype (pyarrow-backed; missing is NaN). Building it from the
      page lists costs ~0.1 µs a value and stores strings compactly, unlike object ``str``.
    * ``BOOL`` → nullable ``boolean``.
    * ``N``, integer literals only (what ``int()`` accepts), all within int64 → nullable
      ``Int64``. Any integer outside int64 → object column of Python ``int``.
    * ``N`` with decimal literals (``"1.5"``, ``"1E+2"``), ``numbers="float"`` (default) →
      ``float64`` (missing is NaN) **only if no value changes**: each integer literal has
      ``|x| <= 2**53`` and each decimal literal prints back as the same number after the trip
      through float (``Decimal(repr(float(s))) == Decimal(s)``; always true for up to 15
      significant digits). Otherwise, and always with ``numbers="decimal"``, the column holds
      exact ``decimal.Decimal`` objects (integers included, as ``Decimal``). So precision is
      never lost silently, and numbers whose precision varies between pages always load.
    * ``B`` → ``bytes``. ``SS``/``NS``/``BS`` → ``set`` (``sets="set"``) or sorted ``list``
      (``sets="list"``). ``M``/``L`` → ``dict``/``list``, converted recursively.
    * A column whose values have different DynamoDB types → object column of each value's natural
      Python type (see :func:`deserialize_value`).
    * Object columns hold ``None`` for missing values; a column with no values at all is object.

Natural Python type of one value (:func:`deserialize_value`, nested values, mixed columns):
``str``, ``bool``, ``None``, ``bytes``, ``int`` for integer literals and ``Decimal`` for other
numbers (unlike boto3's TypeDeserializer, which makes every number a ``Decimal`` and binary a
``Binary`` wrapper), sets/lists/dicts as above.

``flatten_maps=True`` spreads map values into dotted columns (``address.city``), recursively; a
non-map value of the same attribute stays in the column named after it, an empty or NULL map
contributes nothing, and if an item has both an attribute literally named ``a.b`` and a map
``a`` with key ``b``, the literal attribute's value is kept. Dotted columns follow their map's
column in order of first appearance, page by page (a key first seen in a later page comes after
the columns of earlier pages).

How it is fast (~5 µs per ~300-byte item, about a third of ``json.loads``): attributes that
every item of a page has are transposed in C (``zip(*map(itemgetter(*names), items))``), the
others gathered with ``map(dict.get, ...)``; a column's type tag is guessed from its first row
and its payloads pulled out with one ``itemgetter`` pass (the tag set is computed only when that
fails); ``S`` payloads go straight into a pyarrow array, ``N`` payloads are parsed by Arrow;
maps with the same keys (records) are converted key by key the same way. Only mixed, binary,
set and irregular document values are converted one by one. The garbage collector is paused
while a page is converted (see :func:`gc_paused`).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import accumulate, chain, compress, repeat
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .gcpause import gc_paused

__all__ = [
    "ColumnBuilder",
    "Numbers",
    "Sets",
    "deserialize_value",
    "frame_for_export",
    "items_to_frame",
    "key_to_wire",
    "to_wire",
]

Numbers = Literal["float", "decimal"]
Sets = Literal["set", "list"]

_TYPE_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L"})
_VALUE_TAGS = _TYPE_TAGS - {"NULL"}
# Stand-in for an absent attribute: it is a NULL, so absent and NULL need no separate handling.
# Compared by identity where "absent" must be told apart from an explicit NULL (flattening).
_MISSING = {"NULL": True}
_NO_MAP: dict = {}  # what a non-map row contributes when maps are flattened; never mutated
# pandas' default "str" dtype (NaN for missing), built directly on our pyarrow chunks.
_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
_MAX_EXACT_INT = 2**53  # larger integers are not all representable in float64
_INT64_SAFE = r"^-?[0-9]{1,18}$"  # any integer literal of up to 18 digits fits int64
_SHORT_DECIMAL = 15  # a literal this long has <= 15 significant digits: it survives float64


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
        present = self.values if self.mask is None else self.values[~self.mask]
        return not present.size or (
            present.min() >= -_MAX_EXACT_INT and present.max() <= _MAX_EXACT_INT
        )


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
# one page → chunks


def _gather(items: Sequence[Mapping]) -> dict[str, Sequence]:
    """Per attribute (first-appearance order), its wire values in row order; absent → _MISSING."""
    dense = _dense_columns(items)
    # Only items with more names than the dense ones can hold other names (all of items[0]'s
    # come first); scanning just those keeps a mostly-dense page cheap.
    larger = list(compress(items, map(len(dense).__lt__, map(len, items))))
    if not larger:
        return dense
    names = dict.fromkeys(chain(items[0], chain.from_iterable(larger)))
    return {
        name: dense[name] if name in dense else _sparse_column(items, name) for name in names
    }


def _sparse_column(items: Sequence[Mapping], name: str) -> list:
    return list(map(dict.get, items, repeat(name), repeat(_MISSING)))  # type: ignore[arg-type]  # C-speed get


def _dense_columns(dicts: Sequence[Mapping]) -> dict[str, Sequence]:
    """The columns of the names that every dict has, transposed in C ({} if that fails).

    About 3x faster than gathering name by name. The candidates are the smallest dict's names
    (all of them when the dicts have equal sizes: then its order is the first dict's); when one
    of them is missing somewhere, the caller gathers every name one by one.
    """
    names = tuple(min(dicts, key=len))  # type: ignore[arg-type]  # dicts are Sized
    if not names:
        return {}
    try:
        if len(names) == 1:  # itemgetter of one name returns the value, not a 1-tuple
            return {names[0]: list(map(itemgetter(names[0]), dicts))}
        return dict(zip(names, zip(*map(itemgetter(*names), dicts))))
    except KeyError:
        return {}


def _tags(raw: Sequence) -> set[str]:
    try:
        tags = set(chain.from_iterable(raw))  # iterating a one-key dict yields its type tag
    except TypeError:
        tags = {"?"}
    if not tags <= _TYPE_TAGS:
        raise ValueError(
            "items must be DynamoDB wire format ({'attr': {'S': 'x'}}), as from the low-level "
            f"client; found values like {next(v for v in raw if not _is_wire(v))!r}"
        )
    return tags


def _is_wire(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TYPE_TAGS


def _single_tag(raw: Sequence) -> tuple[str, bool]:
    """(the column's one type tag besides NULL — "" if none, "*" if several; any NULL/absent?)"""
    tags = _tags(raw)
    has_null = "NULL" in tags
    tags.discard("NULL")
    if len(tags) > 1:
        return "*", has_null
    return (tags.pop() if tags else ""), has_null


def _payloads(raw: Sequence) -> tuple[str, list[Any], bool]:
    """(tag, payloads, has_null) of a column: tag "" = all NULL, "*" = several types (no payloads).

    Payloads are the values under the tag, None for NULL rows. The usual column has one type and
    no gaps: guessing the tag from the first row and extracting with itemgetter (KeyError on any
    other row) does that case in one C-level pass instead of three.
    """
    guess = next(iter(raw[0]), None) if isinstance(raw[0], dict) else None
    if guess in _VALUE_TAGS:
        try:
            return guess, list(map(itemgetter(guess), raw)), False
        except (KeyError, TypeError):
            pass
    tag, has_null = _single_tag(raw)
    if tag == "*" or not tag:
        return tag, [], has_null  # no single tag: callers read the raw column instead
    return tag, list(map(dict.get, raw, repeat(tag))), has_null  # a NULL lacks the tag → None


def _to_chunk(raw: Sequence, numbers: Numbers, sets: Sets) -> _Chunk:
    tag, values, has_null = _payloads(raw)
    if not tag:
        return _Null(len(raw))
    if tag == "*":
        return _Objects("object", [deserialize_value(av, sets=sets) for av in raw])
    if tag == "S":
        return _Str(pa.array(values, type=pa.large_string()))
    if tag == "N":
        return _number_chunk(values, has_null, numbers)
    if tag == "BOOL":
        return _bool_chunk(values)
    return _Objects("object", _column_values(tag, values, has_null, sets))


def _natural(raw: Sequence, sets: Sets) -> list:
    """Natural Python values of one gathered column (None for NULL/absent)."""
    tag, values, has_null = _payloads(raw)
    if not tag:
        return [None] * len(raw)
    if tag == "*":
        return [deserialize_value(av, sets=sets) for av in raw]
    return _column_values(tag, values, has_null, sets)


def _column_values(tag: str, values: list, has_null: bool, sets: Sets) -> list:
    """Convert the payloads of one type tag (None = NULL) as a batch, not value by value."""
    present = [v for v in values if v is not None] if has_null else values
    if tag == "S" or tag == "BOOL":
        converted = present
    elif tag == "N":
        try:
            converted = list(map(int, present))
        except ValueError:
            try:  # _number inlined: a decimal literal skips int() and its costly exception
                converted = [
                    Decimal(t) if "." in t or "e" in t or "E" in t else _number(t)
                    for t in present
                ]
            except TypeError:  # not text
                converted = list(map(_number, present))
    elif tag == "SS":
        converted = list(map(set if sets == "set" else sorted, present))
    elif tag == "M":
        converted = _convert_maps(present, sets)
    elif tag == "L":
        converted = _convert_lists(present, sets)
    else:
        converted = [_deserialize(tag, v, sets) for v in present]
    return _spread(converted, values) if has_null else converted


def _convert_maps(maps: list[dict], sets: Sets) -> list[dict]:
    """Maps that all have the same keys (records) are converted key by key, column-wise."""
    columns = _record_columns(maps)
    if not columns:
        return [{k: deserialize_value(v, sets=sets) for k, v in m.items()} for m in maps]
    converted = [_natural(raw, sets) for raw in columns.values()]
    names = tuple(columns)
    if len(names) <= _MAX_RECORD_WIDTH:
        return _records_maker(len(names))(names, converted)
    return list(map(dict, map(zip, repeat(names), zip(*converted))))


def _record_columns(maps: list[dict]) -> dict[str, Sequence]:
    """The columns of maps that all have the first map's keys and no others; {} otherwise.

    Like :func:`_dense_columns`, with one pass over the sizes instead of two (min and max).
    """
    sizes = set(map(len, maps))
    if len(sizes) != 1:
        return {}
    names = tuple(maps[0])
    if not names:
        return {}
    try:
        if len(names) == 1:  # itemgetter of one name returns the value, not a 1-tuple
            return {names[0]: list(map(itemgetter(names[0]), maps))}
        return dict(zip(names, zip(*map(itemgetter(*names), maps))))
    except KeyError:
        return {}


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


def _convert_lists(lists: list[list], sets: Sets) -> list[list]:
    """Lists are converted as one column of all their elements, then cut back into lists."""
    elements = list(chain.from_iterable(lists))
    if not elements:
        return [[] for _ in lists]
    converted = _natural(elements, sets)
    ends = list(accumulate(map(len, lists)))
    return list(map(converted.__getitem__, map(slice, chain((0,), ends), ends)))


def _spread(converted: Iterable, values: list) -> list:
    """Put converted values back at the rows that had one; None elsewhere."""
    it = iter(converted)
    return [None if v is None else next(it) for v in values]


def _number_chunk(texts: list[str | None], has_null: bool, numbers: Numbers) -> _Chunk:
    arrow = pa.array(texts, type=pa.string())
    # Up to 18 digits always fits int64: Arrow then parses in C. (Testing first matters: a
    # failing Arrow cast costs ten times a successful one.)
    if pc.all(pc.match_substring_regex(arrow, _INT64_SAFE)).as_py():
        return _Int(*_masked_numpy(pc.cast(arrow, pa.int64()), 0))
    present = [t for t in texts if t is not None] if has_null else texts
    try:
        ints = [int(text) for text in present if text is not None]
    except ValueError:
        return _decimal_chunk(arrow, texts, [t for t in present if t is not None], has_null, numbers)
    try:  # 19-digit int64 values, or forms only int() reads ("+5"); overflow → big ints
        return _Int(*_masked_numpy(pa.array(_spread(ints, texts), type=pa.int64()), 0))
    except OverflowError:
        return _Objects("bigint", _spread(ints, texts) if has_null else ints)


def _decimal_chunk(
    arrow: pa.Array, texts: list[str | None], present: list[str], has_null: bool, numbers: Numbers
) -> _Chunk:
    if numbers == "float" and _all_survive_float(arrow, present):
        try:
            floats = pc.cast(arrow, pa.float64())
        except pa.ArrowInvalid:  # a form only Python reads, such as " 5" (not from DynamoDB)
            floats = pa.array([None if t is None else float(t) for t in texts], pa.float64())
        return _Float(floats.to_numpy(zero_copy_only=False), None)  # nulls become NaN
    decimals = list(map(Decimal, present))
    return _Objects("decimal", _spread(decimals, texts) if has_null else decimals)


def _all_survive_float(arrow: pa.Array, present: list[str]) -> bool:
    if pc.max(pc.utf8_length(arrow)).as_py() <= _SHORT_DECIMAL:
        return True
    return all(_survives_float(t) for t in present if len(t) > _SHORT_DECIMAL)


def _survives_float(text: str) -> bool:
    try:
        return abs(int(text)) <= _MAX_EXACT_INT
    except ValueError:
        return Decimal(repr(float(text))) == Decimal(text)


def _bool_chunk(values: list[bool | None]) -> _Bool:
    return _Bool(*_masked_numpy(pa.array(values, type=pa.bool_()), False))


def _masked_numpy(arrow: pa.Array, fill: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (missing replaced by ``fill``) and the missing mask (None if nothing is missing)."""
    if not arrow.null_count:
        return arrow.to_numpy(zero_copy_only=False), None
    mask = arrow.is_null().to_numpy(zero_copy_only=False)
    return arrow.fill_null(fill).to_numpy(zero_copy_only=False), mask


# ---------------------------------------------------------------------------------------------
# flattening maps into dotted columns (on the gathered wire values, before typing)


def _flatten(columns: dict[str, Sequence]) -> dict[str, Sequence]:
    out: dict[str, Sequence] = {}
    flattened: set[str] = set()  # names that came from inside a map (literal names win)
    for name, raw in columns.items():
        if "M" not in _tags(raw):
            _put(out, flattened, name, raw, literal=True)
            continue
        # Values that are not maps stay under the attribute's own name; a NULL map is just
        # missing in every dotted column.
        rest = [_MISSING if "M" in av or "NULL" in av else av for av in raw]
        if any(av is not _MISSING for av in rest):
            _put(out, flattened, name, rest, literal=True)
        maps = [av["M"] if "M" in av else _NO_MAP for av in raw]
        for sub, sub_raw in _flatten(_gather(maps)).items():
            _put(out, flattened, f"{name}.{sub}", sub_raw, literal=False)
    return out


def _put(out: dict, flattened: set, name: str, raw: Sequence, *, literal: bool) -> None:
    if name not in out:
        out[name] = raw
        if not literal:
            flattened.add(name)
        return
    first, second = (raw, out[name]) if literal and name in flattened else (out[name], raw)
    out[name] = [b if a is _MISSING else a for a, b in zip(first, second)]
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
            pa.chunked_array(arrays, type=pa.large_string()), dtype=_STR_DTYPE
        )
    if kinds == {"int"}:
        return pd.arrays.IntegerArray(*_concat_masked(chunks, np.int64))
    if kinds == {"bool"}:
        return pd.arrays.BooleanArray(*_concat_masked(chunks, bool))
    if kinds == {"float"} or (kinds == {"int", "float"} and _ints_fit_float(chunks)):
        return np.concatenate([_as_float(c) for c in chunks])
    if kinds and kinds <= {"int", "bigint"}:
        return _object_column(chain.from_iterable(c.objects() for c in chunks), length)
    if kinds and kinds <= {"int", "bigint", "float", "decimal"}:
        return _object_column(
            (None if v is None else Decimal(v) for c in chunks for v in c.objects()), length
        )
    return _object_column(chain.from_iterable(c.objects() for c in chunks), length)


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


def _object_column(values: Iterable, length: int) -> pd.Series:
    # fromiter keeps lists/sets as single elements (np.array would try to nest them), and the
    # explicit object Series stops pandas from re-inferring a str dtype.
    return pd.Series(np.fromiter(values, dtype=object, count=length), dtype=object, copy=False)


# ---------------------------------------------------------------------------------------------
# public: accumulator and one-shot conversion


class ColumnBuilder:
    """Accumulates pages of wire-format items into typed column chunks; :meth:`to_frame` at the end.

    Feed it page by page (``add_page`` / ``add_items``) and drop each page afterwards: only the
    converted columns are kept (ints as int64, strings in pyarrow), and the final frame is built
    once, without concatenating per-page DataFrames. Options as in :func:`items_to_frame`.
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

    def add_page(self, page: Mapping[str, Any]) -> None:
        """Add a Scan/Query response page (its ``Items``)."""
        self.add_items(page.get("Items") or [])

    def add_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Add wire-format items (one page's worth is a good batch size)."""
        n = len(items)
        if not n:
            return
        with gc_paused():
            columns = _gather(items)
            if self.flatten_maps:
                columns = _flatten(columns)
            for name, raw in columns.items():
                chunks = self._chunks.get(name)
                if chunks is None:
                    chunks = self._chunks[name] = [_Null(self.rows)] if self.rows else []
                chunks.append(_to_chunk(raw, self.numbers, self.sets))
        for name, chunks in self._chunks.items():
            if name not in columns:
                chunks.append(_Null(n))
        self.rows += n

    def to_frame(self) -> pd.DataFrame:
        names = list(dict.fromkeys(chain(self.key_names, self._chunks)))
        data = {
            name: _build_column(self._chunks.get(name, [_Null(self.rows)]), self.rows)
            for name in names
        }
        return pd.DataFrame(data, index=pd.RangeIndex(self.rows), columns=names, copy=False)


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
    builder = ColumnBuilder(
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
